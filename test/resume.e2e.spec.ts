import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { compareIds, expectIncreasing } from './harness/event-ids.js';
import { lossOf, TestStream, type ReceivedEvent, type TestStreamOptions } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * Resume: a client that comes back with the id of the last event it received
 * (`Last-Event-ID`, or `?lastEventId=`) first gets exactly what it missed, in
 * order, once each, then live events; a cursor that cannot be honoured gives
 * one `sse.loss` right after `sse.ready`.
 */

const TYPE = 'note';
/** Long enough for a duplicate or a stray event to show up, were one on its way. */
const SETTLE_MS = 250;

function publish(server: DemoServer, target: Record<string, unknown>, data: unknown = null): Promise<string> {
  return server.publishId({ ...target, type: TYPE, data });
}

function notes(stream: TestStream): ReceivedEvent[] {
  return stream.ofType(TYPE);
}

describe('resume with Last-Event-ID', () => {
  let server: DemoServer;
  const streams: TestStream[] = [];
  const extraServers: DemoServer[] = [];

  async function open(baseUrl: string, userId: string, options: TestStreamOptions = {}): Promise<TestStream> {
    const stream = await TestStream.open(baseUrl, await signToken(userId), { types: [TYPE], ...options });
    streams.push(stream);
    return stream;
  }

  /** Creates a stream without waiting for it (for races). */
  async function create(baseUrl: string, userId: string, options: TestStreamOptions = {}): Promise<TestStream> {
    const stream = new TestStream(baseUrl, await signToken(userId), { types: [TYPE], ...options });
    streams.push(stream);
    return stream;
  }

  async function startExtra(overrides: Parameters<typeof startDemoServer>[0]): Promise<DemoServer> {
    const extra = await startDemoServer(overrides);
    extraServers.push(extra);
    return extra;
  }

  beforeAll(async () => {
    server = await startDemoServer();
  });

  afterEach(async () => {
    streams.splice(0).forEach((stream) => stream.close());
    await Promise.all(extraServers.splice(0).map((extra) => extra.close()));
  });

  afterAll(() => server.close());

  it('after the client closed, a new stream with the Last-Event-ID header gets exactly the missed events (user, topic, broadcast), in order, then live ones', async () => {
    const first = await open(server.url, 'rita', { query: 'topics=news' });
    const seen = [
      await publish(server, { userId: 'rita' }, { n: 'a' }),
      await publish(server, { topic: 'news' }, { n: 'b' }),
    ];
    await first.waitForType(TYPE, 2);
    expect(notes(first).map((e) => e.id)).toEqual(seen);
    const lastId = seen[1];
    first.close();

    const missed: string[] = [];
    for (let i = 0; i < 9; i++) {
      const target = [{ userId: 'rita' }, { topic: 'news' }, { broadcast: true }][i % 3];
      missed.push(await publish(server, target, { i }));
      // Not for rita: never to be replayed to her.
      await publish(server, { userId: 'someone-else' }, { i });
      await publish(server, { topic: 'sports' }, { i });
    }

    const second = await open(server.url, 'rita', { query: 'topics=news', headers: { 'Last-Event-ID': lastId } });
    await second.waitForType(TYPE, missed.length);
    await sleep(SETTLE_MS);
    expect(notes(second).map((e) => e.id)).toEqual(missed);
    expect(notes(second).map((e) => JSON.parse(e.data))).toEqual(missed.map((_, i) => ({ i })));

    const live = await publish(server, { userId: 'rita' }, { live: true });
    await second.waitForType(TYPE, missed.length + 1);
    await sleep(SETTLE_MS);
    expect(notes(second).map((e) => e.id)).toEqual([...missed, live]);
    // The stream starts where the client said it was, with no loss.
    expect(second.events[0]).toMatchObject({ type: 'sse.ready', id: lastId });
    expect(second.ofType('sse.loss')).toEqual([]);
    expect(second.ofType('sse.ready')).toHaveLength(1);
  });

  it('the ?lastEventId= query parameter resumes like the header', async () => {
    const first = await open(server.url, 'quinn');
    const lastId = await publish(server, { userId: 'quinn' }, 0);
    await first.waitForType(TYPE, 1);
    first.close();

    const missed = [
      await publish(server, { userId: 'quinn' }, 1),
      await publish(server, { broadcast: true }, 2),
      await publish(server, { userId: 'quinn' }, 3),
    ];
    const second = await open(server.url, 'quinn', { query: `lastEventId=${encodeURIComponent(lastId)}` });
    await second.waitForType(TYPE, missed.length);
    await sleep(SETTLE_MS);
    expect(second.events[0]).toMatchObject({ type: 'sse.ready', id: lastId });
    expect(notes(second).map((e) => e.id)).toEqual(missed);
    expect(second.ofType('sse.loss')).toEqual([]);

    const live = await publish(server, { userId: 'quinn' }, 4);
    await second.waitForType(TYPE, missed.length + 1);
    expect(notes(second).map((e) => e.id)).toEqual([...missed, live]);
  });

  it('the Last-Event-ID header wins over the query parameter', async () => {
    const first = await open(server.url, 'quentin');
    const lastId = await publish(server, { userId: 'quentin' }, 0);
    await first.waitForType(TYPE, 1);
    first.close();
    const missed = [await publish(server, { userId: 'quentin' }, 1), await publish(server, { userId: 'quentin' }, 2)];

    const second = await open(server.url, 'quentin', {
      query: 'lastEventId=garbage',
      headers: { 'Last-Event-ID': lastId },
    });
    await second.waitForType(TYPE, missed.length);
    await sleep(SETTLE_MS);
    expect(second.ofType('sse.loss')).toEqual([]);
    expect(notes(second).map((e) => e.id)).toEqual(missed);
  });

  it('after an admin DELETE /sse/connections/:userId, resuming from the id of sse.close gives exactly the missed events', async () => {
    const first = await open(server.url, 'olga', { query: 'topics=news' });
    const seen = [await publish(server, { userId: 'olga' }, 0), await publish(server, { topic: 'news' }, 1)];
    await first.waitForType(TYPE, 2);

    const res = await fetch(`${server.url}/sse/connections/olga`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${server.adminToken}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ closed: 1 });
    const [close] = await first.waitForType('sse.close');
    // sse.close means "do not reconnect": the client obeys.
    first.close();
    // It carries the position the stream had reached, so resuming from it loses nothing.
    expect(close.id).toBe(seen[1]);

    const missed = [
      await publish(server, { topic: 'news' }, 2),
      await publish(server, { userId: 'olga' }, 3),
      await publish(server, { broadcast: true }, 4),
    ];
    const second = await open(server.url, 'olga', { query: 'topics=news', headers: { 'Last-Event-ID': close.id } });
    await second.waitForType(TYPE, missed.length);
    await sleep(SETTLE_MS);
    expect(notes(second).map((e) => e.id)).toEqual(missed);
    expect(second.ofType('sse.loss')).toEqual([]);
  });

  it('after a network drop, the eventsource client reconnects by itself with Last-Event-ID and gets each event of the gap once', async () => {
    const httpServer = server.app.getHttpServer() as Server;
    const sseSockets = new Set<Socket>();
    const track = (req: IncomingMessage) => {
      if (req.method === 'GET' && req.url?.startsWith('/sse') && req.headers.authorization) sseSockets.add(req.socket);
    };
    httpServer.on('request', track);
    try {
      const stream = await open(server.url, 'nora', { query: 'topics=news' });
      const before = [await publish(server, { userId: 'nora' }, 0), await publish(server, { topic: 'news' }, 1)];
      await stream.waitForType(TYPE, 2);
      expect(sseSockets.size).toBe(1);

      // The network drops: the server side of the connection is destroyed, without any SSE goodbye.
      const errorsBefore = stream.errors.length;
      sseSockets.forEach((socket) => socket.destroy());
      sseSockets.clear();
      await stream.until(() => stream.errors.length > errorsBefore);
      await eventually(async () => (await server.stats()).streams === 0, 2000, 'the dropped stream to be gone');

      const gap = [
        await publish(server, { userId: 'nora' }, 2),
        await publish(server, { topic: 'news' }, 3),
        await publish(server, { broadcast: true }, 4),
        await publish(server, { userId: 'nora' }, 5),
      ];
      // The client waits `retry:` before it reconnects.
      await stream.waitForType('sse.ready', 2, 8000);
      await stream.waitForType(TYPE, before.length + gap.length);
      const live = await publish(server, { userId: 'nora' }, 6);
      await stream.waitForType(TYPE, before.length + gap.length + 1);
      await sleep(SETTLE_MS);

      // The reconnection carried the id of the last event received, and resumed right after it.
      expect(stream.ofType('sse.ready')[1].id).toBe(before[1]);
      expect(notes(stream).map((e) => e.id)).toEqual([...before, ...gap, live]);
      expect(stream.ofType('sse.loss')).toEqual([]);
      expect(stream.source.readyState).toBe(stream.source.OPEN);
      expect(sseSockets.size).toBe(1);
    } finally {
      httpServer.off('request', track);
    }
  });

  it('a burst of 200 concurrent publishes while clients connect with Last-Event-ID arrives once each, in order', async () => {
    const users = ['burst-a', 'burst-b', 'burst-c'];
    const cursors = new Map<string, string>();
    for (const user of users) {
      const stream = await open(server.url, user, { query: 'topics=burst' });
      const id = await publish(server, { userId: user }, `first-${user}`);
      await stream.waitForType(TYPE, 1);
      cursors.set(user, id);
      stream.close();
    }

    type Target = { userId: string } | { topic: string } | { broadcast: true };
    const published: Array<{ target: Target; id: string }> = [];
    const send = async (target: Target, n: number): Promise<void> => {
      published.push({ target, id: await publish(server, target, n) });
    };
    const targetOf = (n: number): Target =>
      n % 5 === 3 ? { topic: 'burst' } : n % 5 === 4 ? { broadcast: true } : { userId: users[n % 3] };

    // Missed before reconnecting: replayed.
    for (let n = 0; n < 12; n++) await send(targetOf(n), n);

    // The burst, with the resuming clients connecting in the middle of it.
    const burst: Promise<void>[] = [];
    for (let n = 12; n < 112; n++) burst.push(send(targetOf(n), n));
    const resumed = await Promise.all(
      users.map((user) => create(server.url, user, { query: 'topics=burst', headers: { 'Last-Event-ID': cursors.get(user)! } })),
    );
    for (let n = 112; n < 212; n++) burst.push(send(targetOf(n), n));
    await Promise.all(burst);
    expect(published).toHaveLength(212);

    const sortedIds = (ids: string[]) => [...ids].sort(compareIds);
    for (const [i, user] of users.entries()) {
      const stream = resumed[i];
      const expected = sortedIds(
        published
          .filter(({ target }) => !('userId' in target) || target.userId === user)
          .map(({ id }) => id)
          .filter((id) => compareIds(id, cursors.get(user)!) > 0),
      );
      await stream.waitForType(TYPE, expected.length, 10_000);
      await sleep(SETTLE_MS);
      const got = notes(stream).map((e) => e.id);
      expectIncreasing(got);
      expect(new Set(got).size).toBe(got.length);
      expect(got).toEqual(expected);
      expect(stream.ofType('sse.loss')).toEqual([]);
      expect(stream.ofType('sse.ready')).toHaveLength(1);
      expect(stream.events[0]).toMatchObject({ type: 'sse.ready', id: cursors.get(user) });
    }
  });

  describe('a cursor that cannot be honoured gives one sse.loss right after sse.ready', () => {
    async function expectLiveAfterLoss(target: DemoServer, stream: TestStream, userId: string): Promise<void> {
      // Nothing is replayed, and live events keep flowing.
      await sleep(SETTLE_MS);
      expect(notes(stream)).toEqual([]);
      const live = [await publish(target, { userId }, 'live-1'), await publish(target, { broadcast: true }, 'live-2')];
      await stream.waitForType(TYPE, 2);
      await sleep(SETTLE_MS);
      expect(notes(stream).map((e) => e.id)).toEqual(live);
      expect(stream.ofType('sse.loss')).toHaveLength(1);
      expect(stream.ofType('sse.ready')).toHaveLength(1);
    }

    it("an id older than the history (historySize 5) gives 'expired', then live events", async () => {
      const small = await startExtra({ historySize: 5 });
      const first = await open(small.url, 'paul');
      const firstId = await publish(small, { userId: 'paul' }, 0);
      await first.waitForType(TYPE, 1);
      first.close();
      const away: string[] = [];
      for (let i = 1; i <= 20; i++) away.push(await publish(small, { userId: 'paul' }, i));

      const second = await open(small.url, 'paul', { headers: { 'Last-Event-ID': firstId } });
      await sleep(SETTLE_MS);
      expect(second.events.map((e) => e.type).slice(0, 2)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(second.events[1])).toEqual({ reason: 'expired', lastEventId: firstId });
      // The stream starts live, from the newest event: a client resuming from here loses nothing more.
      expect(second.events[0].id).toBe(away[19]);
      expect(second.events[1].id).toBe(away[19]);
      await expectLiveAfterLoss(small, second, 'paul');
    });

    it('at the edge of the history: the id just before the 5 kept events resumes; the one before it is expired', async () => {
      const small = await startExtra({ historySize: 5 });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await publish(small, { userId: 'pia' }, i));

      const atEdge = await open(small.url, 'pia', { headers: { 'Last-Event-ID': ids[14] } });
      await atEdge.waitForType(TYPE, 5);
      await sleep(SETTLE_MS);
      expect(atEdge.ofType('sse.loss')).toEqual([]);
      expect(notes(atEdge).map((e) => e.id)).toEqual(ids.slice(15));
      atEdge.close();

      const pastEdge = await open(small.url, 'pia', { headers: { 'Last-Event-ID': ids[13] } });
      await sleep(SETTLE_MS);
      expect(pastEdge.ofType('sse.loss').map(lossOf)).toEqual([{ reason: 'expired', lastEventId: ids[13] }]);
      expect(notes(pastEdge)).toEqual([]);
    });

    it("an id whose events are older than historyTtlMs gives 'expired'; one with nothing missed does not", async () => {
      const shortLived = await startExtra({ historyTtlMs: 300 });
      const first = await open(shortLived.url, 'tess');
      const ids = [await publish(shortLived, { userId: 'tess' }, 0), await publish(shortLived, { userId: 'tess' }, 1)];
      await first.waitForType(TYPE, 2);
      first.close();
      await sleep(500);

      const missedSome = await open(shortLived.url, 'tess', { headers: { 'Last-Event-ID': ids[0] } });
      await sleep(SETTLE_MS);
      expect(missedSome.ofType('sse.loss').map(lossOf)).toEqual([{ reason: 'expired', lastEventId: ids[0] }]);
      expect(notes(missedSome)).toEqual([]);
      missedSome.close();

      const missedNone = await open(shortLived.url, 'tess', { headers: { 'Last-Event-ID': ids[1] } });
      await sleep(SETTLE_MS);
      expect(missedNone.ofType('sse.loss')).toEqual([]);
      expect(missedNone.events[0]).toMatchObject({ type: 'sse.ready', id: ids[1] });
    });

    it("an id in the future gives 'unknown', then live events", async () => {
      await publish(server, { userId: 'uma' }, 'before');
      const future = `${Date.now() + 60_000}-0`;
      const stream = await open(server.url, 'uma', { headers: { 'Last-Event-ID': future } });
      await sleep(SETTLE_MS);
      expect(stream.events.map((e) => e.type).slice(0, 2)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(stream.events[1])).toEqual({ reason: 'unknown', lastEventId: future });
      await expectLiveAfterLoss(server, stream, 'uma');
    });

    it.each([
      ['header', 'garbage'],
      ['header', '12-34-56'],
      ['query', 'not-an-id'],
    ])("a malformed id (%s %p) gives 'malformed', then live events", async (where, bad) => {
      const userId = `mal-${where}-${bad.length}`;
      await publish(server, { userId }, 'before');
      const stream = await open(
        server.url,
        userId,
        where === 'header' ? { headers: { 'Last-Event-ID': bad } } : { query: `lastEventId=${encodeURIComponent(bad)}` },
      );
      await sleep(SETTLE_MS);
      expect(stream.events.map((e) => e.type).slice(0, 2)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(stream.events[1])).toEqual({ reason: 'malformed', lastEventId: bad });
      await expectLiveAfterLoss(server, stream, userId);
    });

    it("an id from before a restart gives 'restarted', then live events", async () => {
      const before = await startExtra({});
      const first = await open(before.url, 'ravi');
      const oldId = await publish(before, { userId: 'ravi' }, 'old');
      await first.waitForType(TYPE, 1);
      first.close();
      await before.close();
      extraServers.splice(extraServers.indexOf(before), 1);

      const after = await startExtra({});
      const stream = await open(after.url, 'ravi', { headers: { 'Last-Event-ID': oldId } });
      await sleep(SETTLE_MS);
      expect(stream.events.map((e) => e.type).slice(0, 2)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(stream.events[1])).toEqual({ reason: 'restarted', lastEventId: oldId });
      await expectLiveAfterLoss(after, stream, 'ravi');
    });

    it('resuming from the id of the sse.loss event loses nothing more', async () => {
      const stream = await open(server.url, 'lars', { headers: { 'Last-Event-ID': 'garbage' } });
      const [loss] = await stream.waitForType('sse.loss');
      stream.close();
      const missed = [await publish(server, { userId: 'lars' }, 1), await publish(server, { broadcast: true }, 2)];
      const resumed = await open(server.url, 'lars', { headers: { 'Last-Event-ID': loss.id } });
      await resumed.waitForType(TYPE, missed.length);
      await sleep(SETTLE_MS);
      expect(resumed.ofType('sse.loss')).toEqual([]);
      expect(notes(resumed).map((e) => e.id)).toEqual(missed);
    });
  });
});
