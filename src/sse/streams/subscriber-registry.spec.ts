import type { MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import type { PublishTarget } from '../events/publish-target.js';
import { FULL_SCOPE, type StreamScope, StreamSubscriber } from './stream-subscriber.js';
import { SubscriberRegistry } from './subscriber-registry.js';

let nextMs = 100;
function published(target: PublishTarget, data = 'x'): PublishedEvent {
  return createPublishedEvent({ ms: nextMs++, seq: 0 }, target, 'note', data);
}

/** A started stream and the events (not the ready event) it received. */
function started(userId: string, topics: string[] = [], scope: StreamScope = FULL_SCOPE) {
  const received: string[] = [];
  let stream!: StreamSubscriber;
  new Observable<MessageEvent>((sink) => {
    stream = new StreamSubscriber({ userId, roles: [], claims: {} }, topics, sink, {
      retryMs: 1000,
      heartbeatMs: 1000,
      maxHeldEvents: 10,
    }, scope);
  }).subscribe((message) => {
    if (message.type === 'note') received.push(message.data as string);
  });
  stream.start({ ms: 1, seq: 0 }, []);
  return { stream, received };
}

describe('SubscriberRegistry', () => {
  it('dispatches an event for a user to every stream of that user, and only to them', () => {
    const registry = new SubscriberRegistry();
    const alice1 = started('alice');
    const alice2 = started('alice');
    const bob = started('bob', ['orders']);
    [alice1, alice2, bob].forEach(({ stream }) => registry.add(stream));

    registry.dispatch(published({ userIds: ['alice'] }, 'for-alice'));
    expect(alice1.received).toEqual(['for-alice']);
    expect(alice2.received).toEqual(['for-alice']);
    expect(bob.received).toEqual([]);

    registry.dispatch(published({ userIds: ['bob', 'carol'] }, 'for-bob-carol'));
    expect(alice1.received).toEqual(['for-alice']);
    expect(bob.received).toEqual(['for-bob-carol']);
  });

  it('dispatches to several users, each stream once', () => {
    const registry = new SubscriberRegistry();
    const alice = started('alice');
    const bob = started('bob');
    const carol = started('carol');
    [alice, bob, carol].forEach(({ stream }) => registry.add(stream));
    registry.dispatch(published({ userIds: ['alice', 'bob'] }, 'both'));
    expect(alice.received).toEqual(['both']);
    expect(bob.received).toEqual(['both']);
    expect(carol.received).toEqual([]);
  });

  it('dispatches a topic event to the streams of that topic only', () => {
    const registry = new SubscriberRegistry();
    const orders = started('alice', ['orders', 'news']);
    const news = started('bob', ['news']);
    const none = started('carol');
    [orders, news, none].forEach(({ stream }) => registry.add(stream));

    registry.dispatch(published({ topic: 'orders' }, 'o1'));
    registry.dispatch(published({ topic: 'news' }, 'n1'));
    registry.dispatch(published({ topic: 'nobody-listens' }, 'z'));
    expect(orders.received).toEqual(['o1', 'n1']);
    expect(news.received).toEqual(['n1']);
    expect(none.received).toEqual([]);
  });

  it('does not deliver a topic event to a stream of a user named like the topic', () => {
    const registry = new SubscriberRegistry();
    const user = started('orders');
    registry.add(user.stream);
    registry.dispatch(published({ topic: 'orders' }));
    expect(user.received).toEqual([]);
  });

  it('broadcasts to every stream', () => {
    const registry = new SubscriberRegistry();
    const streams = [started('alice'), started('alice'), started('bob', ['t'])];
    streams.forEach(({ stream }) => registry.add(stream));
    registry.dispatch(published({ broadcast: true }, 'all'));
    expect(streams.map((s) => s.received)).toEqual([['all'], ['all'], ['all']]);
  });

  it('counts streams and users, and lists a user\'s streams', () => {
    const registry = new SubscriberRegistry();
    const alice1 = started('alice', ['t']);
    const alice2 = started('alice');
    const bob = started('bob');
    [alice1, alice2, bob].forEach(({ stream }) => registry.add(stream));
    registry.add(alice1.stream);
    expect(registry.streamCount).toBe(3);
    expect(registry.userCount).toBe(2);
    expect(registry.ofUser('alice')).toEqual([alice1.stream, alice2.stream]);
    expect(registry.ofUser('nobody')).toEqual([]);
    expect([...registry]).toEqual([alice1.stream, alice2.stream, bob.stream]);
  });

  it('cleans every index on remove', () => {
    const registry = new SubscriberRegistry();
    const alice1 = started('alice', ['t', 'u']);
    const alice2 = started('alice', ['t']);
    const bob = started('bob', ['u']);
    [alice1, alice2, bob].forEach(({ stream }) => registry.add(stream));

    registry.remove(alice1.stream);
    expect(registry.streamCount).toBe(2);
    expect(registry.userCount).toBe(2);
    expect(registry.ofUser('alice')).toEqual([alice2.stream]);
    registry.dispatch(published({ topic: 'u' }, 'u1'));
    registry.dispatch(published({ userIds: ['alice'] }, 'a1'));
    expect(alice1.received).toEqual([]);
    expect(alice2.received).toEqual(['a1']);
    expect(bob.received).toEqual(['u1']);

    registry.remove(alice2.stream);
    registry.remove(bob.stream);
    // Removing twice is harmless.
    registry.remove(bob.stream);
    expect(registry.streamCount).toBe(0);
    expect(registry.userCount).toBe(0);
    expect([...registry]).toEqual([]);
    expect(registry.ofUser('alice')).toEqual([]);

    // Nothing is left behind to receive anything.
    registry.dispatch(published({ broadcast: true }));
    registry.dispatch(published({ topic: 't' }));
    registry.dispatch(published({ userIds: ['alice', 'bob'] }));
    expect([alice1, alice2, bob].map((s) => s.received)).toEqual([[], ['a1'], ['u1']]);

    // The indexes are empty, not merely the sets in them.
    const internals = registry as unknown as { byUser: Map<string, unknown>; byTopic: Map<string, unknown> };
    expect(internals.byUser.size).toBe(0);
    expect(internals.byTopic.size).toBe(0);
  });

  it('removing an unknown stream changes nothing', () => {
    const registry = new SubscriberRegistry();
    const alice = started('alice', ['t']);
    const stranger = started('alice', ['t']);
    registry.add(alice.stream);
    registry.remove(stranger.stream);
    expect(registry.streamCount).toBe(1);
    registry.dispatch(published({ topic: 't' }, 't1'));
    expect(alice.received).toEqual(['t1']);
  });

  it('skips user events and broadcasts for streams whose scope leaves them out, but still lists them by user', () => {
    const registry = new SubscriberRegistry();
    const room = started('alice', ['room'], { userEvents: false, broadcasts: false, ready: true });
    const full = started('alice', ['room']);
    registry.add(room.stream);
    registry.add(full.stream);
    registry.dispatch(published({ userIds: ['alice'] }, 'personal'));
    registry.dispatch(published({ broadcast: true }, 'everyone'));
    registry.dispatch(published({ topic: 'room' }, 'chat'));
    expect(room.received).toEqual(['chat']);
    expect(full.received).toEqual(['personal', 'everyone', 'chat']);
    // Closing a user must reach every stream of it.
    expect(registry.ofUser('alice')).toEqual([room.stream, full.stream]);
  });
});
