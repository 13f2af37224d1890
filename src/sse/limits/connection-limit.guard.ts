import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ServerResponse } from 'node:http';
import { ConnectionLimiter, type ConnectionLease } from './connection-limiter.js';
import type { Principal } from '../auth/principal.js';
import { type AdapterResponse, nodeResponseOf } from '../http/response-sink.js';
import { handOverTo } from '../http/route-writer.js';
import { SseWriter } from '../http/sse-writer.js';
import { PRINCIPAL_KEY, SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { SseMetrics } from '../observability/sse-metrics.js';

/**
 * Takes a connection slot for the caller's user, or answers 429 before any
 * stream starts. The slot is tied to the response, not to the stream: it is
 * freed when the response closes, whatever ended it (the client, the server,
 * an error, shutdown, or a guard or handler after this one refusing the request).
 */
@Injectable()
export class ConnectionLimitGuard implements CanActivate {
  private readonly logger = new Logger(ConnectionLimitGuard.name);

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly limiter: ConnectionLimiter,
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: SseMetrics,
    private readonly writer: SseWriter,
  ) {}

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
      this.adapterHost.httpAdapter.setHeader(response, 'Retry-After', String(this.options.retryAfterSeconds));
      throw new ServiceUnavailableException('Connections cannot be counted right now; retry shortly');
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
