import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { RevocationStore } from './revocation.store.js';

// Keeps the later of two revocations, for ttl ms from when it was made.
// KEYS: the user's revocation   ARGV: at, ttl
const REVOKE = `
local known = tonumber(redis.call('GET', KEYS[1]))
if known == nil or known < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
`;

/**
 * Revocations in Redis, one key per revoked user that expires with its
 * record: every instance reads the same answer the moment `revoke` resolves.
 */
export class RedisRevocationStore extends RevocationStore {
  private readonly revokeScript: RedisScript;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly ttlMs: number,
  ) {
    super();
    this.revokeScript = backplane.script('sseRevoke', REVOKE);
  }

  async revoke(userId: string, at: number): Promise<void> {
    await this.revokeScript([this.backplane.keys.revocation(userId)], [at, this.ttlMs]);
  }

  async revokedAt(userId: string): Promise<number | undefined> {
    const at = await this.backplane.client.get(this.backplane.keys.revocation(userId));
    return at === null ? undefined : Number(at);
  }
}
