// The inbox scenario: what keeping a notification in the inbox adds to a targeted publish (the demo as it ships,
// over HTTP, server CPU, with and without `inbox: true` alternating in one server), how long the unread count
// takes with 10 and with 10,000 items, and how many bytes one item takes in PostgreSQL and in Redis.
import 'reflect-metadata';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  InMemoryInboxStore,
  type InboxStore,
  PostgresInboxStore,
  RedisBackplane,
  RedisInboxStore,
} from '../dist/sse/index.js';
import { DEFAULT_OURS, SERVERS, startServer } from './lib/cluster.js';
import { BENCH_ADMIN_TOKEN, BENCH_JWT_SECRET, signJwt } from './lib/jwt.js';
import { Publisher } from './lib/publisher.js';
import { withRedis } from './lib/redis.js';

export type InboxStoreName = 'memory' | 'redis' | 'postgres';

export interface InboxBenchOptions {
  /** Sends per batch; batches alternate without and with the inbox. */
  sends: number;
  rounds: number;
  /** Users with one open stream each, to whom the sends go. */
  users: number;
  /** Items of the big inbox whose count is timed. */
  big: number;
  countReads: number;
  redisUrl?: string;
  databaseUrl?: string;
  /** The environment of our server for a store (from run.ts). */
  serverEnv: (extra: Record<string, string>) => Record<string, string>;
}

export interface InboxStoreResult {
  store: InboxStoreName;
  /** Server CPU per targeted send over HTTP (µs), without and with `inbox: true`. */
  cpuPerSendUs?: { without: number; with: number };
  /** with / without. */
  publishRatio?: number;
  /** sse.inbox events the streams received: one per send with the inbox. */
  inboxEvents?: number;
  /** Mean time of one unread count (µs), in process, with 10 and with `big` items. */
  countUs?: { small: number; big: number };
  /** Bytes the store holds per item, and per read mark on an item. */
  bytesPerItem?: number;
  bytesPerMark?: number;
  error?: string;
}

export interface InboxResult {
  big: number;
  sends: number;
  stores: InboxStoreResult[];
}

const DATA = { title: 'Call Bob about the quarterly figures', due: '10:00', list: 'work' };

export async function runInboxBench(options: InboxBenchOptions, log: (message: string) => void): Promise<InboxResult> {
  const run = `${process.pid}_${Date.now()}`;
  const stores: InboxStoreName[] = ['memory', ...(options.redisUrl ? ['redis' as const] : []), ...(options.databaseUrl ? ['postgres' as const] : [])];
  const result: InboxResult = { big: options.big, sends: options.sends, stores: [] };
  for (const store of stores) {
    const entry: InboxStoreResult = { store };
    result.stores.push(entry);
    const where = { prefix: `sse-bench-inbox-${run}-${store}:`, schema: `sse_bench_inbox_${run}_${store}` };
    try {
      await publishCost(options, store, where, entry);
      log(
        `inbox (${store}): CPU per targeted send ${entry.cpuPerSendUs!.without.toFixed(0)} µs without, ` +
          `${entry.cpuPerSendUs!.with.toFixed(0)} µs with the inbox (${entry.publishRatio!.toFixed(2)}×)`,
      );
      await countAndBytes(options, store, where, entry);
      log(
        `inbox (${store}): unread count ${entry.countUs!.small.toFixed(0)} µs at 10 items, ${entry.countUs!.big.toFixed(0)} µs at ` +
          `${options.big.toLocaleString('en-US')}${entry.bytesPerItem ? `; ${entry.bytesPerItem.toFixed(0)} bytes per item, ${entry.bytesPerMark!.toFixed(0)} per read mark` : ''}`,
      );
    } catch (err) {
      entry.error = (err as Error).message;
      log(`inbox (${store}): ${entry.error}`);
    } finally {
      await cleanUp(options, store, where).catch((err: Error) => log(`inbox (${store}): could not clean up: ${err.message}`));
    }
  }
  return result;
}

/** The demo on Fastify; users with a stream each; batches of sends without and with the inbox, alternating. */
async function publishCost(
  options: InboxBenchOptions,
  store: InboxStoreName,
  where: { prefix: string; schema: string },
  entry: InboxStoreResult,
): Promise<void> {
  const env = options.serverEnv({
    ...(store === 'redis' ? { REDIS_URL: options.redisUrl!, SSE_REDIS_PREFIX: where.prefix } : {}),
    ...(store === 'postgres' ? { DATABASE_URL: options.databaseUrl!, SSE_INBOX_SCHEMA: where.schema } : {}),
  });
  const server = await startServer(SERVERS[DEFAULT_OURS], { env, name: `${DEFAULT_OURS}-inbox-${store}` });
  const publisher = new Publisher(server.port, '/notifications', BENCH_ADMIN_TOKEN);
  const streams = Array.from({ length: options.users }, (_, i) => openStream(server.port, `inbox-u${i}`));
  try {
    await Promise.all(streams.map((stream) => stream.opened));
    const cpu = { without: 0, with: 0 };
    let sent = 0;
    const batch = async (inbox: boolean) => {
      const before = (await server.stats(false)).cpu;
      await sendAll(publisher, options.sends, (i) => ({ userId: `inbox-u${(sent + i) % options.users}`, type: 'todo', data: DATA, inbox }));
      const after = (await server.stats(false)).cpu;
      sent += options.sends;
      return after.user + after.system - before.user - before.system;
    };
    await batch(false); // warm-up, unmeasured
    await batch(true);
    for (let round = 0; round < options.rounds; round++) {
      cpu.without += await batch(false);
      cpu.with += await batch(true);
    }
    const total = options.sends * options.rounds;
    entry.cpuPerSendUs = { without: cpu.without / total, with: cpu.with / total };
    entry.publishRatio = entry.cpuPerSendUs.with / entry.cpuPerSendUs.without;
    // Every send with the inbox is followed by one sse.inbox on the recipient's stream; wait for the last ones.
    const expected = options.sends * (options.rounds + 1);
    const deadline = Date.now() + 10_000;
    while (streams.reduce((sum, stream) => sum + stream.inboxEvents(), 0) < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    entry.inboxEvents = streams.reduce((sum, stream) => sum + stream.inboxEvents(), 0);
    if (entry.inboxEvents !== expected) throw new Error(`${entry.inboxEvents} sse.inbox events for ${expected} sends with the inbox`);
  } finally {
    streams.forEach((stream) => stream.close());
    publisher.close();
    await server.stop();
  }
}

async function sendAll(publisher: Publisher, count: number, body: (i: number) => unknown): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        const answer = await publisher.post(body(next++));
        if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.body}`);
      }
    }),
  );
}

/** A raw GET /sse that counts the sse.inbox events it receives. */
function openStream(port: number, userId: string) {
  let text = '';
  let count = 0;
  let close = () => undefined as void;
  const opened = new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/sse', headers: { Authorization: `Bearer ${signJwt(BENCH_JWT_SECRET, userId)}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('sse.ready')) resolve();
        const events = text.split('\n\n');
        text = events.pop()!;
        count += events.filter((event) => event.startsWith('event: sse.inbox')).length;
      });
    });
    req.on('error', reject);
    req.end();
    close = () => req.destroy();
  });
  return { opened, inboxEvents: () => count, close: () => close() };
}

/** In this process, on the store alone: the count with 10 and with `big` items, and the bytes of the big inbox. */
async function countAndBytes(
  options: InboxBenchOptions,
  name: InboxStoreName,
  where: { prefix: string; schema: string },
  entry: InboxStoreResult,
): Promise<void> {
  const retention = { maxItems: options.big, maxAgeMs: 90 * 24 * 3_600_000 };
  let store: InboxStore;
  let backplane: RedisBackplane | undefined;
  if (name === 'memory') store = new InMemoryInboxStore(retention);
  else if (name === 'redis') {
    backplane = await RedisBackplane.connect({ url: options.redisUrl, keyPrefix: where.prefix });
    store = new RedisInboxStore(backplane, retention);
  } else {
    store = await PostgresInboxStore.open({ connectionString: options.databaseUrl, schema: where.schema, migrate: true }, retention);
  }
  try {
    const small = { userId: 'count-small', topics: [] };
    const big = { userId: 'count-big', topics: [] };
    await fill(store, small.userId, 10);
    const before = await sizeOf(name, options, where, big.userId);
    await fill(store, big.userId, options.big);
    const filled = await sizeOf(name, options, where, big.userId);
    if ((await store.unread(big)) !== options.big) throw new Error(`the big inbox counts ${await store.unread(big)}, not ${options.big}`);
    entry.countUs = { small: await timeCount(store, small, options.countReads), big: await timeCount(store, big, options.countReads) };
    await store.mark(big, 'all', 'read');
    const marked = await sizeOf(name, options, where, big.userId);
    if (filled !== undefined && before !== undefined && marked !== undefined) {
      entry.bytesPerItem = (filled - before) / options.big;
      entry.bytesPerMark = (marked - filled) / options.big;
    }
  } finally {
    if (store instanceof PostgresInboxStore) await store.onApplicationShutdown();
    await backplane?.close();
  }
}

let positionClock = 0;
async function fill(store: InboxStore, userId: string, count: number): Promise<void> {
  let next = 0;
  const data = JSON.stringify(DATA);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        next++;
        const ms = Date.now();
        const position = { ms, seq: positionClock++ };
        const id = `${position.ms}-${position.seq}`;
        await store.add({ id, position, target: { userIds: [userId] }, type: 'todo', data, createdAt: new Date(ms) });
      }
    }),
  );
}

async function timeCount(store: InboxStore, owner: { userId: string; topics: string[] }, reads: number): Promise<number> {
  for (let i = 0; i < 20; i++) await store.unread(owner);
  const started = performance.now();
  for (let i = 0; i < reads; i++) await store.unread(owner);
  return ((performance.now() - started) * 1000) / reads;
}

/** Bytes the store holds: the inbox tables in PostgreSQL, the user's inbox keys in Redis; none for memory. */
async function sizeOf(name: InboxStoreName, options: InboxBenchOptions, where: { prefix: string; schema: string }, userId: string) {
  if (name === 'redis') {
    return withRedis(options.redisUrl!, async (redis) => {
      let bytes = 0;
      for (const key of await redis.keys(`${where.prefix}inbox:{user:${userId}}*`)) {
        bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      }
      return bytes;
    });
  }
  if (name === 'postgres') {
    return withPostgres(options.databaseUrl!, async (client) => {
      const { rows } = await client.query(
        `SELECT sum(pg_total_relation_size(format('%I.%I', $1::text, t))) AS bytes
         FROM unnest(ARRAY['sse_inbox_items', 'sse_inbox_marks', 'sse_inbox_feeds', 'sse_inbox_seen']) AS t`,
        [where.schema],
      );
      return Number(rows[0].bytes);
    });
  }
  return undefined;
}

async function cleanUp(options: InboxBenchOptions, name: InboxStoreName, where: { prefix: string; schema: string }): Promise<void> {
  if (name === 'redis') {
    await withRedis(options.redisUrl!, async (redis) => {
      const keys = await redis.keys(`${where.prefix}*`);
      if (keys.length > 0) await redis.unlink(...keys);
    });
  }
  if (name === 'postgres') {
    await withPostgres(options.databaseUrl!, (client) => client.query(`DROP SCHEMA IF EXISTS "${where.schema}" CASCADE`));
  }
}

async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The inbox's lines of the printed report, with the publish target (at most 1.3×) per store. */
export function formatInbox(result: InboxResult): string {
  const lines = [`Inbox (${result.sends} sends per batch; count timed at 10 and ${result.big.toLocaleString('en-US')} items):`];
  const cell = (value: number | undefined, digits = 0) => (value === undefined ? '—' : value.toFixed(digits));
  lines.push('  store     CPU/send without  with the inbox  ratio  target <= 1.3  count @10  count @big  bytes/item  bytes/read mark');
  for (const s of result.stores) {
    if (s.error) {
      lines.push(`  ${s.store.padEnd(8)}  error: ${s.error}`);
      continue;
    }
    const holds = s.publishRatio === undefined ? '—' : s.publishRatio <= 1.3 ? 'holds' : 'MISSED';
    lines.push(
      `  ${s.store.padEnd(8)}  ${`${cell(s.cpuPerSendUs?.without)} µs`.padStart(16)}  ${`${cell(s.cpuPerSendUs?.with)} µs`.padStart(14)}` +
        `  ${`${cell(s.publishRatio, 2)}×`.padStart(5)}  ${holds.padStart(13)}  ${`${cell(s.countUs?.small)} µs`.padStart(9)}` +
        `  ${`${cell(s.countUs?.big)} µs`.padStart(10)}  ${cell(s.bytesPerItem).padStart(10)}  ${cell(s.bytesPerMark).padStart(15)}`,
    );
  }
  return lines.join('\n');
}
