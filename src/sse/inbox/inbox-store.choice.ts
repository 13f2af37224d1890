import { Logger } from '@nestjs/common';
import type { RedisBackplane } from '../redis/redis-backplane.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { InMemoryInboxStore } from './in-memory-inbox.store.js';
import { InboxStore } from './inbox.store.js';
import { RedisInboxStore } from './redis-inbox.store.js';

/**
 * The inbox store the options ask for: the one given; PostgreSQL (`pg` is loaded only then); Redis; or, by
 * default, the Redis backplane's when there is one, else memory. An in-memory inbox beside a Redis backplane
 * means an inbox per instance: allowed when asked for explicitly, and said at startup.
 */
export async function chooseInboxStore(options: ResolvedSseOptions, backplane: RedisBackplane | null): Promise<InboxStore> {
  const { store, maxItems, maxAgeMs } = options.inbox;
  const retention = { maxItems, maxAgeMs };
  if (store instanceof InboxStore) return store;
  if (typeof store === 'object' && store !== null && 'postgres' in store) {
    const { PostgresInboxStore } = await import('./postgres-inbox.store.js');
    return PostgresInboxStore.open(store.postgres, retention);
  }
  if (store === 'redis' || (store === undefined && backplane)) {
    if (!backplane) throw new Error('SseModule options: inbox.store "redis" needs the redis option');
    return new RedisInboxStore(backplane, retention);
  }
  if (store !== undefined && store !== 'memory') {
    throw new Error(`SseModule options: inbox.store must be "memory", "redis", { postgres } or an InboxStore, got ${String(store)}`);
  }
  if (backplane) {
    new Logger('InboxStore').warn(
      'The inbox is kept in memory while streams run over Redis: each instance keeps inboxes of its own, lost at restart',
    );
  }
  return new InMemoryInboxStore(retention);
}
