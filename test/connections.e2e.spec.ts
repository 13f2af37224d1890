import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { EVENT_ID } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { sleep } from './harness/waiting.js';

afterEach(closeOpened);

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(value)}`);
    await sleep(25);
  }
}

describe('closing streams and stats', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  async function open(userId: string, query?: string): Promise<TestStream> {
    const token = userId === 'admin' ? server.adminToken : await signToken(userId);
    return track(await TestStream.open(server.url, token, { query, types: ['note'] }));
  }

  async function del(path: string, token: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${server.url}${path}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  }

  const stats = () => server.stats();

  /** Waits for the close event, then for the EventSource to see the response end. */
  async function expectClosedByServer(stream: TestStream): Promise<void> {
    const [close] = await stream.waitForType('sse.close');
    expect(JSON.parse(close.data)).toEqual({ reason: 'closed-by-server' });
    expect(close.id).toMatch(EVENT_ID);
    await stream.until(() => stream.errors.length > 0);
    expect(stream.source.readyState).not.toBe(stream.source.OPEN);
    // A client told sse.close does not reconnect.
    stream.close();
  }

  async function expectStillOpen(stream: TestStream, userId: string): Promise<void> {
    expect(stream.ofType('sse.close')).toEqual([]);
    expect(stream.errors).toEqual([]);
    expect(stream.source.readyState).toBe(stream.source.OPEN);
    const id = await server.publishId({ userId, type: 'note', data: 'still here' });
    const notes = await stream.waitForType('note');
    expect(notes[notes.length - 1].id).toBe(id);
  }

  describe('DELETE /sse/connections', () => {
    it("closes every stream of the caller, and answers how many; other users' streams stay open", async () => {
      const alice = await signToken('own-alice');
      const mine = [await open('own-alice'), await open('own-alice', 'topics=a,b'), await open('own-alice')];
      const bob = await open('own-bob');
      const admin = await open('admin');

      const answer = await del('/sse/connections', alice);
      expect(answer).toEqual({ status: 200, body: { closed: 3 } });
      for (const stream of mine) await expectClosedByServer(stream);

      await sleep(200);
      await expectStillOpen(bob, 'own-bob');
      await expectStillOpen(admin, 'admin');
    });

    it('sends sse.close as the last event, after the events published before it', async () => {
      const stream = await open('own-order');
      const id = await server.publishId({ userId: 'own-order', type: 'note', data: 1 });
      expect((await del('/sse/connections', await signToken('own-order'))).body).toEqual({ closed: 1 });
      await expectClosedByServer(stream);
      expect(stream.events.map((e) => e.type)).toEqual(['sse.ready', 'note', 'sse.close']);
      expect(stream.ofType('note')[0].id).toBe(id);
    });

    it('answers { closed: 0 } when the caller has no stream', async () => {
      const other = await open('own-bystander');
      expect(await del('/sse/connections', await signToken('own-nobody'))).toEqual({ status: 200, body: { closed: 0 } });
      await sleep(200);
      await expectStillOpen(other, 'own-bystander');
    });

    it('answers { closed: 0 } once the streams it closed are gone', async () => {
      const token = await signToken('own-twice');
      const stream = await open('own-twice');
      expect((await del('/sse/connections', token)).body).toEqual({ closed: 1 });
      await expectClosedByServer(stream);
      expect((await del('/sse/connections', token)).body).toEqual({ closed: 0 });
    });
  });

  describe('DELETE /sse/connections/:userId (admin)', () => {
    it("closes that user's streams only", async () => {
      const target = [await open('victim'), await open('victim', 'topics=x')];
      const bystander = await open('bystander');
      const admin = await open('admin');

      expect(await del('/sse/connections/victim', server.adminToken)).toEqual({ status: 200, body: { closed: 2 } });
      for (const stream of target) await expectClosedByServer(stream);
      await sleep(200);
      await expectStillOpen(bystander, 'bystander');
      await expectStillOpen(admin, 'admin');
    });

    it('answers { closed: 0 } for a user without streams', async () => {
      expect(await del('/sse/connections/nobody-here', server.adminToken)).toEqual({ status: 200, body: { closed: 0 } });
    });

    it.each([
      ['LF', 'bad%0Auser'],
      ['CR', 'bad%0Duser'],
      ['CRLF', 'bad%0D%0Aevent%3A%20x'],
    ])('refuses a user id with %s with 400', async (_, userId) => {
      const answer = await del(`/sse/connections/${userId}`, server.adminToken);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400, message: expect.stringMatching(/user id/) });
    });
  });

  describe('GET /sse/stats', () => {
    it('counts open streams and users, and goes back to 0 once the clients close', async () => {
      await waitFor(stats, (s) => s.streams === 0);
      expect(await stats()).toMatchObject({ streams: 0, users: 0 });

      const streams = [await open('stats-alice'), await open('stats-alice'), await open('stats-bob')];
      expect(await stats()).toMatchObject({ streams: 3, users: 2 });

      streams[0].close();
      expect(await waitFor(stats, (s) => s.streams < 3)).toMatchObject({ streams: 2, users: 2 });
      streams[2].close();
      expect(await waitFor(stats, (s) => s.streams < 2)).toMatchObject({ streams: 1, users: 1 });
      streams[1].close();
      expect(await waitFor(stats, (s) => s.streams === 0)).toMatchObject({ streams: 0, users: 0 });
    });

    it('drops streams closed by the server from the count', async () => {
      await waitFor(stats, (s) => s.streams === 0);
      const streams = [await open('stats-closed'), await open('stats-closed'), await open('stats-kept')];
      expect(await stats()).toMatchObject({ streams: 3, users: 2 });
      expect((await del('/sse/connections/stats-closed', server.adminToken)).body).toEqual({ closed: 2 });
      for (const stream of streams.slice(0, 2)) await expectClosedByServer(stream);
      expect(await waitFor(stats, (s) => s.streams < 3)).toMatchObject({ streams: 1, users: 1 });
    });
  });
});
