import pg from 'pg';
import { Redis } from 'ioredis';
import { type EventPosition, formatEventId } from '../events/event-position.js';
import type { PublishTarget } from '../events/publish-target.js';
import { RedisBackplane } from '../redis/redis-backplane.js';
import { InMemoryInboxStore } from './in-memory-inbox.store.js';
import type { InboxItem, InboxOwner, InboxRetention, InboxStatus, InboxStore } from './inbox.store.js';
import { PostgresInboxStore } from './postgres-inbox.store.js';
import { RedisInboxStore } from './redis-inbox.store.js';

/**
 * One contract for every InboxStore, run against memory, a real PostgreSQL
 * (its own schema per run, dropped afterwards) and a real Redis (its own key
 * prefix per run, deleted afterwards).
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `${process.pid}_${Date.now()}`;
const DEFAULT: InboxRetention = { maxItems: 1000, maxAgeMs: 90 * 24 * 3_600_000 };

interface Backend {
  create(retention: InboxRetention): Promise<InboxStore>;
  cleanUp(): Promise<void>;
}

const backends: Record<string, () => Backend> = {
  memory: () => ({ create: async (retention) => new InMemoryInboxStore(retention), cleanUp: async () => undefined }),
  postgres: () => {
    const schemas: string[] = [];
    const stores: PostgresInboxStore[] = [];
    return {
      async create(retention) {
        const schema = `sse_inbox_contract_${RUN}_${schemas.length}`;
        schemas.push(schema);
        const store = await PostgresInboxStore.open({ connectionString: DATABASE_URL, schema, migrate: true }, retention);
        stores.push(store);
        return store;
      },
      async cleanUp() {
        await Promise.all(stores.map((store) => store.onApplicationShutdown()));
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        try {
          for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  },
  redis: () => {
    const backplanes: RedisBackplane[] = [];
    const prefix = `sse-inbox-contract-${RUN}:`;
    return {
      async create(retention) {
        const backplane = await RedisBackplane.connect({ url: REDIS_URL, keyPrefix: `${prefix}${backplanes.length}:` });
        backplanes.push(backplane);
        return new RedisInboxStore(backplane, retention);
      },
      async cleanUp() {
        await Promise.all(backplanes.map((backplane) => backplane.close()));
        const redis = new Redis(REDIS_URL);
        try {
          const keys = await redis.keys(`${prefix}*`);
          if (keys.length > 0) await redis.del(...keys);
        } finally {
          redis.disconnect();
        }
      },
    };
  },
};

let clock = Date.now() * 1000;
/** A fresh position, after every one before it, at about now. */
function nextPosition(): EventPosition {
  clock = Math.max(clock + 1, Date.now() * 1000);
  return { ms: Math.floor(clock / 1000), seq: clock % 1000 };
}

let names = 0;
const fresh = (what: string) => `${what}-${++names}`;

function owner(userId: string, topics: string[] = []): InboxOwner {
  return { userId, topics };
}

async function add(store: InboxStore, target: PublishTarget, data: unknown = null, position = nextPosition()): Promise<string> {
  const id = formatEventId(position);
  await store.add({ id, position, target, type: 'todo', data: JSON.stringify(data), createdAt: new Date(position.ms) });
  return id;
}

/** Every item of a status, page by page. */
async function listAll(store: InboxStore, who: InboxOwner, status: InboxStatus, limit = 3): Promise<InboxItem[]> {
  const all: InboxItem[] = [];
  let before: EventPosition | undefined;
  for (;;) {
    const page = await store.list(who, { status, limit, before });
    all.push(...page);
    if (page.length < limit) return all;
    const [ms, seq] = page[page.length - 1].id.split('-').map(Number);
    before = { ms, seq };
  }
}

const idsOf = (items: readonly InboxItem[]) => items.map((item) => item.id);

describe.each(Object.keys(backends))('InboxStore contract: %s', (name) => {
  const backend = backends[name]();
  let store: InboxStore;

  beforeAll(async () => {
    store = await backend.create(DEFAULT);
  });
  afterAll(() => backend.cleanUp());

  it('keeps an item for each user of a target, with its type, data and time, unread', async () => {
    const [ann, bob, eve] = [fresh('ann'), fresh('bob'), fresh('eve')];
    const position = nextPosition();
    const id = await add(store, { userIds: [ann, bob] }, { title: 'Call Bob', n: [1, 2] }, position);
    for (const user of [ann, bob]) {
      expect(await store.list(owner(user), { status: 'all', limit: 10 })).toEqual([
        { id, type: 'todo', data: { title: 'Call Bob', n: [1, 2] }, createdAt: new Date(position.ms), readAt: null, archivedAt: null },
      ]);
      expect(await store.unread(owner(user))).toBe(1);
    }
    expect(await store.list(owner(eve), { status: 'all', limit: 10 })).toEqual([]);
    expect(await store.unread(owner(eve))).toBe(0);
  });

  it('adding the same id again changes nothing', async () => {
    const ann = fresh('ann');
    const position = nextPosition();
    await add(store, { userIds: [ann] }, 1, position);
    await add(store, { userIds: [ann] }, 2, position);
    expect((await store.list(owner(ann), { status: 'all', limit: 10 })).map((item) => item.data)).toEqual([1]);
    expect(await store.unread(owner(ann))).toBe(1);
  });

  it('lists newest first, and pages with `before` give every item exactly once', async () => {
    const ann = fresh('ann');
    const topic = fresh('topic');
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) {
      const target: PublishTarget = i % 3 === 0 ? { broadcast: true } : i % 3 === 1 ? { topic } : { userIds: [ann] };
      ids.push(await add(store, target, i));
    }
    const all = await listAll(store, owner(ann, [topic]), 'all');
    // Other tests' broadcasts are in this inbox too: only the order of this test's items is checked.
    const mine = idsOf(all).filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
    expect(new Set(idsOf(all)).size).toBe(all.length);
  });

  it('mark read, unread and archive: the count follows, and changing again changes nothing', async () => {
    const ann = fresh('ann');
    const [a, b, c] = [await add(store, { userIds: [ann] }), await add(store, { userIds: [ann] }), await add(store, { userIds: [ann] })];
    const me = owner(ann);
    const base = await store.unread(me);

    expect(await store.mark(me, [a, b], 'read')).toEqual({ ids: expect.arrayContaining([a, b]), unread: base - 2 });
    expect(await store.mark(me, [a], 'read')).toEqual({ ids: [], unread: base - 2 });
    const [read] = (await store.list(me, { status: 'all', limit: 10 })).filter((item) => item.id === a);
    expect(read.readAt).toBeInstanceOf(Date);

    expect(await store.mark(me, [a], 'unread')).toEqual({ ids: [a], unread: base - 1 });
    expect(await store.mark(me, [a], 'unread')).toEqual({ ids: [], unread: base - 1 });

    // Archiving an unread item takes it out of the count; a read one was out already.
    expect(await store.mark(me, [c], 'archived')).toEqual({ ids: [c], unread: base - 2 });
    expect(await store.mark(me, [b], 'archived')).toEqual({ ids: [b], unread: base - 2 });
    // Unread on an archived item clears its read time; it stays archived and uncounted.
    expect(await store.mark(me, [b], 'unread')).toEqual({ ids: [b], unread: base - 2 });
    const archived = await store.list(me, { status: 'archived', limit: 10 });
    expect(idsOf(archived)).toEqual([c, b]);
    expect(archived.every((item) => item.archivedAt instanceof Date && item.readAt === null)).toBe(true);
    expect(idsOf(await store.list(me, { status: 'all', limit: 10 }))).not.toContain(c);
    expect(idsOf(await store.list(me, { status: 'unread', limit: 10 }))).toContain(a);
  });

  it("ignores unknown ids, and other users' ids, without touching them", async () => {
    const [ann, bob] = [fresh('ann'), fresh('bob')];
    const forBob = await add(store, { userIds: [bob] });
    const forAnn = await add(store, { userIds: [ann] });
    const annBefore = await store.unread(owner(ann));
    const result = await store.mark(owner(ann), [forBob, '1-0', 'garbage', forAnn], 'read');
    expect(result).toEqual({ ids: [forAnn], unread: annBefore - 1 });
    expect(await store.mark(owner(ann), [forBob], 'archived')).toEqual({ ids: [], unread: annBefore - 1 });
    const bobs = await store.list(owner(bob), { status: 'all', limit: 10 });
    expect(bobs.find((item) => item.id === forBob)).toMatchObject({ readAt: null, archivedAt: null });
    // Bob's count is his unread items, his own one among them.
    const bobUnread = await listAll(store, owner(bob), 'unread', 100);
    expect(idsOf(bobUnread)).toContain(forBob);
    expect(await store.unread(owner(bob))).toBe(bobUnread.length);
  });

  it('a broadcast is kept once, reaches users never seen before, and each user marks it on their own', async () => {
    const [ann, bob] = [fresh('ann'), fresh('bob')];
    const id = await add(store, { broadcast: true }, 'hello all');
    const newcomer = fresh('newcomer');
    for (const user of [ann, bob, newcomer]) {
      expect(idsOf(await store.list(owner(user), { status: 'unread', limit: 100 }))).toContain(id);
    }
    const bobBefore = await store.unread(owner(bob));
    const annBefore = await store.unread(owner(ann));
    expect(await store.mark(owner(ann), [id], 'read')).toEqual({ ids: [id], unread: annBefore - 1 });
    expect(await store.unread(owner(bob))).toBe(bobBefore);
    expect(idsOf(await store.list(owner(bob), { status: 'unread', limit: 100 }))).toContain(id);
    expect(idsOf(await store.list(owner(ann), { status: 'unread', limit: 100 }))).not.toContain(id);
  });

  it("a topic's items are in the inboxes that hold the topic, and no others", async () => {
    const [ann, bob] = [fresh('ann'), fresh('bob')];
    const topic = fresh('news');
    const id = await add(store, { topic }, 'scoop');
    const withTopic = owner(ann, [topic]);
    expect(idsOf(await store.list(withTopic, { status: 'all', limit: 100 }))).toContain(id);
    expect(idsOf(await store.list(owner(bob), { status: 'all', limit: 100 }))).not.toContain(id);
    const before = await store.unread(withTopic);
    expect(await store.unread(owner(ann))).toBe(before - 1);
    expect((await store.mark(withTopic, [id], 'archived')).unread).toBe(before - 1);
    // Another user holding the topic still has it unread.
    expect(idsOf(await store.list(owner(bob, [topic]), { status: 'unread', limit: 100 }))).toContain(id);
  });

  it('mark all read covers the own feed, the broadcasts and the topics; a later item is unread', async () => {
    const ann = fresh('ann');
    const topic = fresh('topic');
    const me = owner(ann, [topic]);
    await add(store, { userIds: [ann] });
    await add(store, { topic });
    await add(store, { broadcast: true });
    const result = await store.mark(me, 'all', 'read');
    expect(result.unread).toBe(0);
    expect(result.ids.length).toBeGreaterThanOrEqual(3);
    expect(await store.list(me, { status: 'unread', limit: 100 })).toEqual([]);
    const later = await add(store, { userIds: [ann] });
    expect(await store.unread(me)).toBe(1);
    expect(idsOf(await store.list(me, { status: 'unread', limit: 100 }))).toEqual([later]);
  });

  it('concurrent adds and mark-alls: the count is exactly the unread items listed, never negative', async () => {
    const ann = fresh('ann');
    const me = owner(ann);
    const base = await store.unread(me);
    const answers: number[] = [];
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => add(store, { userIds: [ann] }, i)),
      ...Array.from({ length: 10 }, () => store.mark(me, 'all', 'read').then((r) => answers.push(r.unread))),
    ]);
    expect(answers.every((unread) => unread >= 0)).toBe(true);
    const unread = await store.unread(me);
    expect(unread).toBe((await listAll(store, me, 'unread', 100)).length);
    expect(unread).toBeLessThanOrEqual(30 + base);
    expect((await listAll(store, me, 'all', 100)).length).toBeGreaterThanOrEqual(30);
  });

  describe('retention', () => {
    it('a cap per feed: the oldest go first, and counts stay right whether they were read or not', async () => {
      const capped = await backend.create({ maxItems: 4, maxAgeMs: DEFAULT.maxAgeMs });
      const [ann, bob] = [fresh('ann'), fresh('bob')];
      const own = [await add(capped, { userIds: [ann] }), await add(capped, { userIds: [ann] })];
      const shared = [await add(capped, { broadcast: true }), await add(capped, { broadcast: true })];
      await capped.mark(owner(ann), [own[0], shared[0]], 'read');
      await capped.mark(owner(bob), [shared[1]], 'archived');
      expect(await capped.unread(owner(ann))).toBe(2);
      for (let i = 0; i < 3; i++) {
        own.push(await add(capped, { userIds: [ann] }));
        shared.push(await add(capped, { broadcast: true }));
      }
      // Each feed keeps its 4 newest: ann's own 3 new + own[1] (unread), the broadcasts' 3 new + shared[1].
      const kept = idsOf(await capped.list(owner(ann), { status: 'all', limit: 100 }));
      expect(kept.sort()).toEqual([...own.slice(1), ...shared.slice(1)].sort());
      expect(await capped.unread(owner(ann))).toBe(8);
      expect(await capped.unread(owner(bob))).toBe(3);
      expect(idsOf(await capped.list(owner(bob), { status: 'archived', limit: 100 }))).toEqual([shared[1]]);
      expect((await capped.mark(owner(ann), 'all', 'read')).unread).toBe(0);
      await add(capped, { broadcast: true });
      expect(await capped.unread(owner(ann))).toBe(1);
      expect(await capped.unread(owner(bob))).toBe(4);
    });

    it('an age limit: an item past it is gone from lists and counts, read or not', async () => {
      const maxAgeMs = 3000;
      const aging = await backend.create({ maxItems: 100, maxAgeMs });
      const [ann] = [fresh('ann')];
      const me = owner(ann);
      const now = Date.now();
      // Published 2.4 s ago: it ages out within a second.
      const old = [0, 1].map((seq) => ({ ms: now - 2400, seq }));
      const [readOne, unreadOne] = [await add(aging, { userIds: [ann] }, 'a', old[0]), await add(aging, { broadcast: true }, 'b', old[1])];
      const recent = await add(aging, { userIds: [ann] }, 'c');
      await aging.mark(me, [readOne], 'read');
      expect(await aging.unread(me)).toBe(2);
      // Never taken in: older than the limit already.
      await add(aging, { userIds: [ann] }, 'd', { ms: now - maxAgeMs - 1000, seq: 0 });
      expect(idsOf(await aging.list(me, { status: 'all', limit: 100 }))).toEqual([recent, unreadOne, readOne]);

      const deadline = Date.now() + 5000;
      while (idsOf(await aging.list(me, { status: 'all', limit: 100 })).length > 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(idsOf(await aging.list(me, { status: 'all', limit: 100 }))).toEqual([recent]);
      expect(await aging.unread(me)).toBe(1);
      expect(await aging.mark(me, [readOne, unreadOne], 'read')).toEqual({ ids: [], unread: 1 });
      expect((await aging.mark(me, 'all', 'read')).unread).toBe(0);
    });
  });
});

describe('PostgresInboxStore sweep', () => {
  const backend = backends.postgres();
  afterAll(() => backend.cleanUp());

  it('deletes the items that aged out and the marks on dropped items, and the counts do not move', async () => {
    const store = (await backend.create({ maxItems: 2, maxAgeMs: 2500 })) as PostgresInboxStore;
    const ann = fresh('ann');
    const me = owner(ann);
    const now = Date.now();
    const aging = await add(store, { userIds: [ann] }, 'aging', { ms: now - 2000, seq: 0 });
    const capped = await add(store, { broadcast: true }, 'capped');
    await store.mark(me, [aging, capped], 'read');
    await add(store, { broadcast: true });
    await add(store, { broadcast: true });
    const keep = await add(store, { userIds: [ann] }, 'kept');
    const deadline = Date.now() + 5000;
    while ((await store.list(me, { status: 'all', limit: 10 })).length > 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const before = { unread: await store.unread(me), items: idsOf(await store.list(me, { status: 'all', limit: 10 })) };
    expect(before.unread).toBe(3);
    expect(before.items).toContain(keep);

    await store.sweep();
    expect({ unread: await store.unread(me), items: idsOf(await store.list(me, { status: 'all', limit: 10 })) }).toEqual(before);
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const schema = (store as unknown as { schema: string }).schema;
      const rows = async (sql: string) => (await client.query(sql)).rows;
      expect(await rows(`SELECT id FROM "${schema}".sse_inbox_items WHERE id = '${aging}'`)).toEqual([]);
      expect(await rows(`SELECT id FROM "${schema}".sse_inbox_marks`)).toEqual([]);
      expect(await rows(`SELECT feed, seen FROM "${schema}".sse_inbox_seen WHERE seen <> 0`)).toEqual([]);
      expect(await rows(`SELECT feed, items FROM "${schema}".sse_inbox_feeds ORDER BY feed`)).toEqual([
        { feed: 'all', items: '2' },
        { feed: `user:${ann}`, items: '1' },
      ]);
    } finally {
      await client.end();
    }
  });
});

describe('RedisInboxStore', () => {
  const backend = backends.redis();
  afterAll(() => backend.cleanUp());

  // A count reads the feeds (their slots), then the user's marks (the user's slot). An item added and marked in
  // between (another instance, a slow network) must not be subtracted from a read that did not count it.
  it("counts only the marks on items that the feeds' read saw", async () => {
    const store = (await backend.create(DEFAULT)) as RedisInboxStore;
    const me = owner(fresh('ann'));
    const internals = store as unknown as {
      states(owner: InboxOwner): Promise<unknown[]>;
      marks(owner: InboxOwner, op: 'count', feeds: unknown[], rest: unknown[]): Promise<unknown[]>;
    };
    await add(store, { userIds: [me.userId] });
    const read = await internals.states(me);
    const id = await add(store, { userIds: [me.userId] });
    await store.mark(me, [id], 'read');
    // The read saw one item, unread: the later one, read, is not in it.
    const [unread] = await internals.marks(me, 'count', read, []);
    expect(Number(unread)).toBe(1);
    expect(await store.unread(me)).toBe(1);
  });

  // Lua unpacks at most about 8,000 values: a script's answer must not depend on unpacking what a mark-all changed.
  it('marks every item of an inbox of 9,000 read in one call', async () => {
    const store = await backend.create({ maxItems: 9000, maxAgeMs: DEFAULT.maxAgeMs });
    const me = owner(fresh('many'));
    const ids = await Promise.all(Array.from({ length: 9000 }, () => add(store, { userIds: [me.userId] })));
    expect(await store.unread(me)).toBe(9000);
    const result = await store.mark(me, 'all', 'read');
    expect(result.unread).toBe(0);
    expect(new Set(result.ids)).toEqual(new Set(ids));
  });
});
