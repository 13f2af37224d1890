import { Logger } from '@nestjs/common';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { InMemoryRevocationStore } from './in-memory-revocation.store.js';
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
 * While Redis cannot answer, what this instance has heard of stands in for it:
 * every revocation made before the outage that reached it (none can be made
 * during it), and the routes that need Redis answer 503 on their own.
 */
export class RedisRevocationStore extends RevocationStore {
  private readonly logger = new Logger(RedisRevocationStore.name);
  private readonly revokeScript: RedisScript;
  private readonly heard: InMemoryRevocationStore;
  private unreadable = false;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly ttlMs: number,
  ) {
    super();
    this.revokeScript = backplane.script('sseRevoke', REVOKE);
    this.heard = new InMemoryRevocationStore(ttlMs);
  }

  async revoke(userId: string, at: number): Promise<void> {
    await this.revokeScript([this.backplane.keys.revocation(userId)], [at, this.ttlMs]);
    // Made here: heard of here at once, not only when the broker brings it back.
    this.heard.remember(userId, at);
  }

  async revokedAt(userId: string): Promise<number | undefined> {
    let at: string | null;
    try {
      at = await this.backplane.client.get(this.backplane.keys.revocation(userId));
    } catch (err) {
      // One line an outage, not one a request.
      if (!this.unreadable) this.logger.warn(`Revocations cannot be read (${(err as Error).message}); using those heard of here`);
      this.unreadable = true;
      return this.heard.revokedAt(userId);
    }
    if (this.unreadable) this.logger.log('Revocations can be read again');
    this.unreadable = false;
    return at === null ? undefined : Number(at);
  }

  remember(userId: string, at: number): void {
    this.heard.remember(userId, at);
  }

  remembered(userId: string): number | undefined {
    return this.heard.revokedAt(userId);
  }
}
