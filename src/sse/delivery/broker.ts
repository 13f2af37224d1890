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

export interface PublishOptions {
  /**
   * Whether the event is kept in the history for resume (default true). One that is not still gets its id and
   * reaches the streams of every instance live, in order: for state that a client refetches when it (re)connects.
   */
  readonly record?: boolean;
}

/** Handles a signal (see `Broker.signal`) on this instance. */
export type SignalHandler = (data: string) => void;

/**
 * The write path: gives each event its id, records it in the history and fans
 * it out to the streams of every instance, in one step, so that every instance
 * sees events in the order of their ids. It also carries signals, messages
 * between instances that no stream sees. It is both the injection token and the type.
 */
export abstract class Broker {
  private readonly signalHandlers = new Map<string, Set<SignalHandler>>();

  /** Called once, by the notification service, with what to do on every message. */
  abstract listen(listener: BrokerListener): void;
  /** Resolves once the event is recorded (unless `record: false`) and on its way to every instance. */
  abstract publish(target: PublishTarget, type: string, data: string, options?: PublishOptions): Promise<PublishedEvent>;
  abstract disconnect(userId: string): Promise<void>;
  /**
   * Sends `data` to the handlers of `channel` on every instance, this one included, in the order of everything the
   * broker carries: a control message (cancel a job where it runs, drop a cached entry), never written to a stream.
   * Resolves once it is on its way to every instance.
   */
  abstract signal(channel: string, data: string): Promise<void>;

  /** Registers a handler of the signals of `channel` on this instance; returns what unregisters it. */
  onSignal(channel: string, handler: SignalHandler): () => void {
    let handlers = this.signalHandlers.get(channel);
    if (!handlers) this.signalHandlers.set(channel, (handlers = new Set()));
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0) this.signalHandlers.delete(channel);
    };
  }

  /** Hands a signal that reached this instance to its handlers. */
  protected deliverSignal(channel: string, data: string): void {
    this.signalHandlers.get(channel)?.forEach((handler) => handler(data));
  }
}
