import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { feedsOfOwner, feedsOfTarget } from './inbox-feeds.js';
import type { SsePostgresInboxOptions } from './inbox.options.js';
import {
  type InboxChange,
  type InboxItem,
  type InboxMark,
  type InboxOwner,
  type InboxQuery,
  type InboxRetention,
  InboxStore,
  type NewInboxItem,
} from './inbox.store.js';
import { postgresInboxMigration, postgresInboxTables, type PostgresInboxTables } from './postgres-inbox.migration.js';
import type { PostgresClient, PostgresPool } from './postgres-pool.js';

/** How often items that aged out, and marks on dropped items, are deleted. Until then, counts and lists skip them. */
const SWEEP_INTERVAL_MS = 60_000;
/** Taken by the instance that sweeps, so that two instances never sweep at once (and never deadlock doing so). */
const SWEEP_LOCK = 0x55e1b0;
const MIGRATION_LOCK = 0x55e1b1;

/**
 * The inbox in PostgreSQL (through `pg`, loaded only when this store is used):
 * the tables of `postgresInboxMigration()`. Every change is one transaction or
 * one statement; counters are updated by deltas under row locks, so that
 * changes from several instances add up exactly. A count is one statement
 * over a user's few feed and counter rows, plus the few items and marks that
 * aged out since the last sweep.
 */
export class PostgresInboxStore extends InboxStore implements OnApplicationShutdown {
  private readonly logger = new Logger(PostgresInboxStore.name);
  private readonly t: PostgresInboxTables;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly pool: PostgresPool,
    private readonly retention: InboxRetention,
    private readonly schema = 'public',
    private readonly ownsPool = false,
  ) {
    super();
    this.t = postgresInboxTables(schema);
  }

  /** Connects (a pool of its own for a connection string), applies the migration if asked, and starts sweeping. */
  static async open(options: SsePostgresInboxOptions, retention: InboxRetention): Promise<PostgresInboxStore> {
    let pool = options.pool;
    if (!pool) {
      const pg = await import('pg').catch((err: Error) => {
        throw new Error(`The PostgreSQL inbox needs the pg package (npm install pg): ${err.message}`);
      });
      const created = new pg.default.Pool({ connectionString: options.connectionString });
      created.on('error', () => undefined); // an idle client's error; the next query reports it
      pool = created as unknown as PostgresPool;
    }
    const store = new PostgresInboxStore(pool, retention, options.schema, !options.pool);
    try {
      if (options.migrate) await store.migrate();
      else await pool.query('SELECT 1');
    } catch (err) {
      if (!options.pool) await pool.end().catch(() => undefined);
      throw new Error(`The PostgreSQL inbox cannot start: ${(err as Error).message}`);
    }
    store.sweeper = setInterval(() => void store.sweep().catch((err: Error) => store.logger.warn(`Sweep failed: ${err.message}`)), SWEEP_INTERVAL_MS);
    store.sweeper.unref();
    return store;
  }

  /** Creates the tables when they are missing. */
  async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(postgresInboxMigration(this.schema));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    if (this.ownsPool) await this.pool.end();
  }

  async add(item: NewInboxItem): Promise<void> {
    // One round trip: the migration's sse_inbox_add locks, inserts, trims and counts, feed by feed.
    await this.pool.query(`SELECT ${this.t.add}($1, $2, $3, $4, $5, $6::json, $7, $8)`, [
      [...feedsOfTarget(item.target)].sort(),
      item.id,
      item.createdAt,
      item.position.seq,
      item.type,
      item.data,
      this.cutoff(),
      this.retention.maxItems,
    ]);
  }

  async unread(owner: InboxOwner): Promise<number> {
    const { feeds, items, marks, seen } = this.t;
    // Items that aged out but are not swept yet are in `items` and `seen`: taken back out by the two counts.
    const { rows } = await this.pool.query(
      `SELECT
         COALESCE((SELECT sum(items) FROM ${feeds} WHERE feed = ANY($2)), 0)
         - (SELECT count(*) FROM ${items} WHERE feed = ANY($2) AND created_at < $3)
         - COALESCE((SELECT sum(seen) FROM ${seen} WHERE user_id = $1 AND feed = ANY($2)), 0)
         + (SELECT count(*) FROM ${marks} m JOIN ${feeds} f ON f.feed = m.feed
            WHERE m.user_id = $1 AND m.feed = ANY($2) AND (m.read_at IS NOT NULL OR m.archived_at IS NOT NULL)
              AND (m.created_at < $3 OR (m.created_at, m.seq) <= (f.dropped_at, f.dropped_seq))) AS unread`,
      [owner.userId, feedsOfOwner(owner), this.cutoff()],
    );
    return Number(rows[0].unread);
  }

  async list(owner: InboxOwner, query: InboxQuery): Promise<InboxItem[]> {
    const { items, marks } = this.t;
    const status = {
      all: 'm.archived_at IS NULL',
      unread: 'm.archived_at IS NULL AND m.read_at IS NULL',
      archived: 'm.archived_at IS NOT NULL',
    }[query.status];
    const { rows } = await this.pool.query(
      `SELECT i.id, i.type, i.data, i.created_at, m.read_at, m.archived_at
       FROM ${items} i LEFT JOIN ${marks} m ON m.user_id = $1 AND m.feed = i.feed AND m.id = i.id
       WHERE i.feed = ANY($2) AND i.created_at >= $3 AND ${status}
         AND ($4::timestamptz IS NULL OR (i.created_at, i.seq) < ($4::timestamptz, $5::bigint))
       ORDER BY i.created_at DESC, i.seq DESC LIMIT $6`,
      [
        owner.userId,
        feedsOfOwner(owner),
        this.cutoff(),
        query.before ? new Date(query.before.ms) : null,
        query.before?.seq ?? 0,
        query.limit,
      ],
    );
    return rows.map((row) => ({
      id: row.id,
      type: row.type,
      data: row.data,
      createdAt: row.created_at,
      readAt: row.read_at,
      archivedAt: row.archived_at,
    }));
  }

  async mark(owner: InboxOwner, ids: readonly string[] | 'all', mark: InboxMark): Promise<InboxChange> {
    const { items, marks, seen } = this.t;
    // The owner's items that are asked for (all of them for 'all'), not aged out.
    const target = `target AS (
      SELECT feed, id, created_at, seq FROM ${items}
      WHERE feed = ANY($2) AND created_at >= $3 AND ($4::text[] IS NULL OR id = ANY($4)))`;
    const stamp = mark === 'read' ? 'read_at' : 'archived_at';
    const other = mark === 'read' ? 'archived_at' : 'read_at';
    // Read and archive: a new mark, or one without this stamp yet. An item was unread (and is counted as seen
    // now) when its mark is new (xmax = 0: inserted) or had neither stamp.
    const setMark = `${target},
      changed AS (
        INSERT INTO ${marks} AS m (user_id, feed, id, created_at, seq, ${stamp})
        SELECT $1, feed, id, created_at, seq, now() FROM target
        ON CONFLICT (user_id, feed, id) DO UPDATE SET ${stamp} = excluded.${stamp} WHERE m.${stamp} IS NULL
        RETURNING m.feed, m.id, (m.xmax = 0 OR m.${other} IS NULL) AS counts),
      counted AS (
        INSERT INTO ${seen} AS s (user_id, feed, seen)
        SELECT $1, feed, count(*) FROM changed WHERE counts GROUP BY feed
        ON CONFLICT (user_id, feed) DO UPDATE SET seen = s.seen + excluded.seen)
      SELECT id FROM changed`;
    // Unread: a mark that was only read goes (the item is unread again); an archived one only loses its read_at.
    const clearRead = `${target},
      cleared AS (
        DELETE FROM ${marks} m USING target t
        WHERE m.user_id = $1 AND m.feed = t.feed AND m.id = t.id AND m.read_at IS NOT NULL AND m.archived_at IS NULL
        RETURNING m.feed, m.id),
      kept AS (
        UPDATE ${marks} m SET read_at = NULL FROM target t
        WHERE m.user_id = $1 AND m.feed = t.feed AND m.id = t.id AND m.read_at IS NOT NULL AND m.archived_at IS NOT NULL
        RETURNING m.id),
      counted AS (
        UPDATE ${seen} s SET seen = s.seen - c.n FROM (SELECT feed, count(*) AS n FROM cleared GROUP BY feed) c
        WHERE s.user_id = $1 AND s.feed = c.feed)
      SELECT id FROM cleared UNION ALL SELECT id FROM kept`;
    const { rows } = await this.pool.query(`WITH ${mark === 'unread' ? clearRead : setMark}`, [
      owner.userId,
      feedsOfOwner(owner),
      this.cutoff(),
      ids === 'all' ? null : ids,
    ]);
    return { ids: rows.map((row) => row.id as string), unread: await this.unread(owner) };
  }

  /**
   * Deletes the items that aged out, and the marks on items that are gone, updating the counters; one instance at
   * a time. Runs every minute; counts and lists are right before it too.
   */
  async sweep(): Promise<void> {
    const { feeds, items, marks, seen } = this.t;
    await this.transaction(async (client) => {
      const { rows } = await client.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [SWEEP_LOCK]);
      if (!rows[0].locked) return;
      const cutoff = this.cutoff();
      await client.query(
        `SELECT 1 FROM ${feeds} WHERE feed IN (SELECT DISTINCT feed FROM ${items} WHERE created_at < $1) ORDER BY feed FOR UPDATE`,
        [cutoff],
      );
      await client.query(
        `WITH gone AS (DELETE FROM ${items} WHERE created_at < $1 RETURNING feed, created_at, seq),
         counts AS (SELECT feed, count(*) AS n FROM gone GROUP BY feed),
         last AS (SELECT DISTINCT ON (feed) feed, created_at, seq FROM gone ORDER BY feed, created_at DESC, seq DESC)
         UPDATE ${feeds} f SET items = f.items - c.n, dropped_at = l.created_at, dropped_seq = l.seq
         FROM counts c JOIN last l USING (feed) WHERE f.feed = c.feed`,
        [cutoff],
      );
      await client.query(
        `WITH gone AS (
           DELETE FROM ${marks} m USING ${feeds} f
           WHERE m.feed = f.feed AND (m.created_at < $1 OR (m.created_at, m.seq) <= (f.dropped_at, f.dropped_seq))
           RETURNING m.user_id, m.feed, (m.read_at IS NOT NULL OR m.archived_at IS NOT NULL) AS counted)
         UPDATE ${seen} s SET seen = s.seen - c.n
         FROM (SELECT user_id, feed, count(*) AS n FROM gone WHERE counted GROUP BY user_id, feed) c
         WHERE s.user_id = c.user_id AND s.feed = c.feed`,
        [cutoff],
      );
    });
  }

  private async transaction(work: (client: PostgresClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(err as Error);
      throw err;
    }
  }

  private cutoff(): Date {
    return new Date(Date.now() - this.retention.maxAgeMs);
  }
}
