/** The PostgreSQL inbox's table names in a schema, quoted. */
export interface PostgresInboxTables {
  readonly schema: string;
  readonly feeds: string;
  readonly items: string;
  readonly marks: string;
  readonly seen: string;
}

export function postgresInboxTables(schema = 'public'): PostgresInboxTables {
  const quoted = `"${schema.replace(/"/g, '""')}"`;
  return {
    schema: quoted,
    feeds: `${quoted}.sse_inbox_feeds`,
    items: `${quoted}.sse_inbox_items`,
    marks: `${quoted}.sse_inbox_marks`,
    seen: `${quoted}.sse_inbox_seen`,
  };
}

/**
 * The inbox's tables (README: "The inbox in PostgreSQL"). Idempotent: every statement is `IF NOT EXISTS`, and
 * `PostgresInboxStore` runs it under an advisory lock, so instances that start together apply it once.
 * A feed is `user:<id>` (a user's own items), `topic:<name>` or `all` (the broadcasts).
 */
export function postgresInboxMigration(schema = 'public'): string {
  const t = postgresInboxTables(schema);
  return `
CREATE SCHEMA IF NOT EXISTS ${t.schema};

-- One row per feed: how many items it holds now, and the newest item retention dropped from it.
CREATE TABLE IF NOT EXISTS ${t.feeds} (
  feed        text   PRIMARY KEY,
  items       bigint NOT NULL DEFAULT 0,
  dropped_at  timestamptz,
  dropped_seq bigint
);

-- The items, once per feed: a topic's or a broadcast's once for every user.
CREATE TABLE IF NOT EXISTS ${t.items} (
  feed       text        NOT NULL,
  id         text        NOT NULL,  -- the event id, '<ms>-<seq>'
  created_at timestamptz NOT NULL,  -- when it was published: the id's <ms>
  seq        bigint      NOT NULL,  -- the id's <seq>: its order within that millisecond
  type       text        NOT NULL,
  data       json        NOT NULL,  -- the event's data, exactly as sent
  PRIMARY KEY (feed, id)
);
CREATE INDEX IF NOT EXISTS sse_inbox_items_order ON ${t.items} (feed, created_at, seq);

-- A user's marks on an item (of their own feed or a shared one); no row: unread.
CREATE TABLE IF NOT EXISTS ${t.marks} (
  user_id     text        NOT NULL,
  feed        text        NOT NULL,
  id          text        NOT NULL,
  created_at  timestamptz NOT NULL,  -- the item's, to tell marks of items that retention dropped
  seq         bigint      NOT NULL,
  read_at     timestamptz,
  archived_at timestamptz,
  PRIMARY KEY (user_id, feed, id)
);
CREATE INDEX IF NOT EXISTS sse_inbox_marks_order ON ${t.marks} (user_id, feed, created_at, seq);
CREATE INDEX IF NOT EXISTS sse_inbox_marks_feed ON ${t.marks} (feed, created_at, seq);

-- Per user and feed, how many of its items the user has read or archived: the unread count is
-- the feeds' items less these, kept as marks change rather than counted.
CREATE TABLE IF NOT EXISTS ${t.seen} (
  user_id text   NOT NULL,
  feed    text   NOT NULL,
  seen    bigint NOT NULL,
  PRIMARY KEY (user_id, feed)
);
`;
}
