import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type MessageEvent,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Observable } from 'rxjs';
import { SSE_OPTIONS, SSE_ROUTE_OPTIONS } from './sse.constants.js';
import type { ResolvedSseOptions } from './sse.options.js';
import type { SseRouteOptions } from './sse-route.decorator.js';
import { wireOf } from './sse-wire.js';
import { SseMetrics } from './sse-metrics.js';

const SSE_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  // nginx buffers responses unless told otherwise.
  'X-Accel-Buffering': 'no',
};

/** How long a stream ended by the server may take to flush before its connection is cut. */
const END_GRACE_MS = 2000;

/** An adapter's response: Express's is the Node response, Fastify's reply holds it in `raw`. */
interface AdapterResponse {
  raw?: ServerResponse;
  getHeaders?(): OutgoingHttpHeaders;
}

/**
 * Writes the messages of an `@SseRoute()` handler's Observable straight to the
 * response: a message sent to many streams is written as the same encoded
 * bytes to each, with no per-connection formatting or queue. What waits for a
 * client that does not read is bounded (`maxPendingBytes`); past it the
 * response is dropped, and the client resumes with `Last-Event-ID`.
 */
@Injectable()
export class SseWriterInterceptor implements NestInterceptor {
  private readonly logger = new Logger(SseWriterInterceptor.name);

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly reflector: Reflector,
    private readonly metrics: SseMetrics,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler<MessageEvent>): Observable<void> {
    const http = context.switchToHttp();
    const request = http.getRequest<IncomingMessage & { raw?: IncomingMessage }>();
    const response = http.getResponse<ServerResponse & AdapterResponse>();
    const raw: ServerResponse = response.raw ?? response;
    const limit =
      this.reflector.get<SseRouteOptions | undefined>(SSE_ROUTE_OPTIONS, context.getHandler())?.maxPendingBytes ??
      this.options.maxPendingBytes;

    return new Observable<void>((outcome) => {
      let started = false;
      // Headers go out with the first message, or on the next turn without one, so that the
      // client sees `open` promptly but a handler that refuses at once still answers with its status.
      const startTimer = setTimeout(() => start(), 0);
      const start = () => {
        if (started) return;
        started = true;
        clearTimeout(startTimer);
        const socket = (request.raw ?? request).socket;
        socket?.setNoDelay?.(true);
        socket?.setTimeout?.(0);
        raw.writeHead(200, { ...adapterHeaders(response), ...SSE_HEADERS });
        raw.flushHeaders();
      };
      // Ended by the server (close, expiry, shutdown): the client reconnects on a new connection, so this
      // one is closed rather than kept alive, and a client that stopped reading cannot hold it open.
      const finish = () => {
        clearTimeout(startTimer);
        if (!raw.destroyed && !raw.writableEnded) {
          start();
          raw.shouldKeepAlive = false;
          raw.end();
          if (raw.writableLength > 0) setTimeout(() => raw.destroy(), END_GRACE_MS).unref();
        }
        outcome.next();
        outcome.complete();
      };
      // What is written in the first synchronous burst (the ready event and a replay, already held by
      // the history) may exceed the bound; the bound applies to what piles up after it.
      let burst: number | undefined;
      const messages = next.handle().subscribe({
        next: (message) => {
          start();
          if (raw.destroyed || raw.writableEnded) return;
          if (burst === undefined) {
            burst = Infinity;
            setImmediate(() => {
              burst = raw.writableLength;
              if (burst > 0) raw.once('drain', () => (burst = 0));
            });
          }
          raw.write(wireOf(message));
          if (raw.writableLength > limit + burst) {
            this.logger.warn(`A client is not reading: ${raw.writableLength} bytes wait for it (limit ${limit}); dropping its stream`);
            this.metrics.slowClientDropped();
            raw.destroy();
          }
        },
        error: (err: Error) => {
          // Before the headers, the exception filters can still answer with a status.
          if (!started) return outcome.error(err);
          this.logger.error(`A stream failed: ${err.message}`);
          finish();
        },
        complete: finish,
      });
      if (request.method === 'HEAD') finish();
      return () => {
        clearTimeout(startTimer);
        messages.unsubscribe();
      };
    });
  }
}

/** Headers set through the adapter (CORS, the application's own), which the Node response may not hold yet. */
function adapterHeaders(response: AdapterResponse): OutgoingHttpHeaders {
  const headers = { ...(response.getHeaders?.() ?? {}) };
  delete headers['content-length'];
  delete headers['content-type'];
  return headers;
}
