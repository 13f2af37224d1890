import { type Cluster, Redis } from 'ioredis';
import { Broker, HistoryStore, SSE_OPTIONS, type ResolvedSseOptions } from '../src/sse/index.js';
import type { DemoConfig } from '../src/demo/demo.config.js';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { rawConnect, type RawConnect } from './harness/raw-stream.js';
import { positionOf } from './harness/event-ids.js';
import { deleteKeys, keysUnder, startRedisCluster } from './harness/redis.js';
import { lossOf, TestStream, type ReceivedEvent, type TestStreamOptions } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * The Redis backplane, end to end: three instances of the demo app in this
 * process, each on its own port, sharing one Redis deployment and one key
 * prefix. Fan-out, the cluster-wide per-user limit, resume on another
 * instance, disconnects and stats are checked through HTTP and real
 * `EventSource` clients only, once on the shared Redis server and once on a
 * three-master Redis Cluster that the suite starts itself.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREFIX = `sse-test-${process.pid}-${Date.now()}-instances:`;
const TYPE = 'note';
/** Long enough for a duplicate or a stray event to show up, were one on its way. */
const SETTLE_MS = 250;
const MAX_PER_USER = 3;
const HISTORY_SIZE = 5;

function publish(server: DemoServer, target: Record<string, unknown>, data: unknown = null): Promise<string> {
  return server.publishId({ ...target, type: TYPE, data });
}

function instanceIdOf(server: DemoServer): string {
  return server.app.get<ResolvedSseOptions>(SSE_OPTIONS).instanceId;
}

function notes(stream: TestStream): ReceivedEvent[] {
  return stream.ofType(TYPE);
}

/** What the suite runs on: the shared Redis server, or a Redis Cluster of its own. */
interface Deployment {
  readonly name: string;
  start(): Promise<{ config: Partial<DemoConfig>; client: Redis | Cluster; stop(): Promise<void> }>;
}

const DEPLOYMENTS: Deployment[] = [
  {
    name: 'one Redis server',
    async start() {
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      return { config: { redisUrl: REDIS_URL }, client, stop: async () => client.disconnect() };
    },
  },
  {
    // Every script's keys share a slot, or the cluster refuses it (CROSSSLOT): this runs them all.
    name: 'a Redis Cluster of three masters',
    async start() {
      const cluster = await startRedisCluster(3);
      return { config: { redisClusterNodes: cluster.nodes }, client: cluster.client(), stop: () => cluster.stop() };
    },
  },
];

describe.each(DEPLOYMENTS)('Redis backplane on $name: three instances', (deployment) => {
  let redis: Redis | Cluster;
  let stopDeployment: () => Promise<void>;
  let deploymentConfig: Partial<DemoConfig>;
  let a: DemoServer;
  let b: DemoServer;
  let c: DemoServer;
  const streams: TestStream[] = [];
  const raws: RawConnect[] = [];

  async function open(server: DemoServer, userId: string, options: TestStreamOptions = {}): Promise<TestStream> {
    const stream = await TestStream.open(server.url, await signToken(userId), { types: [TYPE], ...options });
    streams.push(stream);
    return stream;
  }

  async function raw(server: DemoServer, userId: string): Promise<RawConnect> {
    const connect = await rawConnect(server.url, await signToken(userId));
    raws.push(connect);
    return connect;
  }

  beforeAll(async () => {
    ({ client: redis, config: deploymentConfig, stop: stopDeployment } = await deployment.start());
    const config = {
      ...deploymentConfig,
      redisKeyPrefix: PREFIX,
      redisLeaseTtlMs: 3000,
      maxConnectionsPerUser: MAX_PER_USER,
      historySize: HISTORY_SIZE,
    };
    [a, b, c] = await Promise.all([startDemoServer(config), startDemoServer(config), startDemoServer(config)]);
  });

  afterEach(async () => {
    streams.splice(0).forEach((stream) => stream.close());
    raws.splice(0).forEach((connect) => connect.close());
    // Every test starts from an empty cluster (not asserted here: the tests that care assert it).
    await eventually(async () => (await a.stats()).streams === 0, 5000, 'the cluster to hold no stream').catch(() => undefined);
  });

  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((server) => server.close()));
    try {
      await deleteKeys(redis, PREFIX);
      expect(await keysUnder(redis, PREFIX)).toEqual([]);
    } finally {
      await stopDeployment();
    }
  }, 10_000);

  it('uses one Redis key prefix for everything it writes', async () => {
    await publish(a, { userId: 'keys-check' }, 0);
    const keys = await keysUnder(redis, PREFIX);
    expect(keys).toEqual(
      expect.arrayContaining([`${PREFIX}{events}:log`, `${PREFIX}{events}:last-id`, `${PREFIX}{events}:history:user:keys-check`]),
    );
    expect(keys.every((key) => key.startsWith(PREFIX))).toBe(true);
  });

  describe('fan-out', () => {
    it('an event published on A reaches a stream on B once, with the id of the 202 and of a stream on A', async () => {
      const onA = await open(a, 'ann');
      const onB = await open(b, 'ann');
      const first = await publish(a, { userId: 'ann' }, { n: 1 });
      // A second event, from C: whatever arrives before it has arrived.
      const second = await publish(c, { userId: 'ann' }, { n: 2 });
      await onA.waitForType(TYPE, 2);
      await onB.waitForType(TYPE, 2);
      await sleep(SETTLE_MS);
      for (const stream of [onA, onB]) {
        expect(notes(stream)).toEqual([
          { type: TYPE, id: first, data: '{"n":1}' },
          { type: TYPE, id: second, data: '{"n":2}' },
        ]);
      }
    });

    it("a publish to user X reaches none of user Y's streams, on any instance", async () => {
      const xOnB = await open(b, 'xavier');
      const yStreams = [await open(a, 'yvonne'), await open(b, 'yvonne'), await open(c, 'yvonne')];
      const forX = await publish(a, { userId: 'xavier' }, 'for x');
      const forXs = await publish(c, { userIds: ['xavier', 'xena'] }, 'for x and xena');
      const forY = await publish(a, { userId: 'yvonne' }, 'for y');
      await xOnB.waitForType(TYPE, 2);
      for (const stream of yStreams) await stream.waitForType(TYPE, 1);
      await sleep(SETTLE_MS);
      expect(notes(xOnB).map((e) => e.id)).toEqual([forX, forXs]);
      // Events arrive in id order: had the ones for X reached Y, they would have come before forY.
      for (const stream of yStreams) expect(notes(stream).map((e) => e.id)).toEqual([forY]);
    });

    it('a broadcast reaches streams of every user on every instance, once, with one id', async () => {
      const all = [await open(a, 'bea'), await open(b, 'ben'), await open(c, 'bob'), await open(a, 'ben')];
      const broadcast = await publish(b, { broadcast: true }, 'hello all');
      const after = await publish(c, { broadcast: true }, 'again');
      for (const stream of all) await stream.waitForType(TYPE, 2);
      await sleep(SETTLE_MS);
      for (const stream of all) {
        expect(notes(stream)).toEqual([
          { type: TYPE, id: broadcast, data: '"hello all"' },
          { type: TYPE, id: after, data: '"again"' },
        ]);
      }
    });
  });

  describe('the per-user limit holds across the cluster', () => {
    it(`${MAX_PER_USER} streams spread over A and B: a 4th is refused on every instance; closing one frees a slot for another instance`, async () => {
      const onA = [await open(a, 'lim'), await open(a, 'lim')];
      await open(b, 'lim');

      for (const server of [a, b, c]) {
        const refused = await raw(server, 'lim');
        expect(refused.status).toBe(429);
        expect(refused.retryAfter).toBe('10');
        expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 429, scope: 'user', limit: MAX_PER_USER });
        expect(JSON.parse(refused.body).message).toContain('Too many connections');
      }
      // Another user is not affected.
      await open(b, 'lim-other');

      onA[0].close();
      // The slot is freed once A sees the connection close: a stream on B gets it.
      let reopened: RawConnect | undefined;
      await eventually(
        async () => {
          const attempt = await raw(b, 'lim');
          if (attempt.status === 200) reopened = attempt;
          return attempt.status === 200;
        },
        5000,
        'a slot freed on A to be usable on B',
      );
      expect(reopened?.status).toBe(200);
      // And the cluster is full again.
      expect((await raw(c, 'lim')).status).toBe(429);
      const cluster = await c.stats();
      expect(cluster.streams).toBe(MAX_PER_USER + 1);
      expect(cluster.users).toBe(2);
    });

    it('with one slot left, 20 parallel connects at A and B: exactly one is admitted; then stats reach 0', async () => {
      await open(a, 'racer');
      await open(b, 'racer');
      const token = await signToken('racer');
      const attempts = await Promise.all(
        Array.from({ length: 20 }, (_, i) => rawConnect((i % 2 === 0 ? a : b).url, token)),
      );
      raws.push(...attempts);
      const statuses = attempts.map((attempt) => attempt.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 429)).toHaveLength(19);
      expect((await b.stats()).streams).toBe(MAX_PER_USER);

      streams.splice(0).forEach((stream) => stream.close());
      raws.splice(0).forEach((connect) => connect.close());
      await eventually(async () => (await a.stats()).streams === 0, 5000, 'stats on A to reach 0');
      const [onA, onB, onC] = await Promise.all([a.stats(), b.stats(), c.stats()]);
      for (const s of [onA, onB, onC]) expect(s).toEqual({ streams: 0, users: 0, instances: [] });
    });
  });

  describe('resume on another instance', () => {
    it('a stream closed on A resumes on B with Last-Event-ID: exactly the missed events, in order, then live ones', async () => {
      const first = await open(a, 'rex');
      const seen = [await publish(a, { userId: 'rex' }, 0), await publish(b, { userId: 'rex' }, 1)];
      await first.waitForType(TYPE, 2);
      expect(notes(first).map((e) => e.id)).toEqual(seen);
      const lastId = notes(first)[1].id;
      first.close();

      const missed: string[] = [];
      for (let i = 0; i < 3; i++) {
        missed.push(await publish([a, b, c][i], { userId: 'rex' }, `missed-${i}`));
        // Not for rex: never replayed to him.
        await publish(c, { userId: 'not-rex' }, i);
      }

      const second = await open(b, 'rex', { headers: { 'Last-Event-ID': lastId } });
      await second.waitForType(TYPE, missed.length);
      const live = [await publish(c, { userId: 'rex' }, 'live-1'), await publish(a, { userId: 'rex' }, 'live-2')];
      await second.waitForType(TYPE, missed.length + live.length);
      await sleep(SETTLE_MS);
      expect(second.events[0]).toMatchObject({ type: 'sse.ready', id: lastId });
      expect(notes(second).map((e) => e.id)).toEqual([...missed, ...live]);
      expect(notes(second).map((e) => JSON.parse(e.data))).toEqual(['missed-0', 'missed-1', 'missed-2', 'live-1', 'live-2']);
      expect(second.ofType('sse.loss')).toEqual([]);
      expect(second.ofType('sse.ready')).toHaveLength(1);
    });

    it(`a cursor older than the history (historySize ${HISTORY_SIZE}) gives 'expired' on another instance; the one just inside it resumes`, async () => {
      const first = await open(a, 'eve');
      const firstId = await publish(a, { userId: 'eve' }, 0);
      await first.waitForType(TYPE, 1);
      first.close();
      const away: string[] = [];
      for (let i = 1; i <= HISTORY_SIZE + 1; i++) away.push(await publish(a, { userId: 'eve' }, i));

      const expired = await open(b, 'eve', { headers: { 'Last-Event-ID': firstId } });
      await sleep(SETTLE_MS);
      expect(expired.events.map((e) => e.type)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(expired.events[1])).toEqual({ reason: 'expired', lastEventId: firstId });
      // It starts live, from the newest event this instance knows.
      expect(expired.events[0].id).toBe(away[away.length - 1]);
      const live = await publish(c, { userId: 'eve' }, 'live');
      await expired.waitForType(TYPE, 1);
      expect(notes(expired).map((e) => e.id)).toEqual([live]);
      expired.close();

      // The live event trimmed away[1]: from it, the 5 kept events are all there is to replay.
      const edge = await open(c, 'eve', { headers: { 'Last-Event-ID': away[1] } });
      await edge.waitForType(TYPE, HISTORY_SIZE);
      await sleep(SETTLE_MS);
      expect(edge.ofType('sse.loss')).toEqual([]);
      expect(notes(edge).map((e) => e.id)).toEqual([...away.slice(2), live]);
    });

    it("events dropped by age (historyTtlMs) give 'expired', not a replay with a hole in it", async () => {
      // An instance of the cluster whose publishes keep events for 1 s only.
      const d = await startDemoServer({
        ...deploymentConfig,
        redisKeyPrefix: PREFIX,
        redisLeaseTtlMs: 3000,
        maxConnectionsPerUser: MAX_PER_USER,
        historySize: HISTORY_SIZE,
        historyTtlMs: 1000,
      });
      try {
        const first = await open(a, 'tina');
        const cursor = await publish(d, { userId: 'tina' }, 0);
        await first.waitForType(TYPE, 1);
        first.close();
        // Missed, then aged out of the history.
        await publish(d, { userId: 'tina' }, 'aged');
        await sleep(1200);
        // Trims the aged event (and the cursor) from tina's history, which itself lives 1 s more.
        const fresh = await publish(d, { userId: 'tina' }, 2);

        const resumed = await open(d, 'tina', { headers: { 'Last-Event-ID': cursor } });
        await sleep(SETTLE_MS);
        // Never `fresh` alone: the client would not know that the aged event is missing.
        expect({
          loss: resumed.ofType('sse.loss').map(lossOf),
          replayed: notes(resumed).map((e) => JSON.parse(e.data)),
          startsAt: resumed.events[0].id,
        }).toEqual({ loss: [{ reason: 'expired', lastEventId: cursor }], replayed: [], startsAt: fresh });
      } finally {
        streams.splice(0).forEach((stream) => stream.close());
        await d.close();
      }
    });

    it("a garbage Last-Event-ID gives 'malformed', one from the future 'unknown'; both streams then go live", async () => {
      const garbage = await open(b, 'gus', { headers: { 'Last-Event-ID': 'garbage' } });
      const future = `${Date.now() + 3_600_000}-0`;
      const unknown = await open(c, 'gus', { headers: { 'Last-Event-ID': future } });
      await sleep(SETTLE_MS);
      expect(garbage.ofType('sse.loss').map(lossOf)).toEqual([{ reason: 'malformed', lastEventId: 'garbage' }]);
      expect(unknown.ofType('sse.loss').map(lossOf)).toEqual([{ reason: 'unknown', lastEventId: future }]);
      const live = await publish(a, { userId: 'gus' }, 'live');
      for (const stream of [garbage, unknown]) {
        await stream.waitForType(TYPE, 1);
        expect(notes(stream).map((e) => e.id)).toEqual([live]);
        expect(stream.events.map((e) => e.type)).toEqual(['sse.ready', 'sse.loss', TYPE]);
      }
    });
  });

  describe('disconnect across instances', () => {
    it('DELETE /sse/connections/:user on A closes the streams of the user on A and B with sse.close, and counts both', async () => {
      const dan = [await open(a, 'dan'), await open(b, 'dan')];
      const bystander = await open(b, 'dora');
      const lastId = await publish(c, { userId: 'dan' }, 'before');
      for (const stream of dan) await stream.waitForType(TYPE, 1);

      const res = await fetch(`${a.url}/sse/connections/dan`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${a.adminToken}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ closed: 2 });

      for (const stream of dan) {
        const [close] = await stream.waitForType('sse.close');
        expect(JSON.parse(close.data)).toEqual({ reason: 'closed-by-server' });
        expect(close.id).toBe(lastId);
        // The server ended the response: the client sees an error and would reconnect in `retry` ms.
        await stream.until(() => stream.errors.length > 0);
        expect(stream.source.readyState).toBe(stream.source.CONNECTING);
        stream.close();
      }
      // Their slots are freed cluster-wide; the other user's stream is untouched.
      await eventually(async () => (await c.stats()).streams === 1, 5000, "dan's slots to be freed");
      expect((await a.stats()).users).toBe(1);
      const live = await publish(a, { userId: 'dora' }, 'still here');
      await bystander.waitForType(TYPE, 1);
      expect(notes(bystander).map((e) => e.id)).toEqual([live]);
      expect(bystander.ofType('sse.close')).toEqual([]);

      const none = await fetch(`${b.url}/sse/connections/dan`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${b.adminToken}` },
      });
      expect(await none.json()).toEqual({ closed: 0 });
    });
  });

  describe('resumes that arrive together', () => {
    /** `sse_history_reads_total{result}` as the instance's /metrics shows it. */
    async function historyReads(server: DemoServer, result: 'sent' | 'merged'): Promise<number> {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text.split('\n').find((entry) => entry.startsWith(`sse_history_reads_total{result="${result}"}`));
      return line ? Number(line.split(' ')[1]) : 0;
    }

    it('read a shared history once, and each client still gets exactly what it missed', async () => {
      const users = Array.from({ length: 12 }, (_, i) => `storm-${i}`);
      const first = await Promise.all(users.map((userId) => open(a, userId)));
      const seen = await publish(a, { broadcast: true }, 'seen');
      await Promise.all(first.map((stream) => stream.waitForType(TYPE, 1)));
      first.forEach((stream) => stream.close());
      const missed = [await publish(a, { broadcast: true }, 'm1'), await publish(a, { userId: users[3] }, 'own')];
      missed.push(await publish(a, { broadcast: true }, 'm2'));

      // The same cursor, straight from the history store, in one tick: the broadcasts' history is read once.
      const store = c.app.get(HistoryStore);
      const [sentBefore, mergedBefore] = [await historyReads(c, 'sent'), await historyReads(c, 'merged')];
      const cursor = positionOf(seen);
      const reads = await Promise.all(users.map((userId) => store.read([`user:${userId}`, 'all'], cursor, positionOf(missed[2]))));
      expect(await historyReads(c, 'sent')).toBe(sentBefore + users.length + 1);
      expect(await historyReads(c, 'merged')).toBe(mergedBefore + users.length - 1);
      reads.forEach((read, i) =>
        expect(read.events.map((event) => event.message.id)).toEqual(i === 3 ? missed : [missed[0], missed[2]]),
      );

      // Over HTTP, all at once on B: every client gets what it missed, once, in order.
      const resumed = await Promise.all(users.map((userId) => open(b, userId, { headers: { 'Last-Event-ID': seen } })));
      await Promise.all(resumed.map((stream, i) => stream.waitForType(TYPE, i === 3 ? 3 : 2)));
      await sleep(SETTLE_MS);
      resumed.forEach((stream, i) => {
        expect(stream.ofType('sse.loss')).toEqual([]);
        expect(notes(stream).map((event) => event.id)).toEqual(i === 3 ? missed : [missed[0], missed[2]]);
      });
    });
  });

  describe("unrecorded events and signals (the broker as the library's services use it)", () => {
    it('an unrecorded event reaches streams on every instance in order, and is not replayed on resume', async () => {
      const onB = await open(b, 'una', { types: [TYPE, 'live-only'] });
      const broker = a.app.get(Broker);
      const kept = await publish(a, { userId: 'una' }, 1);
      const unrecorded = await broker.publish({ userIds: ['una'] }, 'live-only', '{"n":2}', { record: false });
      const last = await publish(a, { userId: 'una' }, 3);
      await onB.until(() => notes(onB).length === 2);
      expect(onB.events.filter((e) => e.type !== 'sse.ready').map((e) => e.id)).toEqual([kept, unrecorded.message.id, last]);
      // A resume from before all three, on C, replays the recorded two only.
      const ready = onB.ofType('sse.ready')[0].id;
      const resumed = await open(c, 'una', { types: [TYPE, 'live-only'], headers: { 'Last-Event-ID': ready } });
      await resumed.until(() => notes(resumed).length === 2);
      await sleep(SETTLE_MS);
      expect(resumed.events.filter((e) => e.type !== 'sse.ready').map((e) => e.id)).toEqual([kept, last]);
    });

    it('a signal sent on one instance reaches the handlers of its channel on every instance, once each', async () => {
      const heard: string[] = [];
      const stops = [a, b, c].map((server, i) =>
        server.app.get(Broker).onSignal('test-channel', (data) => heard.push(`${'abc'[i]}:${data}`)),
      );
      try {
        await b.app.get(Broker).signal('test-channel', 'first');
        await c.app.get(Broker).signal('test-channel', 'second');
        await eventually(() => heard.length === 6, 5000, 'both signals on the three instances');
        await sleep(SETTLE_MS);
        expect([...heard].sort()).toEqual(['a:first', 'a:second', 'b:first', 'b:second', 'c:first', 'c:second']);
        // In the broker's one order: every instance hears the first before the second.
        for (const name of 'abc') {
          expect(heard.filter((entry) => entry.startsWith(name))).toEqual([`${name}:first`, `${name}:second`]);
        }
      } finally {
        stops.forEach((stop) => stop());
      }
    });
  });

  describe('stats', () => {
    it('every instance reports the cluster total and an entry per instance holding streams', async () => {
      await open(a, 'sam');
      await open(a, 'sue');
      await open(b, 'sid');
      await open(b, 'sid');
      const expected = {
        streams: 4,
        users: 3,
        instances: expect.arrayContaining([
          { id: instanceIdOf(a), streams: 2, users: 2 },
          { id: instanceIdOf(b), streams: 2, users: 1 },
        ]),
      };
      for (const server of [a, b, c]) {
        const s = await server.stats();
        expect(s).toEqual(expected);
        // C holds no stream: no entry for it.
        expect(s.instances).toHaveLength(2);
      }
      expect(new Set([a, b, c].map(instanceIdOf)).size).toBe(3);

      streams.splice(0).forEach((stream) => stream.close());
      await eventually(async () => (await b.stats()).streams === 0, 5000, 'stats to reach 0');
      expect(await c.stats()).toEqual({ streams: 0, users: 0, instances: [] });
    });
  });
});
