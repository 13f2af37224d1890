import { comparePositions, type EventPosition, nextPosition } from '../events/event-position.js';
import { HistoryStore, type HistoryRead } from './history.store.js';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import { historyKeysOf, type PublishTarget } from '../events/publish-target.js';

interface KeyLog {
  /** Oldest first. */
  events: PublishedEvent[];
  /** The newest position dropped from this log: a cursor before it has lost events. */
  evictedUpTo?: EventPosition;
}

export interface HistoryLimits {
  readonly maxEvents: number;
  readonly ttlMs: number;
}

/**
 * The embedded history: one process, nothing kept across a restart (a cursor
 * from before it is reported as `restarted`).
 */
export class InMemoryHistoryStore extends HistoryStore {
  private readonly origin: EventPosition;
  private last: EventPosition;
  private readonly logs = new Map<string, KeyLog>();
  /** The newest position dropped with a whole log, once every event of it had expired. */
  private forgottenUpTo?: EventPosition;
  private nextSweepAt: number;

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.origin = { ms: now(), seq: 0 };
    this.last = this.origin;
    this.nextSweepAt = this.origin.ms + limits.ttlMs;
  }

  /** Gives the event the next position and, when `record`, keeps it under every key of its target. */
  append(target: PublishTarget, type: string, data: string, record = true): PublishedEvent {
    const now = this.now();
    const event = createPublishedEvent(nextPosition(this.last, now), target, type, data);
    this.last = event.position;
    for (const key of record ? historyKeysOf(target) : []) {
      let log = this.logs.get(key);
      // A key whose log was swept away still owes a loss report for what went with it.
      if (!log) this.logs.set(key, (log = { events: [], evictedUpTo: this.forgottenUpTo }));
      log.events.push(event);
      if (log.events.length > this.limits.maxEvents) this.evict(log, log.events.length - this.limits.maxEvents);
    }
    if (now >= this.nextSweepAt) this.sweep(now);
    return event;
  }

  async head(): Promise<EventPosition> {
    return this.last;
  }

  async read(keys: readonly string[], after: EventPosition, upTo: EventPosition = this.last): Promise<HistoryRead> {
    if (comparePositions(after, this.origin) < 0) return { events: [], loss: 'restarted' };
    if (comparePositions(after, this.last) > 0) return { events: [], loss: 'unknown' };
    const now = this.now();
    const found: PublishedEvent[] = [];
    for (const key of keys) {
      const log = this.logs.get(key);
      if (log) this.expire(log, now);
      const droppedUpTo = log ? log.evictedUpTo : this.forgottenUpTo;
      if (droppedUpTo && comparePositions(droppedUpTo, after) > 0) return { events: [], loss: 'expired' };
      if (log) found.push(...eventsBetween(log.events, after, upTo));
    }
    // Each log is in order; an event kept under several of these keys is given once.
    found.sort((a, b) => comparePositions(a.position, b.position));
    return { events: found.filter((event, i) => i === 0 || found[i - 1] !== event) };
  }

  private expire(log: KeyLog, now: number): void {
    const cutoff = now - this.limits.ttlMs;
    let expired = 0;
    while (expired < log.events.length && log.events[expired].position.ms < cutoff) expired++;
    if (expired > 0) this.evict(log, expired);
  }

  private evict(log: KeyLog, count: number): void {
    log.evictedUpTo = log.events[count - 1].position;
    log.events.splice(0, count);
  }

  /** Drops whole logs whose events have all expired, so that idle users and topics cost nothing. */
  private sweep(now: number): void {
    for (const [key, log] of this.logs) {
      this.expire(log, now);
      if (log.events.length === 0) {
        this.logs.delete(key);
        if (!this.forgottenUpTo || comparePositions(log.evictedUpTo!, this.forgottenUpTo) > 0) {
          this.forgottenUpTo = log.evictedUpTo;
        }
      }
    }
    this.nextSweepAt = now + Math.min(this.limits.ttlMs, 60_000);
  }
}

/** The events of an ordered log after `after` and up to `upTo`. */
function eventsBetween(events: readonly PublishedEvent[], after: EventPosition, upTo: EventPosition): PublishedEvent[] {
  return events.slice(countUpTo(events, after), countUpTo(events, upTo));
}

/** How many events of an ordered log are at or before a position, found by binary search. */
function countUpTo(events: readonly PublishedEvent[], position: EventPosition): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (comparePositions(events[middle].position, position) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
