import { afterEach, jest } from '@jest/globals';
import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  HttpStatus,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { InMemoryHistoryStore } from './delivery/in-memory-history.store.js';
import { LocalBroker } from './delivery/local.broker.js';
import type { BrokerListener } from './delivery/broker.js';
import { InMemoryConnectionLimiter } from './limits/in-memory-connection.limiter.js';
import { NotificationService, type StreamOptions } from './notification.service.js';
import type { Principal } from './auth/principal.js';
import { InvalidSseInputError } from './events/sse-name.js';
import { SseUnavailableError } from './http/sse-unavailable.error.js';
import { CLOSE_EVENT, CLOSED_BY_SERVER, LOSS_EVENT, READY_EVENT } from '../protocol/reserved-events.js';
import { resolveOptions, type SseModuleOptions } from './sse.options.js';
import type { SubscriberRegistry } from './streams/subscriber-registry.js';
import { Registry } from 'prom-client';
import { PrometheusSseMetrics } from './observability/prometheus-sse.metrics.js';
import { NoSseMetrics } from './observability/sse-metrics.js';
import { settle, watch } from '../../test/harness/watched-stream.js';
import { InMemoryRevocationStore } from './auth/in-memory-revocation.store.js';

type Overrides = Omit<SseModuleOptions, 'auth'>;

const services: NotificationService[] = [];

async function createService(overrides: Overrides = {}) {
  const options = resolveOptions({ auth: { jwt: { secret: 'unused-in-these-tests' } }, instanceId: 'unit', ...overrides });
  const history = new InMemoryHistoryStore(options.history);
  const limiter = new InMemoryConnectionLimiter(options.maxConnectionsPerUser, options.maxConnections, options.instanceId);
  const registry = new Registry();
  const metrics = new PrometheusSseMetrics({ registry });
  const revocations = new InMemoryRevocationStore(options.revocationTtlMs);
  const service = new NotificationService(options, history, new LocalBroker(history), limiter, metrics, revocations);
  await service.onModuleInit();
  services.push(service);
  /**
   * Opens a stream as the route would: ConnectionLimitGuard takes a slot, released
   * when the response closes (here: when the stream ends or is unsubscribed).
   */
  const open = async (who: Principal, streamOptions?: StreamOptions) => {
    const slot = await limiter.acquire(who.userId);
    if (!slot.granted) throw new Error('no slot');
    const watched = watch(service.stream(who, streamOptions));
    watched.subscription.add(() => void slot.lease.release());
    return watched;
  };
  /** The value of a metric (with these labels), as the app's registry would serve it. */
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const value = (found?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((v) =>
      Object.entries(labels).every(([key, wanted]) => v.labels[key] === wanted),
    );
    return value?.value ?? 0;
  };
  return { service, history, options, limiter, revocations, open, metric };
}

function principal(userId: string, roles: string[] = []): Principal {
  return { userId, roles, claims: { sub: userId } };
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

afterEach(() => {
  for (const service of services.splice(0)) service.beforeApplicationShutdown();
  jest.useRealTimers();
});

describe('NotificationService', () => {
  describe('publish', () => {
    it('resolves to the id of the event the streams receive', async () => {
      const { service } = await createService();
      const alice = watch(service.stream(principal('alice')));
      const id = await service.publishToUser('alice', 'todo', { n: 1 });
      expect(id).toMatch(/^\d+-\d+$/);
      expect(alice.events()).toEqual([{ id, type: 'todo', data: '{"n":1}' }]);
    });

    it('gives the same event, with the same id, to every stream of the user, and nothing to others', async () => {
      const { service } = await createService();
      const first = watch(service.stream(principal('alice')));
      const second = watch(service.stream(principal('alice')));
      const bob = watch(service.stream(principal('bob')));
      const id = await service.publishToUser('alice', 'todo', 'hello');
      expect(first.events()).toEqual([{ id, type: 'todo', data: '"hello"' }]);
      expect(second.events()).toEqual(first.events());
      expect(bob.events()).toEqual([]);
    });

    it('sends to several users once each', async () => {
      const { service } = await createService();
      const alice = watch(service.stream(principal('alice')));
      const bob = watch(service.stream(principal('bob')));
      const carol = watch(service.stream(principal('carol')));
      const id = await service.publishToUsers(['alice', 'bob', 'alice'], 'x', 1);
      expect(alice.events().map((m) => m.id)).toEqual([id]);
      expect(bob.events().map((m) => m.id)).toEqual([id]);
      expect(carol.events()).toEqual([]);
    });

    it('delivers topic events to streams of that topic only, and broadcasts to all', async () => {
      const { service } = await createService();
      const reader = watch(service.stream(principal('alice'), { topics: ['orders'] }));
      const other = watch(service.stream(principal('bob'), { topics: ['news'] }));
      const plain = watch(service.stream(principal('carol')));
      const orderId = await service.publishToTopic('orders', 'order.created', { id: 7 });
      const allId = await service.broadcast('maintenance', { at: 'noon' });
      expect(reader.events()).toEqual([
        { id: orderId, type: 'order.created', comment: 'topic orders', data: '{"id":7}' },
        { id: allId, type: 'maintenance', data: '{"at":"noon"}' },
      ]);
      expect(other.events().map((m) => m.id)).toEqual([allId]);
      expect(plain.events().map((m) => m.id)).toEqual([allId]);
    });

    it('gives increasing ids', async () => {
      const { service } = await createService();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await service.broadcast('n', i));
      const positions = ids.map((id) => id.split('-').map(Number));
      for (let i = 1; i < positions.length; i++) {
        const [ms, seq] = positions[i];
        const [prevMs, prevSeq] = positions[i - 1];
        expect(ms > prevMs || (ms === prevMs && seq > prevSeq)).toBe(true);
      }
    });

    it('refuses data past maxEventDataLength with 413, and accepts it at the limit', async () => {
      const { service } = await createService({ maxEventDataLength: 20 });
      const alice = watch(service.stream(principal('alice')));
      // '"' + 18 characters + '"' is 20 characters of JSON.
      await expect(service.publishToUser('alice', 'x', 'a'.repeat(18))).resolves.toMatch(/^\d+-\d+$/);
      const err = await service.publishToUser('alice', 'x', 'a'.repeat(19)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PayloadTooLargeException);
      expect((err as PayloadTooLargeException).getStatus()).toBe(HttpStatus.PAYLOAD_TOO_LARGE);
      expect(alice.events()).toHaveLength(1);
    });

    it('refuses data nested past maxEventDataDepth with 400 (not a RangeError), and accepts it at the limit', async () => {
      const { service } = await createService({ maxEventDataDepth: 3 });
      const alice = watch(service.stream(principal('alice')));
      await expect(service.publishToUser('alice', 'x', { a: [{ b: 1 }] })).resolves.toMatch(/^\d+-\d+$/);
      const err = await service.publishToUser('alice', 'x', { a: [{ b: [] }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidSseInputError);
      expect((err as InvalidSseInputError).message).toBe('The event data is nested deeper than 3 levels');
      expect(alice.events()).toHaveLength(1);
    });

    it('refuses, by default, data nested 10,000 levels deep (where JSON.stringify overflows the stack) with 400', async () => {
      const { service } = await createService();
      let data: unknown = 'leaf';
      for (let i = 0; i < 10_000; i++) data = [data];
      const err = await service.broadcast('x', data).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidSseInputError);
      expect((err as InvalidSseInputError).message).toBe('The event data is nested deeper than 64 levels');
    });

    it('refuses a reserved or malformed type, a bad target and unserializable data with 400, publishing nothing', async () => {
      const { service } = await createService();
      const alice = watch(service.stream(principal('alice')));
      const attempts = [
        service.publishToUser('alice', 'sse.close', {}),
        service.publishToUser('alice', 'bad\ntype', {}),
        service.publishToUser('alice\n', 'ok', {}),
        service.publishToUsers([], 'ok', {}),
        service.publishToTopic('a,b', 'ok', {}),
        service.publishToUser('alice', 'ok', { big: 1n }),
      ];
      for (const attempt of attempts) {
        const err = await attempt.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidSseInputError);
        expect((err as BadRequestException).getStatus()).toBe(400);
      }
      expect(alice.events()).toEqual([]);
    });
  });

  describe('stream', () => {
    it('starts with the ready event at the newest position dispatched', async () => {
      const { service, options } = await createService({ retryMs: 2500, heartbeatMs: 9000 });
      const lastId = await service.broadcast('before', 1);
      const alice = watch(service.stream(principal('alice')));
      expect(alice.messages).toEqual([
        { id: lastId, type: READY_EVENT, retry: 2500, data: JSON.stringify({ heartbeatMs: 9000 }) },
      ]);
      expect(options.retryMs).toBe(2500);
    });

    it('lets a client that only got the ready event resume from its id', async () => {
      const { service } = await createService();
      const first = watch(service.stream(principal('alice')));
      const readyId = first.messages[0].id as string;
      first.subscription.unsubscribe();
      const missed = await service.publishToUser('alice', 'todo', 1);
      const resumed = watch(service.stream(principal('alice'), { lastEventId: readyId }));
      await settle();
      expect(resumed.events().map((m) => m.id)).toEqual([missed]);
      expect(resumed.types()).not.toContain(LOSS_EVENT);
    });

    it('refuses a topic the principal may not read with 403', async () => {
      const canReadTopic = jest.fn((p: Principal, topic: string) => p.roles.includes('admin') || topic !== 'secret');
      const { service } = await createService({ canReadTopic });
      const err = thrown(() => service.stream(principal('alice'), { topics: ['public', 'secret'] }));
      expect(err).toBeInstanceOf(ForbiddenException);
      expect((err as ForbiddenException).message).toContain('secret');
      expect(canReadTopic).toHaveBeenCalledWith(expect.objectContaining({ userId: 'alice' }), 'secret');
      expect(() => service.stream(principal('root', ['admin']), { topics: ['secret'] })).not.toThrow();
    });

    it('refuses more topics than allowed with 400, counting each topic once', async () => {
      const { service } = await createService({ maxTopicsPerStream: 2 });
      const err = thrown(() => service.stream(principal('alice'), { topics: ['a', 'b', 'c'] }));
      expect(err).toBeInstanceOf(InvalidSseInputError);
      expect((err as InvalidSseInputError).getStatus()).toBe(400);
      expect(() => service.stream(principal('alice'), { topics: ['a', 'b', 'a', 'b'] })).not.toThrow();
    });

    it('refuses a malformed topic name with 400', async () => {
      const { service } = await createService();
      for (const topic of ['', 'a\nb', 'a,b']) {
        expect(() => service.stream(principal('alice'), { topics: [topic] })).toThrow(InvalidSseInputError);
      }
    });

    it("refuses the module's own topics (sse.…) with 403 without asking canReadTopic", async () => {
      const canReadTopic = jest.fn(() => true);
      const { service } = await createService({ canReadTopic });
      const err = thrown(() => service.stream(principal('alice'), { topics: ['sse.job:x'] }));
      expect(err).toBeInstanceOf(ForbiddenException);
      expect(canReadTopic).not.toHaveBeenCalled();
    });

    it('receives a topic event once even when the topic is asked for twice', async () => {
      const { service } = await createService();
      const alice = watch(service.stream(principal('alice'), { topics: ['t', 't'] }));
      await service.publishToTopic('t', 'x', 1);
      expect(alice.events()).toHaveLength(1);
    });

    it('gives a fresh stream only what is published after it opened, starting at the newest event', async () => {
      const { service } = await createService();
      const beforeId = await service.publishToUser('alice', 'todo', 'before');
      const alice = watch(service.stream(principal('alice')));
      const afterId = await service.publishToUser('alice', 'todo', 'after');
      expect(alice.messages[0]).toMatchObject({ type: READY_EVENT, id: beforeId });
      expect(alice.events().map((m) => m.id)).toEqual([afterId]);
    });

    it('counts streams and users by their connection slots', async () => {
      const { service, open } = await createService();
      expect(await service.stats()).toEqual({ streams: 0, users: 0, instances: [{ id: 'unit', streams: 0, users: 0 }] });
      const a1 = await open(principal('alice'));
      await open(principal('alice'), { topics: ['t'] });
      const b = await open(principal('bob'));
      expect(await service.stats()).toEqual({ streams: 3, users: 2, instances: [{ id: 'unit', streams: 3, users: 2 }] });
      b.subscription.unsubscribe();
      a1.subscription.unsubscribe();
      expect(await service.stats()).toMatchObject({ streams: 1, users: 1 });
    });

    it('forgets a stream once unsubscribed', async () => {
      const { service } = await createService();
      const registry = (service as unknown as { registry: SubscriberRegistry }).registry;
      const a1 = watch(service.stream(principal('alice'), { topics: ['t'] }));
      const a2 = watch(service.stream(principal('alice')));
      expect(registry.streamCount).toBe(2);
      a1.subscription.unsubscribe();
      expect(registry.streamCount).toBe(1);
      a2.subscription.unsubscribe();
      expect(registry.streamCount).toBe(0);
      expect(registry.userCount).toBe(0);
    });

    it('sends heartbeats to open streams on the configured interval', async () => {
      jest.useFakeTimers();
      const { service } = await createService({ heartbeatMs: 1000 });
      const alice = watch(service.stream(principal('alice')));
      jest.advanceTimersByTime(999);
      expect(alice.types()).toEqual([READY_EVENT]);
      jest.advanceTimersByTime(1);
      expect(alice.messages.at(-1)).toEqual({ comment: '' });
      jest.advanceTimersByTime(2000);
      expect(alice.types()).toEqual([READY_EVENT, 'comment', 'comment', 'comment']);
    });
  });

  describe('resume', () => {
    it('replays exactly the missed events, then continues live', async () => {
      const { service } = await createService();
      const first = watch(service.stream(principal('alice'), { topics: ['t'] }));
      const seen = await service.publishToUser('alice', 'todo', 1);
      first.subscription.unsubscribe();
      const missed1 = await service.publishToUser('alice', 'todo', 2);
      await service.publishToUser('bob', 'todo', 'not for alice');
      const missed2 = await service.publishToTopic('t', 'topic', 3);
      await service.publishToTopic('other', 'topic', 'not asked for');
      const missed3 = await service.broadcast('all', 4);

      const resumed = watch(service.stream(principal('alice'), { topics: ['t'], lastEventId: seen }));
      await settle();
      const live = await service.publishToUser('alice', 'todo', 5);

      expect(resumed.messages[0]).toMatchObject({ type: READY_EVENT, id: seen });
      expect(resumed.events().map((m) => m.id)).toEqual([missed1, missed2, missed3, live]);
      expect(resumed.events().map((m) => m.data)).toEqual(['2', '3', '4', '5']);
      expect(resumed.types()).not.toContain(LOSS_EVENT);
    });

    it('sends an event published while the stream opens exactly once', async () => {
      const { service } = await createService();
      const seen = await service.publishToUser('alice', 'todo', 1);
      const missed = await service.publishToUser('alice', 'todo', 2);
      // Published while the stream opens: it must arrive exactly once, whether replayed or sent live.
      const racing = service.publishToUser('alice', 'todo', 3);
      const resumed = watch(service.stream(principal('alice'), { lastEventId: seen }));
      const racingId = await racing;
      await settle();
      const live = await service.publishToUser('alice', 'todo', 4);
      expect(resumed.events().map((m) => m.id)).toEqual([missed, racingId, live]);
    });

    it('holds events published while the replay is read and sends them after it', async () => {
      const { service } = await createService();
      const seen = await service.publishToUser('alice', 'todo', 1);
      const missed = await service.publishToUser('alice', 'todo', 2);
      const resumed = watch(service.stream(principal('alice'), { lastEventId: seen }));
      // Published before the resume has started the stream.
      const during = service.publishToUser('alice', 'todo', 3);
      await settle();
      const duringId = await during;
      expect(resumed.events().map((m) => m.id)).toEqual([missed, duringId]);
    });

    it('sends a loss event with reason "malformed" for an id it did not issue, then goes on live', async () => {
      const { service } = await createService();
      const lastId = await service.publishToUser('alice', 'todo', 1);
      const resumed = watch(service.stream(principal('alice'), { lastEventId: 'not-an-id' }));
      await settle();
      const live = await service.publishToUser('alice', 'todo', 2);
      expect(resumed.messages.slice(0, 2)).toEqual([
        expect.objectContaining({ type: READY_EVENT, id: lastId }),
        { id: lastId, type: LOSS_EVENT, data: JSON.stringify({ reason: 'malformed', lastEventId: 'not-an-id' }) },
      ]);
      expect(resumed.events().map((m) => m.id)).toEqual([live]);
    });

    it.each([
      ['restarted', '1-0'],
      ['unknown', '99999999999999-0'],
    ])('sends a loss event with reason "%s"', async (reason, lastEventId) => {
      const { service } = await createService();
      await service.publishToUser('alice', 'todo', 1);
      const resumed = watch(service.stream(principal('alice'), { lastEventId }));
      await settle();
      const loss = resumed.messages.find((m) => m.type === LOSS_EVENT);
      expect(loss && JSON.parse(loss.data as string)).toEqual({ reason, lastEventId });
      expect(resumed.events()).toEqual([]);
    });

    it('sends a loss event with reason "expired" when the history no longer has the missed events', async () => {
      const { service } = await createService({ history: { maxEvents: 2 } });
      const seen = await service.publishToUser('alice', 'todo', 0);
      for (let i = 1; i <= 3; i++) await service.publishToUser('alice', 'todo', i);
      const resumed = watch(service.stream(principal('alice'), { lastEventId: seen }));
      await settle();
      expect(resumed.types().slice(0, 2)).toEqual([READY_EVENT, LOSS_EVENT]);
      expect(JSON.parse(resumed.messages[1].data as string)).toEqual({ reason: 'expired', lastEventId: seen });
      expect(resumed.events()).toEqual([]);
    });

    it('treats an empty lastEventId as none', async () => {
      const { service } = await createService();
      const alice = watch(service.stream(principal('alice'), { lastEventId: '' }));
      expect(alice.types()).toEqual([READY_EVENT]);
    });
  });

  describe('scope', () => {
    it('gives a stream without user events and broadcasts only its topics, and still closes it with its user', async () => {
      const { service, open } = await createService();
      const room = await open(principal('alice'), { topics: ['room'], userEvents: false, broadcasts: false });
      const full = await open(principal('alice'), { topics: ['room'] });
      const personal = await service.publishToUser('alice', 'dm', 1);
      const everyone = await service.broadcast('news', 2);
      const chat = await service.publishToTopic('room', 'chat', 3);
      expect(room.events().map((m) => m.id)).toEqual([chat]);
      expect(full.events().map((m) => m.id)).toEqual([personal, everyone, chat]);
      expect(await service.closeUser('alice')).toBe(2);
      expect(room.types().at(-1)).toBe(CLOSE_EVENT);
      expect(room.state.completed).toBe(true);
    });

    it('resumes a scoped stream from its topics only', async () => {
      const { service } = await createService();
      const seen = await service.publishToTopic('room', 'chat', 0);
      await service.publishToUser('alice', 'dm', 1);
      await service.broadcast('news', 2);
      const missed = await service.publishToTopic('room', 'chat', 3);
      const resumed = watch(
        service.stream(principal('alice'), { topics: ['room'], userEvents: false, broadcasts: false, lastEventId: seen }),
      );
      await settle();
      expect(resumed.events().map((m) => m.id)).toEqual([missed]);
    });

    it('without the ready event, sends retry with the first event', async () => {
      const { service, options } = await createService();
      const alice = watch(service.stream(principal('alice'), { ready: false }));
      expect(alice.messages).toEqual([]);
      const id = await service.publishToUser('alice', 'todo', 1);
      expect(alice.messages).toEqual([{ id, type: 'todo', data: '1', retry: options.retryMs }]);
    });
  });

  describe('store outages', () => {
    it('after a gap in what the broker saw, ends the streams opened before it and keeps later ones', async () => {
      const options = resolveOptions({ auth: { jwt: { secret: 'unused' } }, instanceId: 'unit' });
      const history = new InMemoryHistoryStore(options.history);
      class GappyBroker extends LocalBroker {
        heard?: BrokerListener;
        override listen(listener: BrokerListener): void {
          this.heard = listener;
          super.listen(listener);
        }
      }
      const broker = new GappyBroker(history);
      const service = new NotificationService(options, history, broker, new InMemoryConnectionLimiter(5, 100, 'unit'), new NoSseMetrics(), new InMemoryRevocationStore(1000));
      await service.onModuleInit();
      services.push(service);
      const before = watch(service.stream(principal('alice')));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const since = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const after = watch(service.stream(principal('alice')));
      broker.heard!.onGap(since);
      // Ended without a close event: the client reconnects and resumes from the history.
      expect(before.state.completed).toBe(true);
      expect(before.types()).not.toContain(CLOSE_EVENT);
      expect(after.state.completed).toBe(false);
      after.subscription.unsubscribe();
    });

    it('answers 503 when the broker cannot publish', async () => {
      const options = resolveOptions({ auth: { jwt: { secret: 'x' } }, instanceId: 'unit' });
      const history = new InMemoryHistoryStore(options.history);
      class DownBroker extends LocalBroker {
        override async publish(): Promise<never> {
          throw new Error('ECONNREFUSED');
        }
      }
      const limiter = new InMemoryConnectionLimiter(5, 100, 'unit');
      const service = new NotificationService(options, history, new DownBroker(history), limiter, new NoSseMetrics(), new InMemoryRevocationStore(1000));
      await service.onModuleInit();
      services.push(service);
      const err = await service.broadcast('x', 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SseUnavailableError);
      expect((err as SseUnavailableError).retryAfterSeconds).toBe(options.retryAfterSeconds);
      expect((err as Error).message).not.toContain('ECONNREFUSED');
      // Refusals of the input stay 400.
      await expect(service.broadcast('sse.x', 1)).rejects.toBeInstanceOf(InvalidSseInputError);
    });

    it('answers 503 when the limiter cannot count', async () => {
      const options = resolveOptions({ auth: { jwt: { secret: 'x' } }, instanceId: 'unit' });
      const history = new InMemoryHistoryStore(options.history);
      class DownLimiter extends InMemoryConnectionLimiter {
        override async held(): Promise<number> {
          throw new Error('ECONNREFUSED');
        }
        override async usage(): Promise<never> {
          throw new Error('ECONNREFUSED');
        }
      }
      const service = new NotificationService(options, history, new LocalBroker(history), new DownLimiter(5, 100, 'unit'), new NoSseMetrics(), new InMemoryRevocationStore(1000));
      await service.onModuleInit();
      services.push(service);
      await expect(service.stats()).rejects.toBeInstanceOf(SseUnavailableError);
      await expect(service.closeUser('alice')).rejects.toBeInstanceOf(SseUnavailableError);
    });
  });

  describe('asynchronous canReadTopic', () => {
    it('opens the stream once every topic is allowed, and not before', async () => {
      let allow!: (allowed: boolean) => void;
      const { service } = await createService({
        canReadTopic: (_p, topic) => (topic === 'later' ? new Promise<boolean>((resolve) => (allow = resolve)) : true),
      });
      const alice = watch(service.stream(principal('alice'), { topics: ['now', 'later'] }));
      await settle();
      expect(alice.messages).toEqual([]);
      expect(service.local().streams).toBe(0);
      allow(true);
      await settle();
      expect(alice.types()).toEqual([READY_EVENT]);
      const id = await service.publishToTopic('later', 'x', 1);
      expect(alice.events().map((m) => m.id)).toEqual([id]);
    });

    it('errors with 403 for a refusal, naming the first topic refused, and opens nothing', async () => {
      const { service } = await createService({ canReadTopic: async (_p, topic) => topic === 'ok' });
      const alice = watch(service.stream(principal('alice'), { topics: ['ok', 'no', 'nope'] }));
      await settle();
      expect(alice.state.error).toBeInstanceOf(ForbiddenException);
      expect((alice.state.error as Error).message).toBe('Not allowed to read topic "no"');
      expect(alice.messages).toEqual([]);
      expect(service.local().streams).toBe(0);
    });

    it('errors with 503 for a check that rejects or throws; an HttpException of its own stands', async () => {
      const { service } = await createService({
        canReadTopic: (_p, topic) => {
          if (topic === 'throws') throw new Error('pool exhausted');
          if (topic === 'gone') return Promise.reject(new ForbiddenException('Gone from the room'));
          return Promise.reject(new Error('ECONNREFUSED'));
        },
      });
      for (const [topic, status, message] of [
        ['rejects', 503, /retry shortly/],
        ['throws', 503, /retry shortly/],
        ['gone', 403, /Gone from the room/],
      ] as const) {
        const stream = watch(service.stream(principal('alice'), { topics: [topic] }));
        await settle();
        expect((stream.state.error as HttpException).getStatus()).toBe(status);
        expect((stream.state.error as Error).message).toMatch(message);
      }
    });

    it('errors with 503 when the check takes longer than canReadTopicTimeoutMs, and stays shut when it answers late', async () => {
      let allow!: (allowed: boolean) => void;
      const { service } = await createService({
        canReadTopic: () => new Promise<boolean>((resolve) => (allow = resolve)),
        canReadTopicTimeoutMs: 30,
      });
      const alice = watch(service.stream(principal('alice'), { topics: ['slow'] }));
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(alice.state.error).toBeInstanceOf(ServiceUnavailableException);
      allow(true);
      await settle();
      expect(alice.messages).toEqual([]);
      expect(service.local().streams).toBe(0);
    });

    it('opens nothing for a subscriber that left before the decision', async () => {
      let allow!: (allowed: boolean) => void;
      const { service } = await createService({ canReadTopic: () => new Promise<boolean>((resolve) => (allow = resolve)) });
      const alice = watch(service.stream(principal('alice'), { topics: ['t'] }));
      alice.subscription.unsubscribe();
      allow(true);
      await settle();
      expect(service.local().streams).toBe(0);
      expect(alice.messages).toEqual([]);
    });

    it('refuses a synchronous refusal at once, even beside a check still pending', async () => {
      const { service } = await createService({ canReadTopic: (_p, topic) => (topic === 'no' ? false : new Promise<boolean>(() => {})) });
      expect(thrown(() => service.stream(principal('alice'), { topics: ['pending', 'no'] }))).toBeInstanceOf(ForbiddenException);
    });
  });

  describe('closeUser', () => {
    it('sends sse.close to every stream of the user, completes them and returns how many', async () => {
      const { service, open } = await createService();
      const a1 = await open(principal('alice'));
      const a2 = await open(principal('alice'), { topics: ['t'] });
      const bob = await open(principal('bob'));
      const lastId = await service.publishToUser('alice', 'todo', 1);

      expect(await service.closeUser('alice')).toBe(2);
      for (const stream of [a1, a2]) {
        expect(stream.messages.at(-1)).toEqual({
          id: lastId,
          type: CLOSE_EVENT,
          data: JSON.stringify({ reason: CLOSED_BY_SERVER }),
        });
        expect(stream.state.completed).toBe(true);
      }
      expect(bob.state.completed).toBe(false);
      expect(bob.types()).not.toContain(CLOSE_EVENT);
      expect(await service.stats()).toMatchObject({ streams: 1, users: 1 });
      expect(await service.closeUser('alice')).toBe(0);
    });

    it('refuses a malformed user id with 400', async () => {
      const { service } = await createService();
      await expect(service.closeUser('a\nb')).rejects.toBeInstanceOf(InvalidSseInputError);
    });

    it('with revokeTokens, records the revocation and closes the streams; a stream of an older token opened afterwards is refused', async () => {
      const { service, open, revocations } = await createService();
      const issued = Date.now() / 1000 - 1;
      const old = { ...principal('alice'), claims: { sub: 'alice', iat: issued } };
      const stream = await open(old);
      // Built (authenticated) before the revocation, opened after it: it must not slip through.
      const inFlight = service.stream(old);
      const before = Date.now();
      expect(await service.closeUser('alice', { revokeTokens: true })).toBe(1);
      expect(revocations.revokedAt('alice')).toBeGreaterThanOrEqual(before);
      expect(stream.messages.at(-1)).toMatchObject({ type: CLOSE_EVENT, data: JSON.stringify({ reason: CLOSED_BY_SERVER }) });
      const late = watch(inFlight);
      expect(late.state.error).toBeInstanceOf(UnauthorizedException);
      expect(late.messages).toEqual([]);
      expect(service.local().streams).toBe(0);
      // A token issued after it opens as usual.
      const fresh = watch(service.stream({ ...old, claims: { sub: 'alice', iat: Date.now() / 1000 + 1 } }));
      expect(fresh.types()).toEqual([READY_EVENT]);
    });

    it('without revokeTokens, records nothing', async () => {
      const { service, revocations } = await createService();
      await service.closeUser('alice');
      expect(revocations.revokedAt('alice')).toBeUndefined();
      expect(watch(service.stream(principal('alice'))).types()).toEqual([READY_EVENT]);
    });
  });

  describe('metrics', () => {
    it('count publishes by target, deliveries per stream, and open streams and users when scraped', async () => {
      const { service, open, metric } = await createService();
      const [a1, a2, b] = [await open(principal('a')), await open(principal('a')), await open(principal('b'))];
      await service.publishToUser('a', 'todo', 1);
      await service.broadcast('news', 2);
      await service.publishToTopic('nobody-reads', 'x', 3);
      expect(await metric('sse_events_published_total', { target: 'users' })).toBe(1);
      expect(await metric('sse_events_published_total', { target: 'broadcast' })).toBe(1);
      expect(await metric('sse_events_published_total', { target: 'topic' })).toBe(1);
      // 2 streams of a got the user event, 3 streams got the broadcast, none the topic event.
      expect(await metric('sse_events_delivered_total')).toBe(5);
      expect(await metric('sse_open_streams')).toBe(3);
      expect(await metric('sse_connected_users')).toBe(2);
      [a1, a2, b].forEach((s) => s.subscription.unsubscribe());
      expect(await metric('sse_open_streams')).toBe(0);
    });

    it('count replays, replayed events and losses by reason', async () => {
      const { service, open, metric } = await createService();
      const first = await service.publishToUser('a', 'todo', 1);
      await service.publishToUser('a', 'todo', 2);
      await service.publishToUser('a', 'todo', 3);
      await open(principal('a'), { lastEventId: first });
      await open(principal('a'), { lastEventId: 'not-an-id' });
      await settle();
      expect(await metric('sse_replays_total')).toBe(1);
      expect(await metric('sse_replayed_events_total')).toBe(2);
      expect(await metric('sse_loss_events_total', { reason: 'malformed' })).toBe(1);
    });
  });

  describe('shutdown', () => {
    it('completes open streams and refuses new ones with 503', async () => {
      const { service, open } = await createService();
      const alice = await open(principal('alice'));
      const bob = await open(principal('bob'), { topics: ['t'] });
      service.beforeApplicationShutdown();
      expect(alice.state.completed).toBe(true);
      expect(bob.state.completed).toBe(true);
      // Ended, not closed: the clients reconnect and resume elsewhere.
      expect(alice.types()).toEqual([READY_EVENT]);
      expect(await service.stats()).toMatchObject({ streams: 0, users: 0 });
      const err = thrown(() => service.stream(principal('carol')));
      expect(err).toBeInstanceOf(SseUnavailableError);
      expect((err as SseUnavailableError).getStatus()).toBe(503);
      expect((err as SseUnavailableError).retryAfterSeconds).toBe(10);
    });

    it('stops the heartbeat timer', async () => {
      jest.useFakeTimers();
      const { service } = await createService({ heartbeatMs: 1000 });
      expect(jest.getTimerCount()).toBe(1);
      service.beforeApplicationShutdown();
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
