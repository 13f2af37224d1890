import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  type AcquireResult,
  ConnectionLimiter,
  type ConnectionUsage,
  type InstanceUsage,
} from './connection-limiter.js';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { LUA_NOW } from '../redis/redis-lua.js';

// A lease is a member `<instance>\n<user>\n<serial>` scored by its expiry, in the
// user's set (for the limit) and in the set of all leases (for stats). Expired
// leases, of instances that died without releasing them, are dropped first.

// KEYS: user leases, all leases   ARGV: lease, max per user, ttl
const ACQUIRE = `${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
return 1
`;

// KEYS: all leases, then the user set of each lease   ARGV: ttl, then the leases
const RENEW = `${LUA_NOW}
local ttl = tonumber(ARGV[1])
local expiry = now + ttl
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], expiry, ARGV[i])
  redis.call('PEXPIRE', KEYS[i], ttl)
  redis.call('ZADD', KEYS[1], expiry, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
`;

// KEYS: a lease set   Returns its live members.
const LIVE = `${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

const RENEW_BATCH = 500;

/**
 * The per-user limit across every instance, decided atomically in Redis. Each
 * lease is renewed while its stream lives, so the slots of an instance that
 * dies are freed within `leaseTtlMs`. The per-instance limit is counted here.
 */
export class RedisConnectionLimiter extends ConnectionLimiter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisConnectionLimiter.name);
  private readonly acquireScript: RedisScript;
  private readonly renewScript: RedisScript;
  private readonly liveScript: RedisScript;
  /** This instance's leases, with their user. */
  private readonly leases = new Map<string, string>();
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
    this.liveScript = backplane.script('sseLive', LIVE);
  }

  onModuleInit(): void {
    this.renewal = setInterval(() => void this.renew(), this.backplane.options.leaseTtlMs / 3);
    this.renewal.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.renewal);
  }

  async acquire(userId: string): Promise<AcquireResult> {
    if (this.leases.size >= this.maxTotal) return { granted: false, scope: 'instance', limit: this.maxTotal };
    const { keys, options } = this.backplane;
    const lease = `${this.instanceId}\n${userId}\n${++this.serial}`;
    const granted = await this.acquireScript([keys.userLeases(userId), keys.leases], [lease, this.maxPerUser, options.leaseTtlMs]);
    if (granted !== 1) return { granted: false, scope: 'user', limit: this.maxPerUser };
    this.leases.set(lease, userId);
    return { granted: true, lease: { release: () => this.release(lease) } };
  }

  async held(userId: string): Promise<number> {
    return ((await this.liveScript([this.backplane.keys.userLeases(userId)], [])) as string[]).length;
  }

  async usage(): Promise<ConnectionUsage> {
    const live = (await this.liveScript([this.backplane.keys.leases], [])) as string[];
    const users = new Set<string>();
    const perInstance = new Map<string, { streams: number; users: Set<string> }>();
    for (const lease of live) {
      const [instance, userId] = lease.split('\n');
      users.add(userId);
      let usage = perInstance.get(instance);
      if (!usage) perInstance.set(instance, (usage = { streams: 0, users: new Set() }));
      usage.streams++;
      usage.users.add(userId);
    }
    const instances: InstanceUsage[] = [...perInstance].map(([id, usage]) => ({
      id,
      streams: usage.streams,
      users: usage.users.size,
    }));
    return { streams: live.length, users: users.size, instances };
  }

  private async release(lease: string): Promise<void> {
    const userId = this.leases.get(lease);
    if (userId === undefined) return;
    // Forgotten here first: if Redis is away, the lease is no longer renewed and expires there.
    this.leases.delete(lease);
    const { client, keys } = this.backplane;
    await client.multi().zrem(keys.userLeases(userId), lease).zrem(keys.leases, lease).exec();
  }

  /** Extends every lease of this instance; one that lapsed during an outage is taken again. */
  private async renew(): Promise<void> {
    const { keys, options } = this.backplane;
    const all = [...this.leases];
    try {
      for (let i = 0; i < all.length || i === 0; i += RENEW_BATCH) {
        const batch = all.slice(i, i + RENEW_BATCH);
        await this.renewScript(
          [keys.leases, ...batch.map(([, userId]) => keys.userLeases(userId))],
          [options.leaseTtlMs, ...batch.map(([lease]) => lease)],
        );
      }
    } catch (err) {
      this.logger.debug(`Leases not renewed: ${(err as Error).message}`);
    }
  }
}
