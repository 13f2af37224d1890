import { type EventPosition, formatEventId, parseEventId } from '../events/event-position.js';
import { userHistoryKey } from '../events/publish-target.js';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { LUA_NOW } from '../redis/redis-lua.js';
import { feedsOfOwner, feedsOfTarget } from './inbox-feeds.js';
import {
  type InboxChange,
  type InboxItem,
  type InboxMark,
  type InboxOwner,
  type InboxQuery,
  type InboxRetention,
  InboxStore,
  isListedAs,
  type NewInboxItem,
} from './inbox.store.js';

// Every script touches the keys of one feed, or those of one user, each under one hash tag (one slot).
// Items are members of a sorted set whose scores are all 0, so that it is ordered by member: a fixed-width
// key of the item's position (see `sortKeyOf`). Lua compares those keys as strings.

// Drops what has aged out of a feed, and its oldest items past the cap, with their data; remembers the newest
// dropped, so that a late item older than it is not taken in, and marks up to it are known to be stale.
// KEYS: items, data, dropped   ARGV: cutoff key, max items (ARGV[1], ARGV[2] in every feed script)
const LUA_FEED_TRIM = `
local function drop_through(last)
  local gone = redis.call('ZRANGEBYLEX', KEYS[1], '-', '[' .. last)
  redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '[' .. last)
  for i = 1, #gone, 500 do redis.call('HDEL', KEYS[2], unpack(gone, i, math.min(i + 499, #gone))) end
  local dropped = redis.call('GET', KEYS[3])
  if not dropped or dropped < last then redis.call('SET', KEYS[3], last) end
end
local function trim()
  local aged = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '-', 'LIMIT', 0, 1)
  if #aged > 0 then drop_through(aged[1]) end
  local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
  if excess > 0 then drop_through(redis.call('ZRANGE', KEYS[1], excess - 1, excess - 1)[1]) end
end
`;

// ARGV: cutoff, max, key, payload, ttlMs. Returns 1 when taken in.
const FEED_ADD = `${LUA_FEED_TRIM}
trim()
local dropped = redis.call('GET', KEYS[3])
if ARGV[3] < ARGV[1] or (dropped and ARGV[3] <= dropped) then return 0 end
if redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[3]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
trim()
-- The newest item is the last to age out: the feed's keys go with it when nothing is added meanwhile.
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return 1
`;

// ARGV: cutoff, max, with members ('1' or '0'), keys to look for...
// Returns { count, oldest, newest, dropped, members (all, when asked), found flags of the keys looked for }.
const FEED_STATE = `${LUA_FEED_TRIM}
trim()
local count = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1] or ''
local newest = redis.call('ZRANGE', KEYS[1], -1, -1)[1] or ''
local members = {}
if ARGV[3] == '1' then members = redis.call('ZRANGE', KEYS[1], 0, -1) end
local found = {}
if #ARGV > 3 then found = redis.call('ZMSCORE', KEYS[1], unpack(ARGV, 4)) end
for i = 1, #found do found[i] = found[i] and 1 or 0 end
return { count, oldest, newest, redis.call('GET', KEYS[3]) or '', members, found }
`;

// ARGV: cutoff, max, before ('+' or '(<key>'), count. Returns { keys, payloads }, newest first.
const FEED_PAGE = `${LUA_FEED_TRIM}
trim()
local keys = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[3], '-', 'LIMIT', 0, tonumber(ARGV[4]))
if #keys == 0 then return { {}, {} } end
return { keys, redis.call('HMGET', KEYS[2], unpack(keys)) }
`;

// A user's marks: KEYS: marks (hash key → '<readAtMs>,<archivedAtMs>', 0 for unset), archived (sorted set of
// '<key>\\t<feed>'), then one 'seen' sorted set per feed (the keys of its items read or archived).
// ARGV: op, ttlMs, cutoff, feed count n, then per feed: name, count, oldest, newest, dropped; then item pairs
// (feed index, key) for read/unread/archived, or keys for 'state'.
// Returns the marks of the keys for 'state', else { unread after, { changed keys } }.
const USER_MARKS = `${LUA_NOW}
local op, ttl, cutoff, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if op == 'state' then return redis.call('HMGET', KEYS[1], unpack(ARGV, 5)) end
local feeds = {}
for i = 1, n do
  local at = 5 + (i - 1) * 5
  feeds[i] = { name = ARGV[at], count = tonumber(ARGV[at + 1]), oldest = ARGV[at + 2], newest = ARGV[at + 3],
               dropped = ARGV[at + 4], seen = KEYS[2 + i] }
end
local function forget(feed, gone)
  for _, key in ipairs(gone) do
    redis.call('HDEL', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key .. '\\t' .. feed.name)
  end
end
-- Marks of items that aged out or were dropped are stale: forgotten here, never counted.
for _, feed in ipairs(feeds) do
  forget(feed, redis.call('ZRANGEBYLEX', feed.seen, '-', '(' .. cutoff))
  redis.call('ZREMRANGEBYLEX', feed.seen, '-', '(' .. cutoff)
  if feed.dropped ~= '' then
    forget(feed, redis.call('ZRANGEBYLEX', feed.seen, '-', '[' .. feed.dropped))
    redis.call('ZREMRANGEBYLEX', feed.seen, '-', '[' .. feed.dropped)
  end
end
local changed = {}
local first = 5 + n * 5
for i = first, #ARGV - 1, 2 do
  local feed, key = feeds[tonumber(ARGV[i])], ARGV[i + 1]
  local state = redis.call('HGET', KEYS[1], key) or '0,0'
  local read, archived = string.match(state, '^(%d+),(%d+)$')
  local was_seen = read ~= '0' or archived ~= '0'
  local stamp = string.format('%.0f', now)
  if op == 'read' and read == '0' then read = stamp
  elseif op == 'unread' and read ~= '0' then read = '0'
  elseif op == 'archived' and archived == '0' then
    archived = stamp
    redis.call('ZADD', KEYS[2], 0, key .. '\\t' .. feed.name)
  else key = nil end
  if key then
    table.insert(changed, key)
    if read == '0' and archived == '0' then redis.call('HDEL', KEYS[1], key)
    else redis.call('HSET', KEYS[1], key, read .. ',' .. archived) end
    local is_seen = read ~= '0' or archived ~= '0'
    if is_seen and not was_seen then redis.call('ZADD', feed.seen, 0, key)
    elseif was_seen and not is_seen then redis.call('ZREM', feed.seen, key) end
  end
end
-- Only items of the feeds as they were read count: one added since, even if already marked, is not in 'count'.
local unread = 0
for _, feed in ipairs(feeds) do
  if feed.count > 0 then
    unread = unread + feed.count - redis.call('ZLEXCOUNT', feed.seen, '[' .. feed.oldest, '[' .. feed.newest)
  end
end
if #changed > 0 then for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end end
-- Nested, not unpacked: a mark-all may change more keys than Lua can unpack.
return { unread, changed }
`;

interface FeedState {
  readonly name: string;
  readonly count: number;
  readonly oldest: string;
  readonly newest: string;
  readonly dropped: string;
  readonly members: string[];
  readonly found: number[];
}

/**
 * The inbox in Redis, for apps that run only Redis; it needs Redis to persist
 * (AOF, `appendfsync everysec` or `always`), or a restart of Redis loses every
 * inbox. Each feed (a user's own items, a topic's, the broadcasts') is a sorted
 * set and a hash under its own hash tag; each user's marks sit in the slot of the
 * user's own feed. A count reads the feeds (one script per feed), then counts
 * the user's marks within what was read (one script in the user's slot), so the
 * count is exact for that cut and never negative, and no script crosses slots.
 */
export class RedisInboxStore extends InboxStore {
  private readonly feedAdd: RedisScript;
  private readonly feedState: RedisScript;
  private readonly feedPage: RedisScript;
  private readonly userMarks: RedisScript;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly retention: InboxRetention,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.feedAdd = backplane.script('sseInboxAdd', FEED_ADD);
    this.feedState = backplane.script('sseInboxState', FEED_STATE);
    this.feedPage = backplane.script('sseInboxPage', FEED_PAGE);
    this.userMarks = backplane.script('sseInboxMarks', USER_MARKS);
  }

  async add(item: NewInboxItem): Promise<void> {
    const key = sortKeyOf(item.position);
    const payload = `${item.type}\n${item.data}`;
    await Promise.all(
      feedsOfTarget(item.target).map((feed) =>
        this.feedAdd(this.feedKeys(feed), [...this.trimArgs(), key, payload, this.retention.maxAgeMs]),
      ),
    );
  }

  async unread(owner: InboxOwner): Promise<number> {
    const feeds = await this.states(owner);
    const [unread] = await this.marks(owner, 'count', feeds, []);
    return Number(unread);
  }

  async mark(owner: InboxOwner, ids: readonly string[] | 'all', mark: InboxMark): Promise<InboxChange> {
    const keys = ids === 'all' ? [] : ids.map((id) => parseEventId(id)).filter((p) => p !== undefined).map(sortKeyOf);
    const feeds = await this.states(owner, ids === 'all', keys);
    const pairs = feeds.flatMap((feed, i) =>
      (ids === 'all' ? feed.members : keys.filter((_, k) => feed.found[k] === 1)).flatMap((key) => [i + 1, key]),
    );
    const [unread, changed] = (await this.marks(owner, mark, feeds, pairs)) as [number, string[]];
    return { unread: Number(unread), ids: changed.map((key) => formatEventId(positionOf(key))) };
  }

  async list(owner: InboxOwner, query: InboxQuery): Promise<InboxItem[]> {
    const before = query.before ? `(${sortKeyOf(query.before)}` : '+';
    const found =
      query.status === 'archived'
        ? await this.archived(owner, query.limit, before)
        : (await Promise.all(feedsOfOwner(owner).map((feed) => this.fromFeed(owner, feed, query, before)))).flat();
    found.sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
    return found.slice(0, query.limit).map(({ item }) => item);
  }

  /** Up to `limit` items of one feed in the list's status, newest first, reading the feed a chunk at a time. */
  private async fromFeed(owner: InboxOwner, feed: string, query: InboxQuery, before: string): Promise<Listed[]> {
    const listed: Listed[] = [];
    const chunk = Math.max(query.limit * 2, 50);
    for (let from = before; listed.length < query.limit; ) {
      const [keys, payloads] = (await this.feedPage(this.feedKeys(feed), [...this.trimArgs(), from, chunk])) as [
        string[],
        (string | null)[],
      ];
      if (keys.length === 0) break;
      const marks = (await this.marks(owner, 'state', [], keys)) as (string | null)[];
      keys.forEach((key, i) => {
        const item = itemOf(key, payloads[i], marks[i]);
        if (item && listed.length < query.limit && isListedAs(query.status, item.readAt, item.archivedAt)) listed.push({ key, item });
      });
      if (keys.length < chunk) break;
      from = `(${keys[keys.length - 1]}`;
    }
    return listed;
  }

  /** Archived items: the user's archived set names each item's feed, whose data is read per feed. */
  private async archived(owner: InboxOwner, limit: number, before: string): Promise<Listed[]> {
    const { client } = this.backplane;
    const stem = this.userStem(owner.userId);
    const feeds = new Set(feedsOfOwner(owner));
    const cutoff = this.cutoffKey();
    const listed: Listed[] = [];
    for (let from = before; listed.length < limit; ) {
      // Members are '<key>\t<feed>': '(<key>' sorts after every member of an older key and before this key's.
      const members = await client.zrevrangebylex(`${stem}:archived`, from, '-', 'LIMIT', 0, limit * 2);
      if (members.length === 0) break;
      const entries = members
        .map((member) => member.split('\t') as [string, string])
        .filter(([key, feed]) => feeds.has(feed) && key >= cutoff);
      const [payloads, marks] = await Promise.all([
        Promise.all(entries.map(([key, feed]) => client.hget(`${this.backplane.keys.inboxFeed(feed)}:data`, key))),
        entries.length > 0 ? (this.marks(owner, 'state', [], entries.map(([key]) => key)) as Promise<(string | null)[]>) : [],
      ]);
      entries.forEach(([key], i) => {
        const item = itemOf(key, payloads[i], marks[i]);
        if (item?.archivedAt && listed.length < limit) listed.push({ key, item });
      });
      if (members.length < limit * 2) break;
      from = `(${members[members.length - 1].split('\t')[0]}`;
    }
    return listed;
  }

  /** Each of the owner's feeds as it is now (trimmed first), with all its keys or whether given keys are in it. */
  private async states(owner: InboxOwner, withMembers = false, lookFor: readonly string[] = []): Promise<FeedState[]> {
    return Promise.all(
      feedsOfOwner(owner).map(async (name) => {
        const [count, oldest, newest, dropped, members, found] = (await this.feedState(this.feedKeys(name), [
          ...this.trimArgs(),
          withMembers ? '1' : '0',
          ...lookFor,
        ])) as [number, string, string, string, string[], number[]];
        return { name, count, oldest, newest, dropped, members, found };
      }),
    );
  }

  private marks(owner: InboxOwner, op: InboxMark | 'count' | 'state', feeds: readonly FeedState[], rest: readonly (string | number)[]) {
    const stem = this.userStem(owner.userId);
    const perFeed = feeds.flatMap((feed) => [feed.name, feed.count, feed.oldest, feed.newest, feed.dropped]);
    return this.userMarks(
      [`${stem}:marks`, `${stem}:archived`, ...feeds.map((feed) => `${stem}:seen:${feed.name}`)],
      [op, this.retention.maxAgeMs, this.cutoffKey(), feeds.length, ...perFeed, ...rest],
    ) as Promise<unknown[]>;
  }

  private feedKeys(feed: string): string[] {
    const stem = this.backplane.keys.inboxFeed(feed);
    return [`${stem}:items`, `${stem}:data`, `${stem}:dropped`];
  }

  private userStem(userId: string): string {
    return this.backplane.keys.inboxFeed(userHistoryKey(userId));
  }

  private trimArgs(): [string, number] {
    return [this.cutoffKey(), this.retention.maxItems];
  }

  /** Keys before this one have aged out. */
  private cutoffKey(): string {
    return sortKeyOf({ ms: Math.max(0, this.now() - this.retention.maxAgeMs), seq: 0 });
  }
}

interface Listed {
  readonly key: string;
  readonly item: InboxItem;
}

const KEY_DIGITS = 13;

/** A fixed-width key (hex ms, hex sequence) whose string order is the order of positions. */
export function sortKeyOf(position: EventPosition): string {
  return position.ms.toString(16).padStart(KEY_DIGITS, '0') + position.seq.toString(16).padStart(KEY_DIGITS, '0');
}

function positionOf(key: string): EventPosition {
  return { ms: parseInt(key.slice(0, KEY_DIGITS), 16), seq: parseInt(key.slice(KEY_DIGITS), 16) };
}

/** An item from its key, its payload (`<type>\n<data>`; null when it is gone) and the user's marks on it. */
function itemOf(key: string, payload: string | null | undefined, marks: string | null | undefined): InboxItem | undefined {
  if (payload === null || payload === undefined) return undefined;
  const position = positionOf(key);
  const split = payload.indexOf('\n');
  const [readAt, archivedAt] = (marks ?? '0,0').split(',').map(Number);
  return {
    id: formatEventId(position),
    type: payload.slice(0, split),
    data: JSON.parse(payload.slice(split + 1)) as unknown,
    createdAt: new Date(position.ms),
    readAt: readAt ? new Date(readAt) : null,
    archivedAt: archivedAt ? new Date(archivedAt) : null,
  };
}
