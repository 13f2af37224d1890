import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import {
  type AcquireResult,
  ConnectionLimiter,
  type ConnectionUsage,
  type InstanceUsage,
} from './connection-limiter.js';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { LUA_NOW } from '../redis/redis-lua.js';

// A lease is a member `<instance>\n<boot>-<serial>` of its user's set, scored by its expiry, so
// that the limit is decided in one slot (a Redis Cluster's too). Expired leases, of instances
// that died without releasing them, are dropped before counting. For stats, each instance
// also lists its own leases as `<user>\n<boot>-<serial>`, and registers itself, scored by expiry.

// KEYS: user leases   ARGV: lease, max per user, ttl
const ACQUIRE = `${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

// KEYS: the user set of each lease   ARGV: ttl, then the leases
const RENEW = `${LUA_NOW}
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1
`;

// KEYS: a set scored by expiry   ARGV: a member, ttl   Adds or extends the member.
const EXTEND = `${LUA_NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

// KEYS: a set scored by expiry   Returns its live members.
const LIVE = `${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

const RENEW_BATCH = 500;

interface Lease {
  readonly userId: string;
  /** `<boot>-<serial>`: unique to this run of this instance. */
  readonly serial: string;
}

/**
 * The per-user limit across every instance, decided atomically in Redis. Each
 * lease is renewed while its stream lives, so the slots of an instance that
 * dies are freed within `leaseTtlMs`. The per-instance limit is counted here.
 */
export class RedisConnectionLimiter extends ConnectionLimiter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisConnectionLimiter.name);
  private readonly acquireScript: RedisScript;
  private readonly renewScript: RedisScript;
  private readonly extendScript: RedisScript;
  private readonly liveScript: RedisScript;
  /** This instance's leases, by their member in the user's set. */
  private readonly leases = new Map<string, Lease>();
  /** Tells this run's leases from those of an earlier run under the same instance id. */
  private readonly boot = randomBytes(4).toString('hex');
  private serial = 0;
  private renewal?: NodeJS.Timeout;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly maxPerUser: number,
    private readonly maxTotal: number,
    private readonly instanceId: string,
  ) {
    super();
    this.acquireScript = backplane.script('sseAcquire', ACQUIRE);
    this.renewScript = backplane.script('sseRenew', RENEW);
    this.extendScript = backplane.script('sseExtend', EXTEND);
    this.liveScript = backplane.script('sseLive', LIVE);
  }

  async onModuleInit(): Promise<void> {
    await this.register();
    this.renewal = setInterval(() => void this.renew(), this.backplane.options.leaseTtlMs / 3);
    this.renewal.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.renewal);
    await this.backplane.client.zrem(this.backplane.keys.instances, this.instanceId).catch(() => undefined);
  }

  async acquire(userId: string): Promise<AcquireResult> {
    if (this.leases.size >= this.maxTotal) return { granted: false, scope: 'instance', limit: this.maxTotal };
    const { client, keys, options } = this.backplane;
    const serial = `${this.boot}-${++this.serial}`;
    const member = `${this.instanceId}\n${serial}`;
    const granted = await this.acquireScript([keys.userLeases(userId)], [member, this.maxPerUser, options.leaseTtlMs]);
    if (granted !== 1) return { granted: false, scope: 'user', limit: this.maxPerUser };
    this.leases.set(member, { userId, serial });
    // For stats only: the limit is already decided, and sent in the same write as the next connect's acquire.
    void client.sadd(keys.instanceLeases(this.instanceId), `${userId}\n${serial}`).catch(() => undefined);
    return { granted: true, lease: { release: () => this.release(member) } };
  }

  async held(userId: string): Promise<number> {
    return ((await this.liveScript([this.backplane.keys.userLeases(userId)], [])) as string[]).length;
  }

  async usage(): Promise<ConnectionUsage> {
    const { client, keys } = this.backplane;
    const live = (await this.liveScript([keys.instances], [])) as string[];
    const users = new Set<string>();
    let streams = 0;
    const instances: InstanceUsage[] = [];
    for (const [id, leases] of await Promise.all(
      live.map(async (id) => [id, await client.smembers(keys.instanceLeases(id))] as const),
    )) {
      if (leases.length === 0) continue;
      const here = new Set(leases.map((lease) => lease.slice(0, lease.lastIndexOf('\n'))));
      here.forEach((userId) => users.add(userId));
      streams += leases.length;
      instances.push({ id, streams: leases.length, users: here.size });
    }
    return { streams, users: users.size, instances };
  }

  private async release(member: string): Promise<void> {
    const lease = this.leases.get(member);
    if (lease === undefined) return;
    // Forgotten here first: if Redis is away, the lease is no longer renewed and expires there.
    this.leases.delete(member);
    const { client, keys } = this.backplane;
    await Promise.all([
      client.zrem(keys.userLeases(lease.userId), member),
      client.srem(keys.instanceLeases(this.instanceId), `${lease.userId}\n${lease.serial}`),
    ]);
  }

  /** This instance in the registry that stats read, with its list of leases kept alive as long. */
  private async register(): Promise<void> {
    const { client, keys, options } = this.backplane;
    await Promise.all([
      this.extendScript([keys.instances], [this.instanceId, options.leaseTtlMs]),
      client.pexpire(keys.instanceLeases(this.instanceId), options.leaseTtlMs),
    ]);
  }

  /** Extends every lease of this instance; one that lapsed during an outage (or with Redis's data) is taken again. */
  private async renew(): Promise<void> {
    const { client, keys, options } = this.backplane;
    try {
      const listed = [...this.leases.values()].map((lease) => `${lease.userId}\n${lease.serial}`);
      await Promise.all([
        ...this.renewalBatches().map((batch) =>
          this.renewScript(
            batch.map(([, lease]) => keys.userLeases(lease.userId)),
            [options.leaseTtlMs, ...batch.map(([member]) => member)],
          ),
        ),
        ...chunks(listed, RENEW_BATCH).map((members) => client.sadd(keys.instanceLeases(this.instanceId), ...members)),
      ]);
      await this.register();
    } catch (err) {
      this.logger.debug(`Leases not renewed: ${(err as Error).message}`);
    }
  }

  /**
   * The leases in batches for one script each: on a Redis Cluster, a script's keys must share a
   * slot, so a batch is one user's leases; elsewhere, any 500 leases.
   */
  private renewalBatches(): Array<Array<[string, Lease]>> {
    const all = [...this.leases];
    if (!this.backplane.isCluster) return chunks(all, RENEW_BATCH);
    const byUser = new Map<string, Array<[string, Lease]>>();
    for (const entry of all) {
      const batch = byUser.get(entry[1].userId);
      if (batch) batch.push(entry);
      else byUser.set(entry[1].userId, [entry]);
    }
    return [...byUser.values()];
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}
