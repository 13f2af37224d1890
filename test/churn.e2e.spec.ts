import { Redis } from 'ioredis';
import { RedisKeys } from '../src/sse/index.js';
import { stats } from './harness/admin-api.js';
import { TEST_ADAPTER } from './harness/demo-server.js';
import { type Child, listeningUrl, spawnDemo } from './harness/demo-process.js';
import { LeanClient } from './harness/lean-client.js';
import { deleteKeys, keysUnder } from './harness/redis.js';
import { signToken } from './harness/tokens.js';
import { eventually } from './harness/waiting.js';

/**
 * Connection slots under load, with lean raw-socket clients: 10,000 connect
 * and disconnect cycles of one user, half of them cut abruptly at every stage
 * of a request, leave no slot held, in memory and over Redis; 1,000 parallel
 * connects of one user admit exactly the limit, on one instance and spread
 * over two sharing Redis. The demo runs as `node dist/main.js` children, so
 * that clients and servers use both cores. Slots are counted through the app:
 * `GET /sse/stats` (the limiter's usage), `DELETE /sse/connections` (the
 * user's slots, as the limiter holds them), `GET /health` (the streams this
 * instance serves), and Redis's lease sets.
 *
 * These cost seconds of both cores, so each runs in one Jest project only:
 * churn in memory over Express, churn over Redis and the flood over Fastify
 * (the demo's default). Each adapter sees its responses end (the slot's
 * release) through one churn, each store holds its slots through one, and the
 * flood's one question, whether two instances can both admit the last slot,
 * is Redis's to answer, whatever the adapter.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const RUN = `${process.pid}-${Date.now()}-${TEST_ADAPTER}`;
const CYCLES = 10_000;
/** Clients at once: the cycles of one user overlap, as reconnecting tabs do. */
const LANES = 8;
const LIMIT = 8;
const FLOOD = 1000;
const FLOOD_LIMIT = 5;

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Runs `count` tasks, `width` at a time. */
async function pool(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

/** How a cycle ends: cleanly after the ready event, or cut (RST) before the answer, after its head, or mid-stream. */
type Ending = 'end after ready' | 'cut at once' | 'cut after the head' | 'cut after ready';

function endingOf(i: number): Ending {
  // Every other cycle is abrupt, at one of three points.
  if (i % 2 === 0) return 'end after ready';
  return (['cut at once', 'cut after the head', 'cut after ready'] as const)[((i - 1) / 2) % 3];
}

interface Tally {
  admitted: number;
  refused: number;
  cutBeforeAnswer: number;
  other: string[];
}

async function cycle(port: number, token: string, i: number, tally: Tally): Promise<void> {
  const client = await LeanClient.open(port, token);
  const ending = endingOf(i);
  if (ending === 'cut at once') {
    client.cut();
    tally.cutBeforeAnswer++;
    return;
  }
  if (ending === 'cut after the head') {
    await client.until(() => client.status !== 0 || client.closed, 10_000);
    client.cut();
  } else {
    await client.settled();
  }
  const status = client.status;
  if (status === 200) tally.admitted++;
  else if (status === 429) tally.refused++;
  else tally.other.push(`${ending}: ${status} ${client.body.slice(0, 200)}`);
  if (ending === 'end after ready') client.end();
  else client.cut();
}

/** Every count of the app says no slot is held: stats, the user's slots, each instance's streams, and Redis's leases. */
async function expectNoSlotHeld(urls: string[], userId: string, redis?: { client: Redis; prefix: string }): Promise<void> {
  const admin = await signToken('admin', { roles: ['admin'] });
  await eventually(async () => (await stats(urls[0], admin)).streams === 0, 10_000, `the slots of ${userId} to be freed`);
  expect(await stats(urls[0], admin)).toMatchObject({ streams: 0, users: 0 });
  const user = await signToken(userId);
  for (const url of urls) {
    const closed = await fetch(`${url}/sse/connections`, { method: 'DELETE', headers: { Authorization: `Bearer ${user}` } });
    expect(await closed.json()).toEqual({ closed: 0 });
    const health = (await (await fetch(`${url}/health`)).json()) as { info: { sse: { streams: number; users: number } } };
    expect(health.info.sse).toMatchObject({ streams: 0, users: 0 });
  }
  if (redis) {
    const keys = new RedisKeys(redis.prefix);
    expect(await redis.client.zcard(keys.userLeases(userId))).toBe(0);
    for (const instance of (await redis.client.zrange(keys.instances, '0', '-1')) as string[]) {
      expect({ instance, leases: await redis.client.scard(keys.instanceLeases(instance)) }).toEqual({ instance, leases: 0 });
    }
  }
}

/** The limit still holds exactly: `limit` streams are admitted, the next one is refused, then they close. */
async function expectExactLimit(urls: string[], token: string, limit: number): Promise<void> {
  const clients: LeanClient[] = [];
  for (let i = 0; i < limit + 1; i++) {
    const client = await LeanClient.open(portOf(urls[i % urls.length]), token);
    clients.push(client);
    await client.settled();
  }
  expect(clients.map((client) => client.status)).toEqual([...Array<number>(limit).fill(200), 429]);
  clients.forEach((client) => client.end());
}

describe(`connection slots under churn and floods · ${TEST_ADAPTER}`, () => {
  let redis: Redis;
  const children: Child[] = [];
  const prefixes: string[] = [];

  /** A demo instance in a child process; resolves to its base URL. */
  async function start(limit: number, prefix?: string): Promise<string> {
    const child = spawnDemo({
      PORT: '0',
      SSE_MAX_CONNECTIONS_PER_USER: String(limit),
      ...(prefix ? { REDIS_URL, SSE_REDIS_PREFIX: prefix } : {}),
    });
    children.push(child);
    return listeningUrl(child);
  }

  function redisPrefix(name: string): string {
    const prefix = `sse-test-${RUN}-${name}:`;
    prefixes.push(prefix);
    return prefix;
  }

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill('SIGTERM')));
  });

  afterAll(async () => {
    try {
      for (const prefix of prefixes) {
        await deleteKeys(redis, prefix);
        expect(await keysUnder(redis, prefix)).toEqual([]);
      }
    } finally {
      redis.disconnect();
    }
  });

  describe(`${CYCLES.toLocaleString('en')} connect/disconnect cycles of one user, half of them cut abruptly, leave 0 slots held`, () => {
    for (const [store, adapter] of [['in memory', 'express'], ['over Redis', 'fastify']] as const) {
      (TEST_ADAPTER === adapter ? test : test.skip)(`${store} (run over ${adapter})`, async () => {
        const prefix = store === 'over Redis' ? redisPrefix('churn') : undefined;
        const url = await start(LIMIT, prefix);
        const userId = `churner-${store === 'in memory' ? 'memory' : 'redis'}`;
        const token = await signToken(userId);
        const tally: Tally = { admitted: 0, refused: 0, cutBeforeAnswer: 0, other: [] };
        const started = Date.now();
        await pool(CYCLES, LANES, (i) => cycle(portOf(url), token, i, tally));
        const cyclesMs = Date.now() - started;

        // Every answer was a stream or a 429 (a slot freed a moment after its client left), never anything else.
        expect(tally.other).toEqual([]);
        expect(tally.admitted + tally.refused + tally.cutBeforeAnswer).toBe(CYCLES);
        // Most cycles really took a slot: a run of refusals would churn nothing.
        expect(tally.admitted).toBeGreaterThan(CYCLES / 2);
        await expectNoSlotHeld([url], userId, prefix ? { client: redis, prefix } : undefined);
        await expectExactLimit([url], token, LIMIT);
        await expectNoSlotHeld([url], userId, prefix ? { client: redis, prefix } : undefined);
        if (process.env.SSE_TEST_FIGURES) {
          console.log(`churn ${store} · ${TEST_ADAPTER}: ${CYCLES} cycles in ${cyclesMs} ms; ${JSON.stringify(tally)}`);
        }
      }, 120_000);
    }
  });

  describe(`${FLOOD.toLocaleString('en')} parallel connects of one user admit exactly the limit (${FLOOD_LIMIT})`, () => {
    (TEST_ADAPTER === 'fastify' ? test : test.skip)('spread over two instances sharing Redis (run over fastify)', async () => {
        const prefix = redisPrefix('flood');
        const cluster = await Promise.all([start(FLOOD_LIMIT, prefix), start(FLOOD_LIMIT, prefix)]);
        const userId = 'flooder';
        const token = await signToken(userId);

        const clients = await Promise.all(
          Array.from({ length: FLOOD }, (_, i) => LeanClient.open(portOf(cluster[i % cluster.length]), token)),
        );
        await Promise.all(clients.map((client) => client.settled(20_000)));
        const statuses = clients.map((client) => client.status);
        expect(statuses.filter((status) => status === 200)).toHaveLength(FLOOD_LIMIT);
        expect(statuses.filter((status) => status === 429)).toHaveLength(FLOOD - FLOOD_LIMIT);
        // Each refusal is the JSON 429 with Retry-After, and the admitted streams are counted where they are.
        for (const refused of clients.filter((client) => client.status === 429)) {
          expect(refused.header('retry-after')).toBe('10');
          expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 429, limit: FLOOD_LIMIT, scope: 'user' });
        }
        expect(await stats(cluster[0], await signToken('admin', { roles: ['admin'] }))).toMatchObject({ streams: FLOOD_LIMIT, users: 1 });
        // Admitted on both instances, as the connects were spread, and counted where they are.
        const admittedAt = cluster.map((_, i) => clients.filter((client, j) => j % 2 === i && client.status === 200).length);
        for (const [i, url] of cluster.entries()) {
          const health = (await (await fetch(`${url}/health`)).json()) as { info: { sse: { streams: number } } };
          expect(health.info.sse.streams).toBe(admittedAt[i]);
        }

        clients.forEach((client) => client.end());
        await expectNoSlotHeld(cluster, userId, { client: redis, prefix });
      }, 60_000);
  });
});
