import { HttpException, Inject, Injectable, Logger, type MessageEvent } from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Observable } from 'rxjs';
import { NotificationStream } from './notification-stream.js';
import { SSE_OPTIONS } from './sse.constants.js';
import type { ResolvedSseOptions } from './sse.options.js';
import { SseMetrics } from './sse-metrics.js';
import { wireOf } from './sse-wire.js';
import type { MessageSink } from './stream-subscriber.js';

const SSE_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  // nginx buffers responses unless told otherwise.
  'X-Accel-Buffering': 'no',
};

/** How long a stream ended by the server may take to flush before its connection is cut. */
const END_GRACE_MS = 2000;

/** An adapter's response: Express's is the Node response, Fastify's reply holds it in `raw`. */
export interface AdapterResponse {
  raw?: ServerResponse;
  getHeaders?(): OutgoingHttpHeaders;
}

/**
 * Writes the messages of an SSE route to its response. A message sent to many
 * streams is written as the same encoded bytes to each, with no per-connection
 * formatting or queue; a `NotificationStream` returned as it is writes here
 * directly, with no operator in between. What waits for a client that does
 * not read is bounded (`maxPendingBytes`); past it the response is dropped,
 * and the client resumes with `Last-Event-ID`.
 */
@Injectable()
export class SseWriter {
  private readonly logger = new Logger(SseWriter.name);

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly metrics: SseMetrics,
  ) {}

  serve(messages: Observable<MessageEvent>, response: AdapterResponse, maxPendingBytes = this.options.maxPendingBytes): void {
    const raw: ServerResponse = response.raw ?? (response as ServerResponse);
    const request: IncomingMessage = raw.req;
    // The client may have left while the guards were deciding: its 'close' has been and gone.
    if (raw.destroyed || raw.writableEnded || !raw.socket || raw.socket.destroyed) return;
    let started = false;
    let ended = false;
    // Headers go out with the first message, or on the next turn without one, so that the client sees `open` promptly.
    const startTimer = setTimeout(() => start(), 0);
    const start = () => {
      started = true;
      clearTimeout(startTimer);
      request.socket?.setNoDelay(true);
      request.socket?.setTimeout(0);
      raw.writeHead(200, { ...adapterHeaders(response), ...SSE_HEADERS });
      raw.flushHeaders();
    };
    let close = () => {};
    // Ended by the server (close, expiry, shutdown): the client reconnects on a new connection, so this
    // one is closed rather than kept alive, and a client that stopped reading cannot hold it open.
    const finish = () => {
      if (ended) return;
      ended = true;
      clearTimeout(startTimer);
      if (!raw.destroyed && !raw.writableEnded) {
        if (!started) start();
        raw.shouldKeepAlive = false;
        raw.end();
        if (raw.writableLength > 0) setTimeout(() => raw.destroy(), END_GRACE_MS).unref();
      }
      close();
    };
    // What is written in the first synchronous burst (the ready event and a replay, already held by
    // the history) may exceed the bound; the bound applies to what piles up after it.
    let burst: number | undefined;
    const sink: MessageSink = {
      get closed() {
        return ended;
      },
      next: (message) => {
        // A response dropped for a slow client stays open until its 'close' event: nothing more goes to it.
        if (ended || raw.destroyed) return;
        if (!started) start();
        if (burst === undefined) {
          burst = Infinity;
          setImmediate(() => {
            burst = raw.writableLength;
            if (burst > 0) raw.once('drain', () => (burst = 0));
          });
        }
        // write() answers false once the response buffers: only then can the bound have been passed.
        if (!raw.write(wireOf(message)) && raw.writableLength > maxPendingBytes + burst) {
          this.logger.warn(`A client is not reading: ${raw.writableLength} bytes wait for it (limit ${maxPendingBytes}); dropping its stream`);
          this.metrics.slowClientDropped();
          raw.destroy();
        }
      },
      error: (err) => {
        if (ended) return;
        if (started) {
          this.logger.error(`A stream failed: ${(err as Error).message}`);
        } else {
          clearTimeout(startTimer);
          this.refuse(raw, err);
        }
        finish();
      },
      complete: finish,
    };
    if (messages instanceof NotificationStream) {
      close = messages.serve(sink);
    } else {
      const subscription = messages.subscribe(sink);
      close = () => subscription.unsubscribe();
    }
    // It may have ended while it opened.
    if (ended) close();
    raw.once('close', () => {
      ended = true;
      clearTimeout(startTimer);
      close();
    });
    if (request.method === 'HEAD') finish();
  }

  /** A stream that failed before its headers still answers with a status, as an exception filter would. */
  private refuse(raw: ServerResponse, err: unknown): void {
    const status = err instanceof HttpException ? err.getStatus() : 500;
    if (status >= 500) this.logger.error(`A stream could not start: ${(err as Error).message}`);
    const body = err instanceof HttpException ? err.getResponse() : { statusCode: 500, message: 'Internal server error' };
    raw.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    raw.end(JSON.stringify(typeof body === 'string' ? { statusCode: status, message: body } : body));
  }
}

/** Headers set through the adapter (CORS, the application's own), which the Node response may not hold yet. */
function adapterHeaders(response: AdapterResponse): OutgoingHttpHeaders {
  const headers = { ...(response.getHeaders?.() ?? {}) };
  delete headers['content-length'];
  delete headers['content-type'];
  return headers;
}
