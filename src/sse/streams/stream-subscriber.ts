import type { MessageEvent } from '@nestjs/common';
import { comparePositions, type EventPosition, formatEventId } from '../events/event-position.js';
import type { LossReason } from '../../protocol/reserved-events.js';
import type { Principal } from '../auth/principal.js';
import type { PublishedEvent } from '../events/published-event.js';
import { BROADCAST_HISTORY_KEY, topicHistoryKey, userHistoryKey } from '../events/publish-target.js';
import { CLOSE_EVENT, LOSS_EVENT, READY_EVENT, RESUME_EVENT } from '../../protocol/reserved-events.js';
import { withWire } from '../http/sse-wire.js';

// A comment: proxies see traffic, clients see no event and keep their last event id.
const HEARTBEAT: MessageEvent = withWire({ comment: '' });

// setTimeout fires at once for a delay past this.
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** Where a stream's messages go: an rxjs subscriber, or straight to the response of an `@SseRoute()`. */
export interface MessageSink {
  readonly closed: boolean;
  next(message: MessageEvent): void;
  complete(): void;
  error(err: unknown): void;
}

export interface SubscriberSettings {
  readonly retryMs: number;
  readonly heartbeatMs: number;
  /** Live events held while the stream starts (its replay is read); past it the stream ends and may resume. */
  readonly maxHeldEvents: number;
}

/** What a stream carries besides its topics. */
export interface StreamScope {
  /** Events published to the principal's user. */
  readonly userEvents: boolean;
  /** Broadcasts. */
  readonly broadcasts: boolean;
  /** Whether the stream begins with `sse.ready`; without it, its first event carries `retry:`. */
  readonly ready: boolean;
  /** A resumable POST stream's location: the stream begins with `sse.resume` carrying it. */
  readonly resumeUrl?: string;
}

export const FULL_SCOPE: StreamScope = Object.freeze({ userEvents: true, broadcasts: true, ready: true });

export interface Loss {
  readonly reason: LossReason;
  readonly lastEventId: string;
}

/**
 * One open stream: the events of its user, its topics and the broadcasts, in
 * order, each at most once, from the position it started at. An `sse.close`
 * among them (the module puts one at the end of a job's topic) ends it.
 */
export class StreamSubscriber {
  readonly keys: readonly string[];
  /** When the stream opened (epoch ms). */
  readonly openedAt = Date.now();
  /** The newest position sent; undefined until the stream has started. */
  private position?: EventPosition;
  /** Live events that arrived before the stream started. */
  private held: PublishedEvent[] | undefined = [];
  /** Messages without an id (see `notify`) that arrived before the stream started. */
  private heldNotes: MessageEvent[] = [];
  private expiry?: NodeJS.Timeout;
  /** Nothing written yet: the first write must carry `retry:`. */
  private fresh = true;

  constructor(
    readonly principal: Principal,
    readonly topics: readonly string[],
    private readonly sink: MessageSink,
    private readonly settings: SubscriberSettings,
    readonly scope: StreamScope = FULL_SCOPE,
  ) {
    this.keys = [
      ...(scope.userEvents ? [userHistoryKey(principal.userId)] : []),
      ...topics.map(topicHistoryKey),
      ...(scope.broadcasts ? [BROADCAST_HISTORY_KEY] : []),
    ];
    if (principal.expiresAt !== undefined) this.endAt(principal.expiresAt);
  }

  get userId(): string {
    return this.principal.userId;
  }

  /**
   * Opens the stream at `from`: the ready event, a loss event when the client's
   * cursor could not be honoured, the replay, then whatever arrived live
   * meanwhile and was not in the replay.
   */
  start(from: EventPosition, replay: readonly PublishedEvent[], loss?: Loss): void {
    const id = formatEventId(from);
    this.position = from;
    if (this.scope.ready) {
      this.write({ id, type: READY_EVENT, data: JSON.stringify({ heartbeatMs: this.settings.heartbeatMs }) });
    } else if (this.scope.resumeUrl !== undefined) {
      this.write({ id, type: RESUME_EVENT, data: JSON.stringify({ url: this.scope.resumeUrl }) });
    }
    if (loss) this.write({ id, type: LOSS_EVENT, data: JSON.stringify(loss) });
    for (const event of replay) this.send(event);
    const held = this.held!;
    this.held = undefined;
    for (const event of held) this.send(event);
    this.heldNotes.splice(0).forEach((message) => this.write(message));
  }

  deliver(event: PublishedEvent): void {
    if (!this.held) return this.send(event);
    if (this.held.length < this.settings.maxHeldEvents) this.held.push(event);
    else this.end();
  }

  /** Writes a message that has no id, so has no place in the order (state the client refetches when it connects). */
  notify(message: MessageEvent): void {
    if (!this.held) return this.write(message);
    if (this.heldNotes.length < this.settings.maxHeldEvents) this.heldNotes.push(message);
    else this.end();
  }

  heartbeat(): void {
    // The first write must carry `retry:`, and a comment cannot (Nest's @Sse() would number it).
    if (!this.held && !this.fresh) this.sink.next(HEARTBEAT);
  }

  /** Ends the stream and tells the client not to reconnect. */
  close(reason: string): void {
    if (this.position && !this.sink.closed) {
      this.write({ id: formatEventId(this.position), type: CLOSE_EVENT, data: JSON.stringify({ reason }) });
    }
    this.end();
  }

  /** Ends the stream; the client may reconnect and resume. */
  end(): void {
    this.sink.complete();
  }

  fail(err: unknown): void {
    this.sink.error(err);
  }

  dispose(): void {
    clearTimeout(this.expiry);
  }

  /** Ends the stream when its token expires, in steps where that is further off than one timer can wait. */
  private endAt(expiresAt: number): void {
    const delay = expiresAt - Date.now();
    this.expiry =
      delay > MAX_TIMER_DELAY
        ? setTimeout(() => this.endAt(expiresAt), MAX_TIMER_DELAY)
        : setTimeout(() => this.end(), Math.max(0, delay));
  }

  private send(event: PublishedEvent): void {
    if (comparePositions(event.position, this.position!) <= 0) return;
    this.position = event.position;
    this.write(event.message);
    if (event.message.type === CLOSE_EVENT) this.end();
  }

  /** Every event goes out here; the first one also carries `retry:`. */
  private write(message: MessageEvent): void {
    if (this.fresh) {
      this.fresh = false;
      this.sink.next({ ...message, retry: this.settings.retryMs });
    } else {
      this.sink.next(message);
    }
  }
}
