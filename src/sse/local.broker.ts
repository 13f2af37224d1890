import { Broker, type BrokerListener } from './broker.js';
import type { PublishedEvent } from './published-event.js';

/** The embedded broker: one process, so delivery is a direct call, done before `publish` resolves. */
export class LocalBroker extends Broker {
  private listener?: BrokerListener;

  listen(listener: BrokerListener): void {
    this.listener = listener;
  }

  async publish(event: PublishedEvent): Promise<void> {
    this.listener?.onEvent(event);
  }

  async disconnect(userId: string): Promise<void> {
    this.listener?.onDisconnect(userId);
  }
}
