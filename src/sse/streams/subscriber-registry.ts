import type { PublishedEvent } from '../events/published-event.js';
import type { StreamSubscriber } from './stream-subscriber.js';

/**
 * The streams of this instance, indexed by user and by topic, so that an event
 * reaches its recipients without looking at anyone else's stream. Every stream
 * is indexed by its user (so that closing a user closes them all), whether or
 * not it carries the user's events.
 */
export class SubscriberRegistry implements Iterable<StreamSubscriber> {
  private readonly byUser = new Map<string, Set<StreamSubscriber>>();
  private readonly byTopic = new Map<string, Set<StreamSubscriber>>();
  private readonly everyone = new Set<StreamSubscriber>();

  add(subscriber: StreamSubscriber): void {
    this.everyone.add(subscriber);
    addTo(this.byUser, subscriber.userId, subscriber);
    for (const topic of subscriber.topics) addTo(this.byTopic, topic, subscriber);
  }

  remove(subscriber: StreamSubscriber): void {
    if (!this.everyone.delete(subscriber)) return;
    removeFrom(this.byUser, subscriber.userId, subscriber);
    for (const topic of subscriber.topics) removeFrom(this.byTopic, topic, subscriber);
  }

  /** Hands the event to its recipients here; returns how many streams got it. */
  dispatch(event: PublishedEvent): number {
    const { target } = event;
    let delivered = 0;
    const deliver = (subscriber: StreamSubscriber) => {
      subscriber.deliver(event);
      delivered++;
    };
    if ('userIds' in target) {
      for (const userId of target.userIds) {
        this.byUser.get(userId)?.forEach((s) => s.scope.userEvents && deliver(s));
      }
    } else if ('topic' in target) {
      this.byTopic.get(target.topic)?.forEach(deliver);
    } else {
      this.everyone.forEach((s) => s.scope.broadcasts && deliver(s));
    }
    return delivered;
  }

  /** The users with a stream here. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  ofUser(userId: string): StreamSubscriber[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  get streamCount(): number {
    return this.everyone.size;
  }

  get userCount(): number {
    return this.byUser.size;
  }

  [Symbol.iterator](): Iterator<StreamSubscriber> {
    return this.everyone[Symbol.iterator]();
  }
}

function addTo(index: Map<string, Set<StreamSubscriber>>, key: string, subscriber: StreamSubscriber): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(subscriber);
}

function removeFrom(index: Map<string, Set<StreamSubscriber>>, key: string, subscriber: StreamSubscriber): void {
  const set = index.get(key);
  if (set?.delete(subscriber) && set.size === 0) index.delete(key);
}
