import { HttpException, type Logger, type MessageEvent } from '@nestjs/common';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { SseMetrics } from '../observability/sse-metrics.js';
import { chunkOf, wireOf } from './sse-wire.js';
import type { MessageSink } from '../streams/stream-subscriber.js';
import { SseUnavailableError } from './sse-unavailable.error.js';
import type { SlowClientReport } from './slow-client.report.js';
import type { AdmissionListener } from '../streams/stream-admission.js';

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
  /** Fastify's: the route answers through `raw` itself, so Fastify's own lifecycle for it ends here. */
  hijack?(): unknown;
}

/** The Node response under an adapter's. */
export function nodeResponseOf(response: AdapterResponse): ServerResponse {
  return response.raw ?? (response as ServerResponse);
}

/** What every sink of one writer shares. */
export interface SinkServices {
  readonly logger: Logger;
  readonly metrics: SseMetrics;
  /** Where drops of clients that do not read are counted, to be told once per interval. */
  readonly slowClients: SlowClientReport;
  /** `Retry-After` of a stream refused with 429 (or a 503 that names none) before it began. */
  readonly retryAfterSeconds: number;
}

/**
 * One SSE response, as the sink its stream writes to. Headers go out with the
 * first message, or on the next turn without one, so that the client sees
 * `open` promptly. Each message is written as its encoded bytes, shared with
 * every other recipient. What waits for a client that does not read is bounded
 * by `maxPendingBytes`; past it the response is dropped and the client resumes
 * with `Last-Event-ID`. One object per open stream, and no closures but its
 * 'close' listener: at tens of thousands of streams, that is the memory.
 */
export class ResponseSink implements MessageSink, AdmissionListener {
  private started = false;
  /** Admissions still being decided: the headers wait for them. */
  private holds = 0;
  private ended = false;
  /** Shared chunks go straight to the socket (see `writesChunksDirectly`); decided once the headers are out. */
  private direct = false;
  private startTimer?: NodeJS.Timeout;
  /**
   * What the first synchronous burst (the ready event and a replay, already held
   * by the history) leaves buffered: the bound applies to what piles up after it.
   * Undefined until the first write, Infinity until that burst is over.
   */
  private burst?: number;
  /** Closes the stream that feeds this sink. */
  private closeStream?: () => void;
  /** Until the headers are out: the adapter's response, whose headers (CORS, the app's own) go with them. */
  private adapterResponse?: AdapterResponse;

  constructor(
    private readonly raw: ServerResponse,
    adapterResponse: AdapterResponse,
    private readonly maxPendingBytes: number,
    private readonly services: SinkServices,
  ) {
    this.adapterResponse = adapterResponse;
  }

  /** Whether the response can still take a stream: the client may have left while the guards were deciding. */
  static canServe(raw: ServerResponse): boolean {
    return !raw.destroyed && !raw.writableEnded && Boolean(raw.socket) && !raw.socket!.destroyed;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Ties the sink to its stream (`close` ends the stream) and to the life of the response. */
  attach(closeStream: () => void): void {
    this.closeStream = closeStream;
    // It may have ended while it opened.
    if (this.ended) return closeStream();
    this.raw.on('close', () => this.onResponseClosed());
    if (!this.started && this.holds === 0) this.startTimer = setTimeout(() => this.start(true), 0);
    if (this.raw.req.method === 'HEAD') this.complete();
  }

  /** The stream waits on its admission: the headers wait too, so that a refusal can still be a status. */
  hold(admission: Promise<unknown>): void {
    this.holds++;
    this.cancelStart();
    const decided = () => {
      // Admitted, and nothing written yet: the client still sees `open` promptly.
      if (--this.holds === 0 && !this.started && !this.ended) this.startTimer = setTimeout(() => this.start(true), 0);
    };
    admission.then(decided, decided);
  }

  next(message: MessageEvent): void {
    const raw = this.raw;
    // A response dropped for a slow client stays open until its 'close' event: nothing more goes to it.
    if (this.ended || raw.destroyed) return;
    // The first message carries the headers: one write to the socket, not two.
    const first = !this.started;
    if (first) this.start(false);
    if (this.burst === undefined) {
      this.burst = Infinity;
      setImmediate(() => this.endBurst());
    }
    const chunk = this.direct ? chunkOf(message) : undefined;
    const socket = raw.socket;
    const flowing = chunk && socket?.writable ? socket.write(chunk) : raw.write(wireOf(message));
    if (first) this.direct = writesChunksDirectly(raw);
    // write() answers false once the response buffers: only then can the bound have been passed.
    if (!flowing && raw.writableLength > this.maxPendingBytes + this.burst) {
      this.services.slowClients.dropped(raw.writableLength);
      this.services.metrics.slowClientDropped();
      raw.destroy();
    }
  }

  error(err: unknown): void {
    if (this.ended) return;
    if (this.started) {
      this.services.logger.error(`A stream failed: ${(err as Error).message}`);
    } else {
      this.cancelStart();
      this.refuse(err);
    }
    this.complete();
  }

  /**
   * Ended by the server (close, expiry, shutdown): the body ends, and the
   * connection is kept alive or not as for any other response. A client that
   * stopped reading cannot hold it open: what it has not read by then is dropped.
   */
  complete(): void {
    if (this.ended) return;
    this.ended = true;
    this.cancelStart();
    const raw = this.raw;
    if (!raw.destroyed && !raw.writableEnded) {
      if (!this.started) this.start(false);
      raw.end();
      if (raw.writableLength > 0) setTimeout(() => raw.destroy(), END_GRACE_MS).unref();
    }
    this.closeStream?.();
  }

  /** Writes the headers; `flush` sends them at once, else they go with the first message. */
  private start(flush: boolean): void {
    this.started = true;
    this.cancelStart();
    const raw = this.raw;
    raw.socket?.setNoDelay(true);
    raw.socket?.setTimeout(0);
    raw.writeHead(200, { ...adapterHeaders(this.adapterResponse!), ...SSE_HEADERS });
    this.adapterResponse = undefined;
    if (!flush) return;
    raw.flushHeaders();
    this.direct = writesChunksDirectly(raw);
  }

  private endBurst(): void {
    this.burst = this.raw.writableLength;
    // Written straight to the socket, the response is never told to wait, so it never drains: the socket does.
    if (this.burst > 0) (this.direct ? this.raw.socket! : this.raw).once('drain', () => (this.burst = 0));
  }

  private cancelStart(): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
  }

  private onResponseClosed(): void {
    this.ended = true;
    this.cancelStart();
    this.closeStream?.();
  }

  /** A stream that failed before its headers still answers with a status, as an exception filter would. */
  private refuse(err: unknown): void {
    const status = err instanceof HttpException ? err.getStatus() : 500;
    if (status >= 500) this.services.logger.error(`A stream could not start: ${(err as Error).message}`);
    const body = err instanceof HttpException ? err.getResponse() : { statusCode: 500, message: 'Internal server error' };
    const headers: OutgoingHttpHeaders = { ...adapterHeaders(this.adapterResponse!), 'Content-Type': 'application/json; charset=utf-8' };
    if (err instanceof SseUnavailableError) headers['Retry-After'] = String(err.retryAfterSeconds);
    else if (status === 503 || status === 429) headers['Retry-After'] = String(this.services.retryAfterSeconds);
    this.raw.writeHead(status, headers);
    this.raw.end(JSON.stringify(typeof body === 'string' ? { statusCode: status, message: body } : body));
  }
}

/**
 * Whether an event's chunk, framed once for all its recipients, may be written
 * straight to the socket: what Node would write for it, without its per-write
 * framing and corking, which is most of what a broadcast costs. So only for a
 * chunked HTTP/1.1 body (not HTTP/1.0, not HEAD), from the response the socket
 * is serving now, with nothing of it still queued in Node, and whose `write` no
 * middleware has wrapped (compression): otherwise the response writes as usual.
 */
function writesChunksDirectly(raw: ServerResponse): boolean {
  const socket = raw.socket;
  return (
    raw.chunkedEncoding &&
    raw.req.method !== 'HEAD' &&
    socket !== null &&
    socket.writable &&
    raw.writableLength === socket.writableLength &&
    !Object.hasOwn(raw, 'write')
  );
}

/** Headers set through the adapter (CORS, the application's own), which the Node response may not hold yet. */
function adapterHeaders(response: AdapterResponse): OutgoingHttpHeaders {
  const headers = { ...(response.getHeaders?.() ?? {}) };
  delete headers['content-length'];
  delete headers['content-type'];
  return headers;
}
