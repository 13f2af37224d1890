import { comparePositions, type EventPosition } from '../events/event-position.js';
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

const SWEEP_INTERVAL_MS = 60_000;

interface Marks {
  readAt: Date | null;
  archivedAt: Date | null;
}

interface StoredItem {
  readonly id: string;
  readonly position: EventPosition;
  readonly type: string;
  readonly data: string;
  readonly createdAt: Date;
  /** Each user's marks on it; a user without any has it unread. */
  readonly marks: Map<string, Marks>;
}

interface Feed {
  /** Oldest first. */
  readonly items: StoredItem[];
  readonly byId: Map<string, StoredItem>;
}

/**
 * The embedded inbox: one process, nothing kept across a restart. An item for
 * a topic or the broadcasts is kept once, with each user's marks on it; per
 * user and feed, the count of items read or archived is kept as marks change,
 * so the unread count is a sum over the user's few feeds, never a scan.
 */
export class InMemoryInboxStore extends InboxStore {
  private readonly feeds = new Map<string, Feed>();
  /** userId → feed → items of that feed the user has read or archived. */
  private readonly seen = new Map<string, Map<string, number>>();
  private nextSweepAt: number;

  constructor(
    private readonly retention: InboxRetention,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.nextSweepAt = now() + SWEEP_INTERVAL_MS;
  }

  async add(item: NewInboxItem): Promise<void> {
    // Feeds nobody reads any more would keep what aged out: every minute, each feed drops it.
    if (this.now() >= this.nextSweepAt) {
      this.nextSweepAt = this.now() + SWEEP_INTERVAL_MS;
      for (const name of [...this.feeds.keys()]) this.feed(name);
    }
    for (const name of feedsOfTarget(item.target)) {
      const feed = this.feed(name, true)!;
      if (feed.byId.has(item.id) || item.createdAt.getTime() < this.cutoff()) continue;
      const stored: StoredItem = { ...item, marks: new Map() };
      // Ids come in order but for races between publishers: insert in place.
      let at = feed.items.length;
      while (at > 0 && comparePositions(feed.items[at - 1].position, item.position) > 0) at--;
      feed.items.splice(at, 0, stored);
      feed.byId.set(item.id, stored);
      this.drop(name, feed, feed.items.length - this.retention.maxItems);
    }
  }

  async list(owner: InboxOwner, query: InboxQuery): Promise<InboxItem[]> {
    const found: Array<{ item: StoredItem; marks?: Marks }> = [];
    for (const name of feedsOfOwner(owner)) {
      const items = this.feed(name)?.items ?? [];
      let taken = 0;
      for (let i = items.length - 1; i >= 0 && taken < query.limit; i--) {
        const item = items[i];
        if (query.before && comparePositions(item.position, query.before) >= 0) continue;
        const marks = item.marks.get(owner.userId);
        if (!isListedAs(query.status, marks?.readAt, marks?.archivedAt)) continue;
        found.push({ item, marks });
        taken++;
      }
    }
    found.sort((a, b) => comparePositions(b.item.position, a.item.position));
    return found.slice(0, query.limit).map(({ item, marks }) => ({
      id: item.id,
      type: item.type,
      data: JSON.parse(item.data) as unknown,
      createdAt: item.createdAt,
      readAt: marks?.readAt ?? null,
      archivedAt: marks?.archivedAt ?? null,
    }));
  }

  async unread(owner: InboxOwner): Promise<number> {
    const seen = this.seen.get(owner.userId);
    let unread = 0;
    for (const name of feedsOfOwner(owner)) {
      unread += (this.feed(name)?.items.length ?? 0) - (seen?.get(name) ?? 0);
    }
    return unread;
  }

  async mark(owner: InboxOwner, ids: readonly string[] | 'all', mark: InboxMark): Promise<InboxChange> {
    const changed: string[] = [];
    const at = new Date(this.now());
    for (const name of feedsOfOwner(owner)) {
      const feed = this.feed(name);
      if (!feed) continue;
      const items = ids === 'all' ? feed.items : ids.map((id) => feed.byId.get(id)).filter((item) => item !== undefined);
      for (const item of items) {
        const before = item.marks.get(owner.userId) ?? { readAt: null, archivedAt: null };
        const after = marked(before, mark, at);
        if (after === before) continue;
        changed.push(item.id);
        if (after.readAt || after.archivedAt) item.marks.set(owner.userId, after);
        else item.marks.delete(owner.userId);
        this.count(owner.userId, name, Number(isSeen(after)) - Number(isSeen(before)));
      }
    }
    return { ids: changed, unread: await this.unread(owner) };
  }

  /** A feed, with what has aged out of it dropped; created when `create`. */
  private feed(name: string, create = false): Feed | undefined {
    let feed = this.feeds.get(name);
    if (!feed && create) this.feeds.set(name, (feed = { items: [], byId: new Map() }));
    if (!feed) return undefined;
    const cutoff = this.cutoff();
    let aged = 0;
    while (aged < feed.items.length && feed.items[aged].createdAt.getTime() < cutoff) aged++;
    this.drop(name, feed, aged);
    if (feed.items.length === 0 && !create) this.feeds.delete(name);
    return feed;
  }

  /** Drops the `count` oldest items of a feed, and with them the users' marks on them. */
  private drop(name: string, feed: Feed, count: number): void {
    if (count <= 0) return;
    for (const item of feed.items.splice(0, count)) {
      feed.byId.delete(item.id);
      for (const [userId, marks] of item.marks) if (isSeen(marks)) this.count(userId, name, -1);
    }
  }

  private count(userId: string, feed: string, delta: number): void {
    if (delta === 0) return;
    let byFeed = this.seen.get(userId);
    if (!byFeed) this.seen.set(userId, (byFeed = new Map()));
    const seen = (byFeed.get(feed) ?? 0) + delta;
    if (seen > 0) byFeed.set(feed, seen);
    else byFeed.delete(feed);
    if (byFeed.size === 0) this.seen.delete(userId);
  }

  private cutoff(): number {
    return this.now() - this.retention.maxAgeMs;
  }
}

/** Read or archived: no longer counted as unread. */
function isSeen(marks: Marks): boolean {
  return marks.readAt !== null || marks.archivedAt !== null;
}

/** The marks after a change, or the same object when the change changes nothing. */
function marked(before: Marks, mark: InboxMark, at: Date): Marks {
  if (mark === 'read') return before.readAt ? before : { ...before, readAt: at };
  if (mark === 'unread') return before.readAt ? { ...before, readAt: null } : before;
  return before.archivedAt ? before : { ...before, archivedAt: at };
}
