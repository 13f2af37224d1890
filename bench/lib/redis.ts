// The bench's Redis: for each scenario that needs one, a redis-server of its own on a free
// port (nothing saved), so that Redis's own counters (INFO commandstats) count that
// scenario's commands alone and no shared Redis carries 100,000 leases; or, with
// --redis-url, the one given.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

export interface BenchRedis {
  readonly url: string;
  /** Started by the bench (its counters are the bench's alone), or given. */
  readonly own: boolean;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `redis-server` on a free port of 127.0.0.1, with no persistence; resolves once it answers PING. */
export async function startRedisServer(): Promise<BenchRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '10000'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  failed.catch(() => undefined); // raced below; an error after the start has nobody to tell
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answered = await Promise.race([failed, withRedis(url, (redis) => redis.ping()).catch(() => undefined)]);
    if (answered === 'PONG') break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer within 10 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    own: true,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A Redis that someone else runs (a URL given): used as is, never stopped. */
export function givenRedis(url: string): BenchRedis {
  return { url, own: false, stop: async () => undefined };
}

/** Where the scenarios' Redis comes from. */
export interface RedisSource {
  /** A redis-server per scenario (true), or the one given. */
  readonly own: boolean;
  readonly describe: string;
  /** A Redis for one scenario; `stop()` it after. */
  open(): Promise<BenchRedis>;
}

/**
 * The given URL; else a redis-server per scenario, if one starts here; else `fallback` (the environment's
 * REDIS_URL, shared: Redis's counts then include other clients'); else none.
 */
export async function findRedis(given: string | undefined, fallback: string | undefined): Promise<RedisSource | { none: string }> {
  const shared = (url: string, describe: string): RedisSource => ({ own: false, describe, open: async () => givenRedis(url) });
  if (given) return shared(given, `${given}, given`);
  try {
    await (await startRedisServer()).stop();
    return { own: true, describe: 'a redis-server of its own for each scenario', open: startRedisServer };
  } catch (err) {
    if (fallback) return shared(fallback, `${fallback} (REDIS_URL: no redis-server here, ${(err as Error).message})`);
    return { none: `${(err as Error).message}: install redis-server, or give --redis-url` };
  }
}

/** Runs `work` with a Redis of `source`, stopped after. */
export async function withBenchRedis<T>(source: RedisSource, work: (redis: BenchRedis) => Promise<T>): Promise<T> {
  const redis = await source.open();
  try {
    return await work(redis);
  } finally {
    await redis.stop();
  }
}

/** A client for one piece of work; one that cannot connect fails rather than retrying. */
export async function withRedis<T>(url: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix`; resolves to how many there were. */
export function cleanRedis(url: string, prefix: string): Promise<number> {
  return withRedis(url, async (redis) => {
    let cleaned = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length > 0) cleaned += await redis.unlink(...keys);
    } while (cursor !== '0');
    return cleaned;
  });
}

/** Lua script calls Redis has run since it started (`cmdstat_evalsha` and `cmdstat_eval` of INFO commandstats). */
export function scriptCalls(url: string): Promise<number> {
  return withRedis(url, async (redis) => {
    const info = await redis.info('commandstats');
    let calls = 0;
    for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
    return calls;
  });
}
