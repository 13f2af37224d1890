import type { PublishedEvent } from '../events/published-event.js';
import type { PublishTarget } from '../events/publish-target.js';

/** What the broker hands to every instance's streams. */
export interface BrokerListener {
  onEvent(event: PublishedEvent): void;
  /** Close every stream of a user held on this instance. */
  onDisconnect(userId: string): void;
  /**
   * Events may have been missed here by the streams opened before `since` (epoch ms; a long
   * outage): end them, so that their clients resume from the history.
   */
  onGap(since: number): void;
}

/**
 * The write path: gives each event its id, records it in the history and fans
 * it out to the streams of every instance, in one step, so that every instance
 * sees events in the order of their ids. It is both the injection token and the type.
 */
export abstract class Broker {
  /** Called once, by the notification service, with what to do on every message. */
  abstract listen(listener: BrokerListener): void;
  /** Resolves once the event is recorded and on its way to every instance. */
  abstract publish(target: PublishTarget, type: string, data: string): Promise<PublishedEvent>;
  abstract disconnect(userId: string): Promise<void>;
}
