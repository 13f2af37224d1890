import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { everyItem, getInbox, inboxEvents, mark, postInbox } from './harness/inbox-api.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { sleep } from './harness/waiting.js';

/**
 * The demo app's inbox contract (GET /inbox, POST /inbox/read|unread|archive,
 * POST /notifications with inbox: true), in memory, over real HTTP and real
 * EventSource clients.
 */

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** Long enough for a stray event to show up, were one on its way. */
const SETTLE_MS = 300;

afterEach(closeOpened);

describe('the inbox', () => {
  let server: DemoServer;
  let users = 0;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  /** A user never seen before, and a token for them. */
  async function user(): Promise<{ id: string; token: string }> {
    const id = `inbox-user-${++users}`;
    return { id, token: await signToken(id) };
  }

  async function open(token: string): Promise<TestStream> {
    return track(await TestStream.open(server.url, token, { types: ['sse.inbox', 'todo', 'news'] }));
  }

  const keep = (target: Record<string, unknown>, data: unknown = null, type = 'todo') =>
    server.publishId({ ...target, type, data, inbox: true });

  it('no token: 401 with a challenge, on every endpoint', async () => {
    const answers = [
      await getInbox(server.url, undefined),
      await postInbox(server.url, undefined, 'read', { all: true }),
      await postInbox(server.url, undefined, 'unread', { ids: [] }),
      await postInbox(server.url, undefined, 'archive', { ids: [] }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sse"');
      expect(res.json).toMatchObject({ statusCode: 401 });
    }
  });

  it('a published item is listed with its id, type, data and ISO times, and counted; the stream gets it, then sse.inbox', async () => {
    const ann = await user();
    const stream = await open(ann.token);
    const id = await keep({ userId: ann.id }, { title: 'Call Bob' });
    const page = await getInbox(server.url, ann.token);
    expect(page.status).toBe(200);
    expect(page.json).toEqual({
      items: [{ id, type: 'todo', data: { title: 'Call Bob' }, createdAt: expect.stringMatching(ISO), readAt: null, archivedAt: null }],
      unread: 1,
      nextCursor: null,
    });
    expect(Date.parse(page.json.items[0].createdAt)).toBe(Number(id.split('-')[0]));
    await stream.waitForType('sse.inbox');
    expect(stream.events.filter((e) => e.type !== 'sse.ready').map((e) => e.type)).toEqual(['todo', 'sse.inbox']);
    expect(stream.ofType('todo')[0].id).toBe(id);
    expect(inboxEvents(stream.events)).toEqual([{ unread: 1, change: 'added', ids: [id] }]);
  });

  it('a publish without inbox: true keeps nothing', async () => {
    const ann = await user();
    await server.publishId({ userId: ann.id, type: 'todo', data: 1 });
    await server.publishId({ userId: ann.id, type: 'todo', data: 2, inbox: false });
    expect((await getInbox(server.url, ann.token)).json).toEqual({ items: [], unread: 0, nextCursor: null });
  });

  it('read, unread, archive and read all answer exactly 200 with the count, and each reaches the stream as one sse.inbox', async () => {
    const ann = await user();
    const [a, b, c] = [await keep({ userId: ann.id }, 'a'), await keep({ userId: ann.id }, 'b'), await keep({ userId: ann.id }, 'c')];
    const stream = await open(ann.token);

    expect(await mark(server.url, ann.token, 'read', { ids: [a, b] })).toBe(1);
    expect(await mark(server.url, ann.token, 'unread', { ids: [b] })).toBe(2);
    expect(await mark(server.url, ann.token, 'archive', { ids: [c] })).toBe(1);
    expect(await mark(server.url, ann.token, 'read', { all: true })).toBe(0);
    await stream.waitForType('sse.inbox', 4);
    await sleep(SETTLE_MS);
    expect(inboxEvents(stream.events)).toEqual([
      { unread: 1, change: 'read', ids: expect.arrayContaining([a, b]) },
      { unread: 2, change: 'unread', ids: [b] },
      { unread: 1, change: 'archived', ids: [c] },
      { unread: 0, change: 'read-all' },
    ]);

    const all = await getInbox(server.url, ann.token);
    expect(all.json.items.map((item) => item.id)).toEqual([b, a]);
    for (const item of all.json.items) expect(item.readAt).toMatch(ISO);
    const archived = await getInbox(server.url, ann.token, 'status=archived');
    expect(archived.json.items).toEqual([expect.objectContaining({ id: c, archivedAt: expect.stringMatching(ISO) })]);
    // A change that changes nothing answers the count and sends nothing.
    expect(await mark(server.url, ann.token, 'read', { ids: [a] })).toBe(0);
    await sleep(SETTLE_MS);
    expect(inboxEvents(stream.events)).toHaveLength(4);
  });

  it('`unread` is the total of unread items not archived, whatever status, limit and cursor ask for', async () => {
    const ann = await user();
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await keep({ userId: ann.id }, i));
    await mark(server.url, ann.token, 'read', { ids: [ids[0]] });
    await mark(server.url, ann.token, 'archive', { ids: [ids[1], ids[2]] });
    await mark(server.url, ann.token, 'read', { ids: [ids[2]] });
    const first = await getInbox(server.url, ann.token, 'limit=1');
    const answers = [
      first,
      await getInbox(server.url, ann.token, `limit=1&cursor=${encodeURIComponent(first.json.nextCursor!)}`),
      await getInbox(server.url, ann.token, 'status=unread&limit=2'),
      await getInbox(server.url, ann.token, 'status=archived'),
      await getInbox(server.url, ann.token, 'status=all&limit=100'),
    ];
    for (const res of answers) expect(res.json.unread).toBe(3);
    expect((await getInbox(server.url, ann.token, 'status=unread')).json.items.map((item) => item.id)).toEqual(
      [ids[5], ids[4], ids[3]],
    );
    expect((await getInbox(server.url, ann.token, 'status=all')).json.items.map((item) => item.id)).toEqual(
      [ids[5], ids[4], ids[3], ids[0]],
    );
  });

  it('pagination gives every item exactly once, newest first, in each status', async () => {
    const ann = await user();
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(await keep({ userId: ann.id }, i));
    await mark(server.url, ann.token, 'read', { ids: ids.filter((_, i) => i % 3 === 0) });
    const all = await everyItem(server.url, ann.token, 'all', 7);
    expect(all.map((item) => item.id)).toEqual([...ids].reverse());
    const unread = await everyItem(server.url, ann.token, 'unread', 4);
    expect(unread.map((item) => item.id)).toEqual([...ids].reverse().filter((id) => ids.indexOf(id) % 3 !== 0));
    // Items arriving while paging come before the first page, so they never shift a later page.
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof getInbox>> = await getInbox(
        server.url,
        ann.token,
        `limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      pages.push(...page.json.items.map((item) => item.id));
      cursor = page.json.nextCursor;
      await keep({ userId: ann.id }, 'meanwhile');
    } while (cursor);
    expect(pages).toEqual([...ids].reverse());
  });

  it("another user's ids are ignored, never touched nor revealed, and nothing reaches the other user's streams", async () => {
    const [ann, bob] = [await user(), await user()];
    const forBob = await keep({ userId: bob.id }, 'bob');
    const forAnn = await keep({ userId: ann.id }, 'ann');
    const bobStream = await open(bob.token);
    const annStream = await open(ann.token);
    // The same answer as for an id that exists nowhere.
    expect(await mark(server.url, ann.token, 'read', { ids: [forBob] })).toBe(1);
    expect(await mark(server.url, ann.token, 'read', { ids: ['1-0'] })).toBe(1);
    expect(await mark(server.url, ann.token, 'archive', { ids: [forBob, 'no-such-id'] })).toBe(1);
    expect(await mark(server.url, ann.token, 'read', { ids: [forBob, forAnn] })).toBe(0);
    await annStream.waitForType('sse.inbox');
    await sleep(SETTLE_MS);
    expect(inboxEvents(annStream.events)).toEqual([{ unread: 0, change: 'read', ids: [forAnn] }]);
    expect(bobStream.events.map((e) => e.type)).toEqual(['sse.ready']);
    expect((await getInbox(server.url, bob.token)).json).toMatchObject({
      items: [{ id: forBob, readAt: null, archivedAt: null }],
      unread: 1,
    });
    expect((await getInbox(server.url, ann.token, 'status=archived')).json.items).toEqual([]);
  });

  it('a broadcast reaches users who never connected, and a topic of the inbox every user; each marks it alone', async () => {
    const [ann, bob] = [await user(), await user()];
    const annStream = await open(ann.token);
    const news = await keep({ topic: 'news' }, 'scoop', 'news');
    const other = await keep({ topic: 'not-in-inboxes' }, 'x', 'news');
    const hello = await keep({ broadcast: true }, 'hello', 'news');
    const newcomer = await user();
    for (const who of [ann, bob, newcomer]) {
      const ids = (await everyItem(server.url, who.token, 'unread', 100)).map((item) => item.id);
      expect(ids).toEqual(expect.arrayContaining([hello, news]));
      expect(ids).not.toContain(other);
    }
    await annStream.waitForType('sse.inbox', 2);
    const [onNews, onHello] = inboxEvents(annStream.events);
    expect(onNews).toMatchObject({ change: 'added', ids: [news] });
    expect(onHello).toMatchObject({ change: 'added', ids: [hello], unread: onNews.unread + 1 });
    const bobBefore = (await getInbox(server.url, bob.token)).json.unread;
    await mark(server.url, ann.token, 'read', { ids: [hello, news] });
    expect((await getInbox(server.url, bob.token)).json.unread).toBe(bobBefore);
  });

  describe('bad input: 400 with a JSON body, never a 5xx', () => {
    let ann: { id: string; token: string };
    let cursor: string;
    let before: string;
    beforeAll(async () => {
      ann = await user();
      for (let i = 0; i < 3; i++) await keep({ userId: ann.id }, i);
      cursor = (await getInbox(server.url, ann.token, 'limit=1')).json.nextCursor!;
      before = (await getInbox(server.url, ann.token, 'limit=100')).text;
    });

    const tampered = (text: string) => `${text.slice(0, -2)}${text.endsWith('AA') ? 'BB' : 'AA'}`;
    const queries: Array<[string, () => string, RegExp]> = [
      ['limit 0', () => 'limit=0', /limit/],
      ['limit 101', () => 'limit=101', /limit/],
      ['limit not a number', () => 'limit=ten', /limit/],
      ['limit a fraction', () => 'limit=1.5', /limit/],
      ['limit negative', () => 'limit=-1', /limit/],
      ['limit empty', () => 'limit=', /limit/],
      ['limit twice', () => 'limit=1&limit=2', /limit/],
      ['an unknown status', () => 'status=read', /status/],
      ['an unknown parameter', () => 'sort=asc', /sort/],
      ['a garbage cursor', () => 'cursor=garbage', /cursor/],
      ['a tampered cursor', () => `cursor=${encodeURIComponent(tampered(cursor))}`, /cursor/],
      ['a cursor whose id was changed', () => `cursor=${encodeURIComponent(`${Buffer.from('1-0').toString('base64url')}.${cursor.split('.')[1]}`)}`, /cursor/],
      ['a cursor of another status', () => `status=unread&cursor=${encodeURIComponent(cursor)}`, /cursor/],
      ['a cursor of the right form from no server', () => `cursor=${Buffer.from('1796227268133-0').toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`, /cursor/],
    ];
    it.each(queries)('GET /inbox: %s', async (_, query, message) => {
      const res = await getInbox(server.url, ann.token, query());
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.json).toMatchObject({ statusCode: 400 });
      expect(String(res.json && (res.json as unknown as { message: string }).message)).toMatch(message);
    });

    it("GET /inbox: another user's cursor", async () => {
      const bob = await user();
      const res = await getInbox(server.url, bob.token, `cursor=${encodeURIComponent(cursor)}`);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ statusCode: 400, message: expect.stringMatching(/cursor/) });
    });

    const bodies: Array<[string, 'read' | 'unread' | 'archive', unknown, RegExp]> = [
      ['ids not an array', 'read', { ids: 'a,b' }, /ids/],
      ['ids holding a number', 'read', { ids: ['1-0', 7] }, /ids/],
      ['ids holding an object', 'archive', { ids: [{ id: '1-0' }] }, /ids/],
      ['more than 1,000 ids', 'unread', { ids: Array.from({ length: 1001 }, (_, i) => `${i}-0`) }, /ids/],
      ['an unknown field', 'read', { ids: [], priority: 1 }, /priority/],
      ['all not a boolean', 'read', { all: 'true' }, /all/],
      ['all a number', 'read', { all: 1 }, /all/],
      ['both ids and all', 'read', { ids: [], all: true }, /either ids or all/],
      ['neither ids nor all', 'read', {}, /either ids or all/],
      ['all: false alone', 'read', { all: false }, /either ids or all/],
      ['no ids to unread', 'unread', {}, /ids/],
      ['all on archive', 'archive', { all: true }, /all|ids/],
      ['a body that is not JSON', 'read', '{"ids": [', /./],
      ['a JSON array as the body', 'read', '[]', /./],
      ['a JSON string as the body', 'archive', '"ids"', /./],
    ];
    it.each(bodies)('POST /inbox/%#: %s', async (_, action, body, message) => {
      const res = await postInbox(server.url, ann.token, action, body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.json).toMatchObject({ statusCode: 400 });
      expect(JSON.stringify((res.json as unknown as { message: unknown }).message)).toMatch(message);
    });

    it('POST /notifications with inbox not a boolean', async () => {
      for (const inbox of ['yes', 1, null]) {
        const res = await server.publish({ userId: ann.id, type: 'todo', inbox });
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ statusCode: 400, message: expect.stringMatching(/inbox/) });
      }
    });

    it('changed nothing', async () => {
      const page = await getInbox(server.url, ann.token, 'limit=100');
      expect(page.text).toBe(before);
      expect(page.json.items.every((item) => item.readAt === null && item.archivedAt === null)).toBe(true);
    });
  });

  it('OpenAPI describes the inbox endpoints and the inbox flag of POST /notifications', async () => {
    const doc = (await (await fetch(`${server.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string }>; requestBody?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.paths['/inbox'].get.parameters!.map((p) => p.name).sort()).toEqual(['cursor', 'limit', 'status']);
    for (const action of ['read', 'unread', 'archive']) {
      const post = doc.paths[`/inbox/${action}`].post;
      expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '400', '401']));
      expect(JSON.stringify(post.requestBody)).toContain('ids');
    }
    expect(JSON.stringify(doc.paths['/notifications'].post.requestBody)).toContain('"inbox"');
  });
});
