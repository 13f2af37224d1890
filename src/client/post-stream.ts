import { LOSS_EVENT, RESERVED_TYPE_PREFIX, RESUME_EVENT, type ResumeData } from '../protocol/reserved-events.js';
import { absoluteUrl, type SseRequest, sendOk } from './authorized-request.js';
import type { AnyEvents, EventMap, LossListener, SseEventOf } from './client-events.js';
import { type ClientState, type ClosedState, isFinal, STOPPED } from './client-state.js';
import { isAfter } from './event-id.js';
import { SseRequestError } from './refusal.js';
import type { Frame } from './sse-frames.js';
import { type ConnectionOptions, StreamConnection } from './stream-connection.js';

export interface PostStreamOptions extends ConnectionOptions {
  /** Aborting it stops reading (the loop throws the abort reason); the server's answer goes on until cancelled. */
  signal?: AbortSignal;
  /** `sse.loss` on a resume: part of the answer could not be given. */
  onLoss?: LossListener;
}

/**
 * The answer to a POST, read as events with `for await` (a chat answer, token
 * by token). The POST is sent once, and again only when the server refused it
 * without starting anything (401, 429, 503). When the answer breaks off, the
 * rest is fetched with a GET and `Last-Event-ID` at the location the server
 * named in its first event, `sse.resume`, until its `sse.close`.
 */
export class PostStream<Events extends EventMap = AnyEvents> implements AsyncIterable<SseEventOf<Events>> {
  /** Where the answer can be resumed: keep it with `lastEventId` to resume after a reload (`resumeStream`). */
  resumeUrl?: string;
  /** The id of the last event read. */
  lastEventId?: string;
  private readonly connection: StreamConnection;
  private readonly frames: Frame[] = [];
  private ended?: ClientState;
  /** Whether the server may have started on the POST: it is not sent again then. */
  private sent = false;
  private wake = () => {};

  constructor(
    request: SseRequest,
    private readonly options: PostStreamOptions = {},
  ) {
    const url = absoluteUrl(request.url);
    this.connection = new StreamConnection(options, {
      request: () =>
        this.resumeUrl ? { url: this.resumeUrl, lastEventId: this.lastEventId } : this.sent ? undefined : { ...request, url },
      frame: (frame) => {
        if (frame.type === RESUME_EVENT) this.resumeUrl ??= absoluteUrl((JSON.parse(frame.data) as ResumeData).url, url);
        this.frames.push(frame);
        this.wake();
      },
      state: (state) => {
        // Answered and then broken (or never answered): the server may have started on it. Refused (503): it has not.
        if (state.status === 'open' || (state.status === 'reconnecting' && state.cause && state.cause !== 'unavailable')) {
          this.sent = true;
        }
        if (isFinal(state)) this.end(state);
      },
    });
    options.signal?.addEventListener('abort', () => this.end(STOPPED));
  }

  /** Stops the answer on the server (DELETE at its location); the stream then ends as the app ends a cancelled one. */
  async cancel(): Promise<void> {
    if (!this.resumeUrl) return this.end(STOPPED);
    await sendOk(this.options, { url: this.resumeUrl, method: 'DELETE' });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<SseEventOf<Events>> {
    this.connection.start();
    try {
      for (;;) {
        const frame = this.frames.shift();
        if (frame) {
          const { type, id, data } = frame;
          if (type === LOSS_EVENT) this.options.onLoss?.(JSON.parse(data));
          if (id && !isAfter(id, this.lastEventId)) continue;
          if (id) this.lastEventId = id;
          if (!type.startsWith(RESERVED_TYPE_PREFIX)) yield { type, id: id ?? '', data: JSON.parse(data) } as SseEventOf<Events>;
        } else if (this.ended) {
          this.options.signal?.throwIfAborted();
          const { reason, httpStatus, message = reason } = this.ended as ClosedState;
          // Refused, or broken before it could be resumed; otherwise the server's sse.close ended it, or this side did.
          if (httpStatus || reason === 'unresumable') throw new SseRequestError({ status: httpStatus ?? 0, message, retryAfterMs: 0 });
          return;
        } else {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } finally {
      this.end(STOPPED);
    }
  }

  private end(state: ClientState): void {
    this.connection.stop();
    this.ended ??= state;
    this.wake();
  }
}

/** POSTs `body` (as JSON) and reads the answer's events, resuming by GET if it breaks off. */
export function postStream<Events extends EventMap = AnyEvents>(url: string, body: unknown, options?: PostStreamOptions): PostStream<Events> {
  return new PostStream<Events>({ url, method: 'POST', body }, options);
}

/** Reads the rest of an answer after `lastEventId` (after a reload), at the location its `sse.resume` named. */
export function resumeStream<Events extends EventMap = AnyEvents>(
  resumeUrl: string,
  lastEventId: string | undefined,
  options?: PostStreamOptions,
): PostStream<Events> {
  const stream = new PostStream<Events>({ url: resumeUrl }, options);
  stream.resumeUrl = absoluteUrl(resumeUrl);
  stream.lastEventId = lastEventId;
  return stream;
}
