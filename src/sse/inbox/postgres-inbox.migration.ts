/** The PostgreSQL inbox's table names in a schema, quoted. */
export interface PostgresInboxTables {
  readonly schema: string;
  readonly feeds: string;
  readonly items: string;
  readonly marks: string;
  readonly seen: string;
  readonly add: string;
}

export function postgresInboxTables(schema = 'public'): PostgresInboxTables {
  const quoted = `"${schema.replace(/"/g, '""')}"`;
  return {
    schema: quoted,
    feeds: `${quoted}.sse_inbox_feeds`,
    items: `${quoted}.sse_inbox_items`,
    marks: `${quoted}.sse_inbox_marks`,
    seen: `${quoted}.sse_inbox_seen`,
    add: `${quoted}.sse_inbox_add`,
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

-- Keeps an item in each of its feeds (in the order given: sorted, so that two adds never wait on each other
-- in a circle), in one round trip. Per feed: its row is locked, so adds to one feed are counted and trimmed one
-- at a time; an item older than the cutoff, or than the newest dropped, is not taken in; the oldest past the
-- cap go, and the newest of them is remembered.
CREATE OR REPLACE FUNCTION ${t.add}(
  p_feeds text[], p_id text, p_created_at timestamptz, p_seq bigint, p_type text, p_data json,
  p_cutoff timestamptz, p_max integer) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  f text;
  v_dropped_at timestamptz;
  v_dropped_seq bigint;
  v_added integer;
BEGIN
  FOREACH f IN ARRAY p_feeds LOOP
    INSERT INTO ${t.feeds} AS t (feed) VALUES (f) ON CONFLICT (feed) DO UPDATE SET items = t.items
      RETURNING t.dropped_at, t.dropped_seq INTO v_dropped_at, v_dropped_seq;
    v_added := 0;
    IF p_created_at >= p_cutoff AND (v_dropped_at IS NULL OR (p_created_at, p_seq) > (v_dropped_at, v_dropped_seq)) THEN
      INSERT INTO ${t.items} (feed, id, created_at, seq, type, data)
        VALUES (f, p_id, p_created_at, p_seq, p_type, p_data) ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS v_added = ROW_COUNT;
    END IF;
    WITH gone AS (
      DELETE FROM ${t.items} i WHERE i.feed = f AND (i.created_at, i.seq) <= (
        SELECT o.created_at, o.seq FROM ${t.items} o WHERE o.feed = f
        ORDER BY o.created_at DESC, o.seq DESC OFFSET p_max LIMIT 1)
      RETURNING i.created_at, i.seq),
    last AS (SELECT g.created_at, g.seq FROM gone g ORDER BY g.created_at DESC, g.seq DESC LIMIT 1)
    UPDATE ${t.feeds} t SET items = t.items + v_added - (SELECT count(*) FROM gone),
      dropped_at = COALESCE((SELECT created_at FROM last), t.dropped_at),
      dropped_seq = COALESCE((SELECT seq FROM last), t.dropped_seq)
    WHERE t.feed = f;
  END LOOP;
END
$fn$;
`;
}
