import type { LossReason } from '../../protocol/reserved-events.js';
import type { EventPosition } from '../events/event-position.js';
import type { PublishedEvent } from '../events/published-event.js';

export interface HistoryRead {
  /** The events after the asked-for position, oldest first. Empty when there is a loss. */
  readonly events: readonly PublishedEvent[];
  readonly loss?: LossReason;
}

/**
 * The read side of the bounded history kept per key (a user, a topic, the
 * broadcasts), for resume; the broker records events in it as it publishes
 * them. It is both the injection token and the type.
 */
export abstract class HistoryStore {
  /** The position of the newest event issued, or where the store started when there is none. */
  abstract head(): Promise<EventPosition>;

  /**
   * The events under `keys` after `after` and up to `upTo` (default: all recorded), merged in order, or the
   * reason they cannot all be given. A stream that resumes reads up to the newest event its instance has
   * dispatched, so that everything after that reaches it live and the reads of many keys need not be one step.
   */
  abstract read(keys: readonly string[], after: EventPosition, upTo?: EventPosition): Promise<HistoryRead>;
}
