import { Redis } from 'ioredis';
import pg from 'pg';
import type { DemoConfig } from '../src/demo/demo.config.js';
import { startDemoServer, TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import { everyItem, getInbox, inboxEvents, mark } from './harness/inbox-api.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { deleteKeys, keysUnder } from './harness/redis.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * The inbox kept where it lasts: two instances of the demo app in this process
 * sharing a real Redis (their own key prefix), and the demo on a real
 * PostgreSQL (its own schema). Instances are restarted; the servers are not.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `${process.pid}_${Date.now()}_${TEST_ADAPTER}`;

afterEach(closeOpened);

let users = 0;
async function user(): Promise<{ id: string; token: string }> {
  const id = `durable-${++users}`;
  return { id, token: await signToken(id) };
}

async function open(server: DemoServer, token: string): Promise<TestStream> {
  return track(await TestStream.open(server.url, token, { types: ['sse.inbox', 'todo'] }));
}

const keep = (server: DemoServer, target: Record<string, unknown>, data: unknown = null) =>
  server.publishId({ ...target, type: 'todo', data, inbox: true });

/** What a restart must keep: every item, its marks, and the count. */
async function snapshot(server: DemoServer, token: string) {
  return {
    all: await everyItem(server.url, token, 'all', 100),
    archived: await everyItem(server.url, token, 'archived', 100),
    unread: (await getInbox(server.url, token)).json.unread,
  };
}

describe('over Redis: two instances', () => {
  const prefix = `sse-inbox-test-${RUN}:`;
  const config: Partial<DemoConfig> = { redisUrl: REDIS_URL, redisKeyPrefix: prefix };
  let redis: Redis;
  let a: DemoServer;
  let b: DemoServer;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    [a, b] = await Promise.all([startDemoServer(config), startDemoServer(config)]);
  });

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((server) => server.close()));
    try {
      await deleteKeys(redis, prefix);
      expect(await keysUnder(redis, prefix)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('a mark on one instance shows on a stream of the other within a second', async () => {
    const ann = await user();
    const onB = await open(b, ann.token);
    const id = await keep(a, { userId: ann.id });
    await onB.waitForType('sse.inbox', 1);
    const marked = Date.now();
    expect(await mark(a.url, ann.token, 'read', { ids: [id] })).toBe(0);
    await onB.waitForType('sse.inbox', 2, 1000);
    expect(Date.now() - marked).toBeLessThan(1000);
    expect(inboxEvents(onB.events)).toEqual([
      { unread: 1, change: 'added', ids: [id] },
      { unread: 0, change: 'read', ids: [id] },
    ]);
  });

  it('50 parallel publishes interleaved with 20 mark-alls, on both instances: counts are exact everywhere', async () => {
    const ann = await user();
    const onA = await open(a, ann.token);
    const onB = await open(b, ann.token);
    const answers: number[] = [];
    const ids = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => keep(i % 2 ? a : b, { userId: ann.id }, i)),
      ...Array.from({ length: 20 }, (_, i) =>
        mark((i % 2 ? b : a).url, ann.token, 'read', { all: true }).then((unread) => {
          answers.push(unread);
          return '';
        }),
      ),
    ]);
    expect(new Set(ids.filter(Boolean)).size).toBe(50);
    expect(answers.every((unread) => unread >= 0 && unread <= 50)).toBe(true);

    const items = await everyItem(b.url, ann.token, 'all', 100);
    expect(items).toHaveLength(50);
    const unread = items.filter((item) => item.readAt === null).length;
    expect((await getInbox(a.url, ann.token)).json.unread).toBe(unread);
    expect((await getInbox(b.url, ann.token)).json.unread).toBe(unread);
    // Every stream ends on the same, exact count.
    for (const stream of [onA, onB]) {
      await eventually(() => inboxEvents(stream.events).at(-1)?.unread === unread, 5000, `a stream's last count to be ${unread}`);
    }
    // ... and stays there: no older count arrives after it.
    await sleep(500);
    for (const stream of [onA, onB]) expect(inboxEvents(stream.events).at(-1)?.unread).toBe(unread);
  });

  it('a broadcast reaches a user who never connected, on the other instance', async () => {
    const id = await keep(a, { broadcast: true }, 'to everyone');
    const newcomer = await user();
    const items = await everyItem(b.url, newcomer.token, 'unread', 100);
    expect(items.map((item) => item.id)).toContain(id);
  });

  it('a cursor issued by one instance works on the other', async () => {
    const ann = await user();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await keep(i % 2 ? a : b, { userId: ann.id }, i));
    const first = await getInbox(a.url, ann.token, 'limit=4');
    const second = await getInbox(b.url, ann.token, `limit=4&cursor=${encodeURIComponent(first.json.nextCursor!)}`);
    expect(second.status).toBe(200);
    const seen = [...first.json.items, ...second.json.items].map((item) => item.id).filter((id) => ids.includes(id));
    expect(seen).toEqual([...ids].reverse());
  });

  it("keeps the inbox's keys under the prefix, each user's under a hash tag of their own", async () => {
    const ann = await user();
    await keep(a, { userId: ann.id });
    const keys = await keysUnder(redis, prefix);
    expect(keys.every((key) => key.startsWith(prefix))).toBe(true);
    expect(keys).toEqual(expect.arrayContaining([`${prefix}inbox:{user:${ann.id}}:items`, `${prefix}inbox:{all}:items`]));
  });

  it('a restart of every instance keeps everything', async () => {
    const ann = await user();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await keep(a, { userId: ann.id }, i));
    await mark(b.url, ann.token, 'read', { ids: [ids[0]] });
    await mark(a.url, ann.token, 'archive', { ids: [ids[1]] });
    const before = await snapshot(a, ann.token);
    await Promise.all([a.close(), b.close()]);
    [a, b] = await Promise.all([startDemoServer(config), startDemoServer(config)]);
    expect(await snapshot(b, ann.token)).toEqual(before);
    expect(before.archived.map((item) => item.id)).toEqual([ids[1]]);
  });
});

describe('over PostgreSQL', () => {
  const schema = `sse_inbox_e2e_${RUN}`;
  const config: Partial<DemoConfig> = { databaseUrl: DATABASE_URL, databaseSchema: schema };
  let server: DemoServer;

  beforeAll(async () => (server = await startDemoServer(config)));

  afterAll(async () => {
    await server?.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('starts on an empty database (its tables made at startup), and keeps items as plain rows', async () => {
    const ann = await user();
    const id = await keep(server, { userId: ann.id }, { title: 'Call Bob' });
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT feed, id, type, data FROM "${schema}".sse_inbox_items WHERE id = $1`, [id]);
      expect(rows).toEqual([{ feed: `user:${ann.id}`, id, type: 'todo', data: { title: 'Call Bob' } }]);
    } finally {
      await client.end();
    }
  });

  it('a restart keeps everything: items, marks, archive and count', async () => {
    const ann = await user();
    const stream = await open(server, ann.token);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await keep(server, { userId: ann.id }, i));
    ids.push(await keep(server, { broadcast: true }, 'all'));
    await mark(server.url, ann.token, 'read', { ids: [ids[0], ids[5]] });
    await mark(server.url, ann.token, 'archive', { ids: [ids[1]] });
    await stream.waitForType('sse.inbox', 8);
    expect(inboxEvents(stream.events).at(-1)?.unread).toBe(3);
    const before = await snapshot(server, ann.token);
    expect(before.unread).toBe((await everyItem(server.url, ann.token, 'unread', 100)).length);
    stream.close();
    await server.close();
    server = await startDemoServer(config);
    expect(await snapshot(server, ann.token)).toEqual(before);
    expect(await mark(server.url, ann.token, 'read', { all: true })).toBe(0);
  });
});
