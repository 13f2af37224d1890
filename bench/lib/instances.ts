// Several instances of our server (on Fastify, as the demo ships) over one Redis, under a key prefix
// of their own: what the reconnect storm and the scale scenario run on.
import { DEFAULT_OURS, type LoadPool, SERVERS, type ServerHandle, serverEnv, startServer } from './cluster.js';
import { BENCH_ADMIN_TOKEN } from './jwt.js';
import { teardown, warmUp } from './phases.js';
import { Publisher } from './publisher.js';
import { type BenchRedis, cleanRedis } from './redis.js';

export interface Instances {
  readonly servers: readonly ServerHandle[];
  /** An admin's client of each instance: publishing, GET /metrics, GET /sse/stats. */
  readonly apis: readonly Publisher[];
  readonly redis: BenchRedis;
  readonly prefix: string;
}

export interface InstancesPlan {
  count: number;
  /** Names the processes (`<name>-<i>`) and the key prefix. */
  name: string;
  /** Streams of each instance's unmeasured warm-up. */
  warmUp: number;
  idleMs: number;
}

/**
 * Starts the instances, warms each up, runs `work` on them, then stops them (those still alive),
 * closes the pool's streams to them and deletes their keys.
 */
export async function withInstances<T>(
  plan: InstancesPlan,
  redis: BenchRedis,
  pool: LoadPool,
  work: (instances: Instances) => Promise<T>,
): Promise<T> {
  const prefix = `sse-bench-${plan.name}-${process.pid}-${Date.now()}:`;
  const env = serverEnv(DEFAULT_OURS, { REDIS_URL: redis.url, SSE_REDIS_PREFIX: prefix });
  const servers: ServerHandle[] = [];
  const apis: Publisher[] = [];
  try {
    const started = await Promise.allSettled(
      Array.from({ length: plan.count }, (_, i) => startServer(SERVERS[DEFAULT_OURS], { env, name: `${plan.name}-${i}` })),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') servers.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    apis.push(...servers.map((server) => new Publisher(server.port, SERVERS[DEFAULT_OURS].publishPath, BENCH_ADMIN_TOKEN)));
    const [worker] = await pool.ensure(1);
    for (const [i, server] of servers.entries()) await warmUp(server, worker, apis[i], plan.idleMs, plan.warmUp);
    return await work({ servers, apis, redis, prefix });
  } finally {
    apis.forEach((api) => api.close());
    await teardown(pool.workers, servers);
    await cleanRedis(redis.url, prefix).catch((err: Error) => console.warn(`[bench] could not clean ${prefix}*: ${err.message}`));
  }
}
