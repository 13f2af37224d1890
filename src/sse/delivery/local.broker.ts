import { Broker, type BrokerListener, type PublishOptions } from './broker.js';
import type { InMemoryHistoryStore } from './in-memory-history.store.js';
import type { PublishedEvent } from '../events/published-event.js';
import type { PublishTarget } from '../events/publish-target.js';

/**
 * The embedded broker: one process, so recording and delivery are direct calls,
 * done in id order before `publish` resolves.
 */
export class LocalBroker extends Broker {
  private listener?: BrokerListener;

  constructor(private readonly history: InMemoryHistoryStore) {
    super();
  }

  listen(listener: BrokerListener): void {
    this.listener = listener;
  }

  async publish(target: PublishTarget, type: string, data: string, options: PublishOptions = {}): Promise<PublishedEvent> {
    const event = this.history.append(target, type, data, options.record ?? true);
    this.listener?.onEvent(event);
    return event;
  }

  async disconnect(userId: string): Promise<void> {
    this.listener?.onDisconnect(userId);
  }

  async signal(channel: string, data: string): Promise<void> {
    this.deliverSignal(channel, data);
  }
}
