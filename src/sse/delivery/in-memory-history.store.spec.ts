import { comparePositions, type EventPosition, formatEventId } from '../events/event-position.js';
import type { HistoryRead } from './history.store.js';
import { InMemoryHistoryStore } from './in-memory-history.store.js';
import type { PublishedEvent } from '../events/published-event.js';
import { BROADCAST_HISTORY_KEY, topicHistoryKey, userHistoryKey } from '../events/publish-target.js';

const T0 = 1_700_000_000_000;

/** A clock the test moves by hand. */
function fakeClock(start = T0) {
  let time = start;
  return {
    now: () => time,
    set: (ms: number) => {
      time = ms;
    },
    advance: (ms: number) => {
      time += ms;
    },
  };
}

const A = userHistoryKey('a');
const B = userHistoryKey('b');

function idsOf(read: HistoryRead): string[] {
  return read.events.map((event) => event.message.id);
}

function dataOf(read: HistoryRead): string[] {
  return read.events.map((event) => event.message.data);
}

describe('InMemoryHistoryStore', () => {
  describe('positions', () => {
    it('starts its head at the origin, where the clock stood', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }, clock.now);
      clock.advance(5000);
      expect(await store.head()).toEqual({ ms: T0, seq: 0 });
    });

    it('gives increasing ids after the origin, also within a ms and when the clock goes back', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 60_000 }, clock.now);
      const origin = await store.head();
      const positions: EventPosition[] = [origin];
      const times = [T0, T0, T0 + 1, T0 + 1, T0 - 50, T0 + 10, T0 + 10];
      for (const time of times) {
        clock.set(time);
        const event = await store.append({ userIds: ['a'] }, 'tick', '1');
        expect(event.message.id).toBe(formatEventId(event.position));
        expect(comparePositions(event.position, positions.at(-1)!)).toBeGreaterThan(0);
        expect(await store.head()).toEqual(event.position);
        positions.push(event.position);
      }
      expect(positions.slice(1).map(formatEventId)).toEqual([
        `${T0}-1`,
        `${T0}-2`,
        `${T0 + 1}-0`,
        `${T0 + 1}-1`,
        `${T0 + 1}-2`,
        `${T0 + 10}-0`,
        `${T0 + 10}-1`,
      ]);
    });

    it('keeps the message as given', async () => {
      const store = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }, fakeClock().now);
      const event = await store.append({ topic: 'orders' }, 'order.created', '{"id":7}');
      expect(event.message).toEqual({ id: event.message.id, type: 'order.created', comment: 'topic orders', data: '{"id":7}' });
      expect(event.target).toEqual({ topic: 'orders' });
    });
  });

  describe('read', () => {
    it('gives nothing and no loss from the origin of an empty store', async () => {
      const store = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }, fakeClock().now);
      expect(await store.read([A, BROADCAST_HISTORY_KEY], await store.head())).toEqual({ events: [] });
    });

    it('gives exactly the later events of the given keys, merged in order', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 600_000 }, clock.now);
      const published: PublishedEvent[] = [];
      const plan: [Parameters<InMemoryHistoryStore['append']>[0], string][] = [
        [{ userIds: ['a'] }, 'a1'],
        [{ topic: 'orders' }, 'orders1'],
        [{ userIds: ['b'] }, 'b1'],
        [{ broadcast: true }, 'all1'],
        [{ topic: 'other' }, 'other1'],
        [{ userIds: ['a'] }, 'a2'],
        [{ topic: 'orders' }, 'orders2'],
        [{ broadcast: true }, 'all2'],
        [{ userIds: ['b'] }, 'b2'],
      ];
      for (const [target, data] of plan) {
        clock.advance(1);
        published.push(await store.append(target, 'e', data));
      }
      const keys = [A, topicHistoryKey('orders'), BROADCAST_HISTORY_KEY];

      const all = await store.read(keys, { ms: T0, seq: 0 });
      expect(all.loss).toBeUndefined();
      expect(dataOf(all)).toEqual(['a1', 'orders1', 'all1', 'a2', 'orders2', 'all2']);

      // After the fourth event (all1): only what followed it.
      const later = await store.read(keys, published[3].position);
      expect(dataOf(later)).toEqual(['a2', 'orders2', 'all2']);
      expect(later.events[0]).toBe(published[5]);

      // After an event of another key: the position alone decides.
      expect(dataOf(await store.read(keys, published[4].position))).toEqual(['a2', 'orders2', 'all2']);

      // Up to a bound (where a resuming stream was placed): nothing after it, the bound itself included.
      expect(dataOf(await store.read(keys, { ms: T0, seq: 0 }, published[5].position))).toEqual(['a1', 'orders1', 'all1', 'a2']);
      expect(await store.read(keys, published[5].position, published[5].position)).toEqual({ events: [] });

      // After the newest: nothing.
      expect(await store.read(keys, published.at(-1)!.position)).toEqual({ events: [] });
      // A key that never had an event contributes nothing.
      expect(await store.read([userHistoryKey('nobody')], { ms: T0, seq: 0 })).toEqual({ events: [] });
    });

    it('gives an event for several users once, whoever reads it', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 600_000 }, clock.now);
      const before = await store.head();
      clock.advance(1);
      await store.append({ userIds: ['a'] }, 'e', 'only-a');
      const shared = await store.append({ userIds: ['a', 'b'] }, 'e', 'shared');
      await store.append({ userIds: ['b'] }, 'e', 'only-b');

      const ofA = await store.read([A, BROADCAST_HISTORY_KEY], before);
      expect(dataOf(ofA)).toEqual(['only-a', 'shared']);
      expect(ofA.events[1]).toBe(shared);

      const ofB = await store.read([B], before);
      expect(dataOf(ofB)).toEqual(['shared', 'only-b']);

      // Both keys at once: still once.
      const ofBoth = await store.read([A, B], before);
      expect(dataOf(ofBoth)).toEqual(['only-a', 'shared', 'only-b']);
    });

    it('reports "restarted" for a cursor before the store started', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }, clock.now);
      clock.advance(1);
      await store.append({ userIds: ['a'] }, 'e', '1');
      expect(await store.read([A], { ms: T0 - 1, seq: 99 })).toEqual({ events: [], loss: 'restarted' });
      expect(await store.read([A], { ms: 0, seq: 0 })).toEqual({ events: [], loss: 'restarted' });
    });

    it('reports "unknown" for a cursor after the newest event', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }, clock.now);
      expect(await store.read([A], { ms: T0, seq: 1 })).toEqual({ events: [], loss: 'unknown' });
      clock.advance(1);
      const event = await store.append({ userIds: ['a'] }, 'e', '1');
      expect(await store.read([A], { ms: event.position.ms, seq: event.position.seq + 1 })).toEqual({
        events: [],
        loss: 'unknown',
      });
      expect(await store.read([A], { ms: event.position.ms + 1, seq: 0 })).toEqual({ events: [], loss: 'unknown' });
      expect(await store.read([A], event.position)).toEqual({ events: [] });
    });
  });

  describe('count bound', () => {
    it('reports "expired" for a cursor before evicted events and is complete after them', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 3, ttlMs: 600_000 }, clock.now);
      const origin = await store.head();
      const events: PublishedEvent[] = [];
      for (let i = 1; i <= 5; i++) {
        clock.advance(1);
        events.push(await store.append({ userIds: ['a'] }, 'e', `a${i}`));
      }
      // a1 and a2 were evicted: a cursor before a2 has lost events.
      expect(await store.read([A], origin)).toEqual({ events: [], loss: 'expired' });
      expect(await store.read([A], events[0].position)).toEqual({ events: [], loss: 'expired' });
      // A cursor at the newest evicted event has everything it lacks.
      const fromA2 = await store.read([A], events[1].position);
      expect(fromA2.loss).toBeUndefined();
      expect(dataOf(fromA2)).toEqual(['a3', 'a4', 'a5']);
      expect(dataOf(await store.read([A], events[2].position))).toEqual(['a4', 'a5']);
    });

    it('bounds each key on its own', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 2, ttlMs: 600_000 }, clock.now);
      const origin = await store.head();
      clock.advance(1);
      await store.append({ userIds: ['b'] }, 'e', 'b1');
      for (let i = 1; i <= 3; i++) await store.append({ userIds: ['a'] }, 'e', `a${i}`);
      expect((await store.read([A], origin)).loss).toBe('expired');
      expect(await store.read([B], origin)).toMatchObject({ events: [{ message: { data: 'b1' } }] });
      // One lossy key makes the whole read lossy.
      expect(await store.read([B, A], origin)).toEqual({ events: [], loss: 'expired' });
    });
  });

  describe('ttl bound', () => {
    it('reports "expired" once events have aged out, and is complete after them', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 1000 }, clock.now);
      const origin = await store.head();
      clock.advance(10);
      const e1 = await store.append({ userIds: ['a'] }, 'e', 'a1');
      clock.advance(500);
      const e2 = await store.append({ userIds: ['a'] }, 'e', 'a2');

      // Exactly ttl after e1: still kept.
      clock.set(e1.position.ms + 1000);
      expect(dataOf(await store.read([A], origin))).toEqual(['a1', 'a2']);

      // One ms later, e1 has expired (without any append: the read itself notices).
      clock.advance(1);
      expect(await store.read([A], origin)).toEqual({ events: [], loss: 'expired' });
      const afterE1 = await store.read([A], e1.position);
      expect(afterE1.loss).toBeUndefined();
      expect(dataOf(afterE1)).toEqual(['a2']);

      // Then e2 expires too.
      clock.set(e2.position.ms + 1001);
      expect(await store.read([A], e1.position)).toEqual({ events: [], loss: 'expired' });
      expect(await store.read([A], e2.position)).toEqual({ events: [] });
      expect(idsOf(await store.read([A], e2.position))).toEqual([]);
    });

    it('still reports "expired" for a log swept away by a later append to another key', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 1000 }, clock.now);
      const origin = await store.head();
      clock.advance(1);
      const a1 = await store.append({ userIds: ['a'] }, 'e', 'a1');
      // Long after, an append for someone else sweeps the idle log of a away.
      clock.advance(5000);
      await store.append({ userIds: ['b'] }, 'e', 'b1');

      expect(await store.read([A], origin)).toEqual({ events: [], loss: 'expired' });
      // A cursor at a1 missed nothing of a.
      expect(await store.read([A], a1.position)).toEqual({ events: [] });
    });

    it('still reports "expired" for a swept log once its key has new events', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 1000 }, clock.now);
      const origin = await store.head();
      clock.advance(1);
      await store.append({ userIds: ['a'] }, 'e', 'a1');
      clock.advance(5000);
      // This append sweeps the log of a away...
      await store.append({ userIds: ['b'] }, 'e', 'b1');
      // ...and this one starts a new log for a.
      clock.advance(1);
      await store.append({ userIds: ['a'] }, 'e', 'a2');

      // A client whose cursor is before a1 never got a1: that is a loss, not just [a2].
      const read = await store.read([A], origin);
      expect(read).toEqual({ events: [], loss: 'expired' });
    });

    it('sweeps at most the expired events and keeps a log that still has fresh ones', async () => {
      const clock = fakeClock();
      const store = new InMemoryHistoryStore({ maxEvents: 100, ttlMs: 1000 }, clock.now);
      const origin = await store.head();
      clock.advance(1);
      const a1 = await store.append({ userIds: ['a'] }, 'e', 'a1');
      clock.advance(900);
      const a2 = await store.append({ userIds: ['a'] }, 'e', 'a2');
      clock.advance(200);
      // Past the first sweep time: this append sweeps; a1 has expired, a2 has not.
      await store.append({ topic: 't' }, 'e', 't1');
      expect(dataOf(await store.read([A], a1.position))).toEqual(['a2']);
      expect((await store.read([A], origin)).loss).toBe('expired');
      expect(await store.read([A], a2.position)).toEqual({ events: [] });
    });
  });
});
