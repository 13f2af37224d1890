import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

/** A port nothing listens on (just released by the OS): for a Redis of a suite's own, or one that is not there. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `redis-server` on 127.0.0.1:`port` that saves nothing: started again, it is empty. */
export function spawnRedisServer(port: number, password?: string): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (password) args.push('--requirepass', password);
  return spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A client that connects when told to and fails at once rather than retrying: for a Redis that comes and goes. */
export function probeClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = probeClient(url);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under `prefix`; resolves to how many there were. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  return keys.length > 0 ? redis.del(...keys) : 0;
}

/** A client of the suite's own, connected, for watching and cleaning up what the app writes. */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

/** After a suite: deletes every key under its prefix, checks that none is left, and disconnects. */
export async function removePrefix(redis: Redis, prefix: string): Promise<void> {
  try {
    await deleteKeys(redis, prefix);
    expect(await keysUnder(redis, prefix)).toEqual([]);
  } finally {
    redis.disconnect();
  }
}
