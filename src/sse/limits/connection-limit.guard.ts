import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ServerResponse } from 'node:http';
import { ConnectionLimiter, type ConnectionLease } from './connection-limiter.js';
import type { Principal } from '../auth/principal.js';
import { type AdapterResponse, nodeResponseOf } from '../http/response-sink.js';
import { handOverTo } from '../http/route-writer.js';
import { SseUnavailableError } from '../http/sse-unavailable.error.js';
import { SseWriter } from '../http/sse-writer.js';
import { PRINCIPAL_KEY, SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { SseMetrics } from '../observability/sse-metrics.js';
import { requireSseModule } from '../sse-module-required.js';

/**
 * Takes a connection slot for the caller's user, or answers 429 before any
 * stream starts. The slot is tied to the response, not to the stream: it is
 * freed when the response closes, whatever ended it (the client, the server,
 * an error, shutdown, or a guard or handler after this one refusing the request).
 */
@Injectable()
export class ConnectionLimitGuard implements CanActivate {
  private readonly logger = new Logger(ConnectionLimitGuard.name);
  private readonly options: ResolvedSseOptions;

  constructor(
    // Optional, so that a module that cannot see SseModule fails with a message naming the fix.
    @Optional() @Inject(SSE_OPTIONS) options: ResolvedSseOptions | undefined,
    @Optional() private readonly limiter: ConnectionLimiter,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly metrics: SseMetrics,
    @Optional() private readonly writer: SseWriter,
  ) {
    this.options = requireSseModule(options, 'ConnectionLimitGuard (@SseRoute)');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const principal = http.getRequest<{ [PRINCIPAL_KEY]?: Principal }>()[PRINCIPAL_KEY];
    if (!principal) {
      throw new Error('ConnectionLimitGuard needs an authenticated principal: put TokenAuthGuard before it');
    }
    const response = http.getResponse<AdapterResponse>();
    const result = await this.limiter.acquire(principal.userId).catch((err: Error) => {
      this.logger.warn(`Connection slots cannot be counted: ${err.message}`);
      this.metrics.rejected('unavailable');
      throw new SseUnavailableError('Connections cannot be counted right now; retry shortly', this.options.retryAfterSeconds);
    });
    if (!result.granted) {
      this.metrics.rejected(result.scope);
      this.adapterHost.httpAdapter.setHeader(response, 'Retry-After', String(this.options.retryAfterSeconds));
      const message =
        result.scope === 'user'
          ? `Too many connections: at most ${result.limit} streams per user are allowed`
          : `Too many connections: this server holds its maximum of ${result.limit} streams`;
      throw new HttpException(
        { statusCode: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests', message, limit: result.limit, scope: result.scope },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    this.releaseOnClose(nodeResponseOf(response), result.lease);
    handOverTo(this.writer, http.getRequest());
    return true;
  }

  private releaseOnClose(response: ServerResponse, lease: ConnectionLease): void {
    const release = () =>
      lease.release().catch((err: Error) => this.logger.error(`A connection slot could not be released: ${err.message}`));
    // The client may already be gone while the slot was being taken.
    if (response.destroyed || response.writableFinished) void release();
    else response.on('close', release);
  }
}
