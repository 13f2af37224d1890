import type { PublishedEvent } from './published-event.js';

/** What the broker hands to every instance's streams. */
export interface BrokerListener {
  onEvent(event: PublishedEvent): void;
  /** Close every stream of a user held on this instance. */
  onDisconnect(userId: string): void;
}

/**
 * Fans events and disconnects out to the streams of every instance. It is both
 * the injection token and the type.
 */
export abstract class Broker {
  /** Called once, by the notification service, with what to do on every message. */
  abstract listen(listener: BrokerListener): void;
  abstract publish(event: PublishedEvent): Promise<void>;
  abstract disconnect(userId: string): Promise<void>;
}
