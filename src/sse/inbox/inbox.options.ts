import type { InboxStore } from './inbox.store.js';
import type { PostgresPool } from './postgres-pool.js';

export interface SsePostgresInboxOptions {
  /** A `postgres://` URL: the store opens a pool of its own and closes it at shutdown. */
  connectionString?: string;
  /** Or the application's own `pg` Pool, which the module does not close. */
  pool?: PostgresPool;
  /** The schema of the inbox's tables (default `public`). */
  schema?: string;
  /** Create the tables at startup when they are missing (the migration in the README; default false). */
  migrate?: boolean;
}

export interface SseInboxOptions {
  /**
   * Where inboxes are kept: `'memory'`, `'redis'` (the backplane's Redis), `{ postgres }`, or an `InboxStore`
   * of your own. Default: Redis when `redis` is set, else memory.
   */
  store?: 'memory' | 'redis' | { postgres: SsePostgresInboxOptions } | InboxStore;
  /** Items kept per user (their own), per topic and for the broadcasts; the oldest go first (default 1000). */
  maxItems?: number;
  /** How long an item is kept, in ms (default 90 days). */
  maxAgeMs?: number;
  /**
   * The topics whose inbox items a user's inbox holds (default none): an item published with the inbox to a topic
   * reaches the inboxes of the users for whom this names the topic, from then on and back to what is kept.
   */
  topicsOf?: (userId: string) => readonly string[] | Promise<readonly string[]>;
  /**
   * The key that signs list cursors, the same on every instance. Default: derived from `auth.jwt`'s secret or
   * public key; with neither, a random key per process (cursors then work only on the instance that issued them).
   */
  cursorSecret?: string;
}

/** The inbox options with their defaults filled in. */
export interface ResolvedInboxOptions {
  readonly store?: SseInboxOptions['store'];
  readonly maxItems: number;
  readonly maxAgeMs: number;
  readonly topicsOf: (userId: string) => readonly string[] | Promise<readonly string[]>;
  readonly cursorSecret?: string;
}

const NINETY_DAYS_MS = 90 * 24 * 3_600_000;

export function resolveInboxOptions(options: SseInboxOptions = {}): ResolvedInboxOptions {
  return {
    store: options.store,
    maxItems: options.maxItems ?? 1000,
    maxAgeMs: options.maxAgeMs ?? NINETY_DAYS_MS,
    topicsOf: options.topicsOf ?? (() => []),
    cursorSecret: options.cursorSecret,
  };
}
