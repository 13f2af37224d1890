import { CLOSE_EVENT, type CloseData, READY_EVENT, type ReadyData } from '../protocol/reserved-events.js';
import { type RequestOptions, type SseRequest, sendRequest } from './authorized-request.js';
import { Backoff, type RetryOptions } from './backoff.js';
import { type ClientState, CONNECTING, type ReconnectCause } from './client-state.js';
import { isTransient, refusalOf } from './refusal.js';
import { type Frame, framesOf } from './sse-frames.js';
import { Watchdog } from './watchdog.js';

export interface ConnectionOptions extends RequestOptions {
  retry?: RetryOptions;
}

/** What a connection asks of its owner, and tells it. */
export interface ConnectionHooks {
  /** The request of the next attempt (its URL, the id to resume after); none: the stream cannot go on (`unresumable`). */
  request(): SseRequest | undefined;
  frame(frame: Frame): void;
  state(state: ClientState): void;
}

/** How an attempt ended. */
type Outcome =
  | { readonly final: ClientState }
  /** 401: ask for a new token, and try again at once. */
  | { readonly refresh: true }
  /** Try again at once (`reconnectNow`). */
  | { readonly now: true }
  | { readonly cause?: ReconnectCause; readonly floorMs: number; readonly limited?: string };

const NOW = { now: true } as const;

/**
 * One stream, kept open: each attempt asks for a token and resumes after the
 * last id; a failed or broken attempt is followed by another after a backoff
 * (never sooner than `Retry-After`) until the server says to stop (`sse.close`,
 * 400/403/404, a second 401) or `stop()` is called. It serves the client's
 * stream and POST streams alike (whose later attempts are GETs that resume).
 */
export class StreamConnection {
  private readonly backoff: Backoff;
  private readonly watchdog = new Watchdog(() => this.drop('stalled'));
  private attempt?: AbortController;
  /** Why the current attempt was cut short by this side. */
  private dropped?: ReconnectCause | 'now';
  private stopped = false;
  /** The wait between attempts, if one is under way; a `Retry-After`'s cannot be cut short by `reconnectNow`. */
  private waiting?: { readonly end: () => void; readonly floor: boolean };

  constructor(
    private readonly options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.backoff = new Backoff(options.retry);
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.attempt?.abort();
    this.waiting?.end();
  }

  /** Connects again at once, resuming: back online, or other topics wanted. A `Retry-After` is still waited out. */
  reconnectNow(): void {
    if (!this.waiting) this.drop('now');
    else if (!this.waiting.floor) this.waiting.end();
  }

  private drop(cause: ReconnectCause | 'now'): void {
    this.dropped = cause;
    this.attempt?.abort();
  }

  private async run(): Promise<void> {
    let state = CONNECTING;
    let refresh = false;
    while (!this.stopped) {
      this.hooks.state(state);
      const outcome = await this.connect(refresh);
      if (this.stopped) return;
      state = { status: 'reconnecting' };
      refresh = 'refresh' in outcome;
      if ('final' in outcome) {
        this.stopped = true;
        this.hooks.state(outcome.final);
      } else if ('floorMs' in outcome) {
        const waitMs = this.backoff.next(outcome.floorMs);
        const retryAt = Date.now() + waitMs;
        this.hooks.state(
          outcome.limited === undefined
            ? { status: 'reconnecting', cause: outcome.cause, retryAt }
            : { status: 'closed', reason: 'too-many-connections', retryAt, httpStatus: 429, message: outcome.limited },
        );
        if (this.stopped) return;
        await new Promise<void>((resolve) => {
          const end = () => {
            clearTimeout(timer);
            this.waiting = undefined;
            resolve();
          };
          const timer = setTimeout(end, waitMs);
          this.waiting = { end, floor: outcome.floorMs > 0 };
        });
      }
    }
  }

  private async connect(refresh: boolean): Promise<Outcome> {
    const attempt = (this.attempt = new AbortController());
    this.dropped = undefined;
    const request = this.hooks.request();
    if (!request) return { final: { status: 'closed', reason: 'unresumable' } };
    let response: Response;
    try {
      response = await sendRequest(this.options, { ...request, signal: attempt.signal }, refresh);
    } catch {
      return this.dropped === 'now' ? NOW : { cause: 'network', floorMs: 0 };
    }
    if (!response.ok || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      return this.refused(response, refresh);
    }
    this.watchdog.heard();
    let cause: ReconnectCause = 'ended';
    let open = false;
    try {
      const frames = framesOf(response.body!, { retry: (ms) => (this.backoff.baseMs = ms), heard: () => this.watchdog.heard() });
      for await (const frame of frames) {
        if (frame.type === READY_EVENT) {
          const { heartbeatMs } = JSON.parse(frame.data) as ReadyData;
          if (heartbeatMs > 0) this.watchdog.watch(2 * heartbeatMs);
        }
        this.hooks.frame(frame);
        if (frame.type === CLOSE_EVENT) return { final: { status: 'closed', reason: (JSON.parse(frame.data) as CloseData).reason } };
        // Open once events flow (its first is sse.ready, so the id to resume from is known by then).
        if (!open && !this.stopped) {
          open = true;
          this.backoff.reset();
          this.hooks.state({ status: 'open' });
        }
        if (this.stopped) break;
      }
    } catch {
      cause = 'network';
    } finally {
      this.watchdog.stop();
      attempt.abort();
    }
    return this.dropped === 'now' ? NOW : { cause: this.dropped ?? cause, floorMs: 0 };
  }

  private async refused(response: Response, refreshed: boolean): Promise<Outcome> {
    const { status, message, retryAfterMs } = await refusalOf(response);
    if (status === 401 && !refreshed) return { refresh: true };
    if (status === 429) return { floorMs: retryAfterMs, limited: message };
    if (isTransient(status)) return { cause: 'unavailable', floorMs: retryAfterMs };
    return { final: { status: 'closed', reason: status === 401 ? 'unauthorized' : 'refused', httpStatus: status, message } };
  }
}
