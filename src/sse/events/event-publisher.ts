import type { AnyEvents, EventMap, EventType } from './event-map.js';
import type { PublishTarget } from './publish-target.js';

/**
 * The ways of publishing, all through `publish(target, …)`, typed by the application's event map: what
 * `NotificationService` (live) and `InboxService` (live and kept) both offer.
 */
export abstract class EventPublisher<Events extends EventMap = AnyEvents> {
  /** Publishes an event to its target; resolves to its id. */
  abstract publish<Type extends EventType<Events>>(target: PublishTarget, type: Type, data: Events[Type]): Promise<string>;

  publishToUser<Type extends EventType<Events>>(userId: string, type: Type, data: Events[Type]): Promise<string> {
    return this.publish({ userIds: [userId] }, type, data);
  }

  publishToUsers<Type extends EventType<Events>>(userIds: readonly string[], type: Type, data: Events[Type]): Promise<string> {
    return this.publish({ userIds }, type, data);
  }

  publishToTopic<Type extends EventType<Events>>(topic: string, type: Type, data: Events[Type]): Promise<string> {
    return this.publish({ topic }, type, data);
  }

  broadcast<Type extends EventType<Events>>(type: Type, data: Events[Type]): Promise<string> {
    return this.publish({ broadcast: true }, type, data);
  }
}
