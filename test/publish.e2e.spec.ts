import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { compareIds, expectIncreasing } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { sleep } from './harness/waiting.js';

interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error?: string;
}

async function open(server: DemoServer, userId: string, query?: string): Promise<TestStream> {
  return track(await TestStream.open(server.url, await signToken(userId), { types: ['news', 'ping'], query }));
}
afterEach(closeOpened);

/** POST /notifications as admin with a raw body. */
async function postRaw(server: DemoServer, body: string): Promise<{ status: number; type: string; json: ErrorBody }> {
  const res = await fetch(`${server.url}/notifications`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
    body,
  });
  const text = await res.text();
  let json: ErrorBody;
  try {
    json = JSON.parse(text) as ErrorBody;
  } catch {
    throw new Error(`status ${res.status}, not a JSON body: ${text.slice(0, 300)}`);
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', json };
}

/** Arrays nested `depth` levels deep around a string. */
function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function messageText(body: ErrorBody): string {
  return Array.isArray(body.message) ? body.message.join('; ') : body.message;
}

describe('publishing', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  it('to several users (userIds): each of them gets it once, with the id POST returned; others nothing', async () => {
    const alice = await open(server, 'p-alice');
    const bob = await open(server, 'p-bob');
    const carol = await open(server, 'p-carol');

    const id = await server.publishId({ userIds: ['p-alice', 'p-bob', 'p-alice'], type: 'news', data: { n: 1 } });
    const [forAlice] = await alice.waitForType('news');
    const [forBob] = await bob.waitForType('news');
    expect(forAlice).toEqual({ type: 'news', id, data: '{"n":1}' });
    expect(forBob).toEqual(forAlice);

    await sleep(300);
    expect(carol.ofType('news')).toEqual([]);
    // Named twice, delivered once.
    expect(alice.ofType('news')).toHaveLength(1);
  });

  it('to a topic: only the streams that asked for it get it', async () => {
    const subscriber = await open(server, 't-alice', 'topics=sports,weather');
    const sameUserNoTopic = await open(server, 't-alice');
    const other = await open(server, 't-bob', 'topics=weather');
    const second = await open(server, 't-carol', 'topics=sports');
    const admin = await open(server, 'admin');

    const id = await server.publishId({ topic: 'sports', type: 'news', data: 'goal' });
    const [event] = await subscriber.waitForType('news');
    expect(event).toEqual({ type: 'news', id, data: '"goal"' });
    expect(await second.waitForType('news')).toEqual([event]);

    await sleep(300);
    expect(sameUserNoTopic.ofType('news')).toEqual([]);
    expect(other.ofType('news')).toEqual([]);
    expect(admin.ofType('news')).toEqual([]);
  });

  it('to everyone (broadcast): every stream gets it', async () => {
    const streams = [
      await open(server, 'b-alice'),
      await open(server, 'b-alice', 'topics=sports'),
      await open(server, 'b-bob'),
      await open(server, 'admin'),
    ];
    const id = await server.publishId({ broadcast: true, type: 'news', data: { all: true } });
    for (const stream of streams) {
      expect(await stream.waitForType('news')).toEqual([{ type: 'news', id, data: '{"all":true}' }]);
    }
  });

  it('gives increasing ids, and each client sees the id POST returned, in that order', async () => {
    const alice = await open(server, 'i-alice', 'topics=ids');
    const bob = await open(server, 'i-bob');
    const postIds = [
      await server.publishId({ userId: 'i-alice', type: 'ping', data: 1 }),
      await server.publishId({ userIds: ['i-alice', 'i-bob'], type: 'ping', data: 2 }),
      await server.publishId({ topic: 'ids', type: 'ping', data: 3 }),
      await server.publishId({ broadcast: true, type: 'ping', data: 4 }),
      await server.publishId({ userId: 'i-alice', type: 'ping', data: 5 }),
    ];
    expectIncreasing(postIds);

    const aliceSaw = await alice.waitForType('ping', 5);
    expect(aliceSaw.map((e) => e.id)).toEqual(postIds);
    expect(aliceSaw.map((e) => e.data)).toEqual(['1', '2', '3', '4', '5']);

    const bobSaw = await bob.waitForType('ping', 2);
    expect(bobSaw.map((e) => e.id)).toEqual([postIds[1], postIds[3]]);

    // Every event id is after the ready event's id.
    const readyId = alice.ofType('sse.ready')[0].id;
    expect(compareIds(readyId, postIds[0])).toBeLessThan(0);
  });

  it('delivers concurrent publishes in the order of their ids, each id once', async () => {
    const watcher = await open(server, 'c-alice');
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => server.publishId({ broadcast: true, type: 'ping', data: i })),
    );
    expect(new Set(ids).size).toBe(20);
    const seen = (await watcher.waitForType('ping', 20)).map((e) => e.id);
    expectIncreasing(seen);
    expect([...seen].sort()).toEqual([...ids].sort());
  });

  describe('malformed bodies → 400', () => {
    const valid = { userId: 'someone', type: 'news', data: 1 };
    const cases: Array<[string, string, RegExp]> = [
      ['missing type', JSON.stringify({ userId: 'someone', data: 1 }), /type/],
      ['empty type', JSON.stringify({ ...valid, type: '' }), /type/],
      ['type not a string', JSON.stringify({ ...valid, type: 7 }), /type/],
      ['two targets (userId and topic)', JSON.stringify({ ...valid, topic: 'sports' }), /exactly one/],
      ['two targets (broadcast and userIds)', JSON.stringify({ broadcast: true, userIds: ['a'], type: 'x' }), /exactly one/],
      ['no target', JSON.stringify({ type: 'news', data: 1 }), /exactly one/],
      ['an unknown property', JSON.stringify({ ...valid, priority: 'high' }), /priority/],
      ['broadcast: false', JSON.stringify({ broadcast: false, type: 'news' }), /broadcast/],
      ['empty userIds', JSON.stringify({ userIds: [], type: 'news' }), /userIds/],
      ['userIds not an array', JSON.stringify({ userIds: 'a,b', type: 'news' }), /userIds/],
      ['LF in the type', JSON.stringify({ ...valid, type: 'news\nevent: evil' }), /event type/],
      ['CR in the type', JSON.stringify({ ...valid, type: 'news\revil' }), /event type/],
      ['CRLF in the topic', JSON.stringify({ topic: 'sports\r\nid: 1', type: 'news' }), /topic/],
      ['LF in the userId', JSON.stringify({ userId: 'bob\nevil', type: 'news' }), /user id/],
      ['CR in one of the userIds', JSON.stringify({ userIds: ['ok', 'bad\r'], type: 'news' }), /user id/],
      ['the reserved type sse.ready', JSON.stringify({ ...valid, type: 'sse.ready' }), /reserved/],
      ['the reserved type sse.close', JSON.stringify({ ...valid, type: 'sse.close' }), /reserved/],
      ['a reserved type sse.anything', JSON.stringify({ ...valid, type: 'sse.anything' }), /reserved/],
      ['bad JSON', '{"userId": "someone", "type": ', /./],
      // class-transformer's recursive copy of such a body once overflowed the stack: a 500.
      ['data nested 1,300 levels deep', JSON.stringify({ ...valid, data: nested(1300) }), /nested deeper than 64 levels/],
      ['data nested 64 levels deep (the body 65)', JSON.stringify({ ...valid, data: nested(64) }), /nested deeper than 64 levels/],
      // Express parses it as an own key, which the schema refuses; Fastify's parser refuses the body itself.
      ['a __proto__ key', '{"__proto__":{"admin":true},"userId":"someone","type":"news"}', /__proto__|not valid JSON/],
    ];

    it.each(cases)('%s', async (_, body, message) => {
      const res = await postRaw(server, body);
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^application\/json/);
      expect(res.json.statusCode).toBe(400);
      expect(messageText(res.json)).toMatch(message);
    });

    it('publishes nothing when refused', async () => {
      const watcher = await open(server, 'someone', 'topics=sports');
      for (const [, body] of cases) await postRaw(server, body);
      await sleep(300);
      expect(watcher.events.map((e) => e.type)).toEqual(['sse.ready']);
    });
  });

  it('accepts data nested 63 levels deep (the body 64, the limit) and delivers it intact', async () => {
    const watcher = await open(server, 'deep-user');
    const data = nested(63);
    const id = await server.publishId({ userId: 'deep-user', type: 'news', data });
    const [event] = await watcher.waitForType('news');
    expect(event.id).toBe(id);
    expect(JSON.parse(event.data)).toEqual(data);
  });

  describe('body size', () => {
    it('accepts a body well under 64kb', async () => {
      const watcher = await open(server, 'size-user');
      const data = 'x'.repeat(40 * 1024);
      const id = await server.publishId({ userId: 'size-user', type: 'news', data });
      const [event] = await watcher.waitForType('news');
      expect(event.id).toBe(id);
      expect(JSON.parse(event.data)).toBe(data);
    });

    it('answers 413 with a JSON body to a body over 64kb', async () => {
      const res = await postRaw(server, JSON.stringify({ broadcast: true, type: 'news', data: 'x'.repeat(70 * 1024) }));
      expect(res.status).toBe(413);
      expect(res.type).toMatch(/^application\/json/);
      expect(res.json.statusCode).toBe(413);
    });
  });
});
