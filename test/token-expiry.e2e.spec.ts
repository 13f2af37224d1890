import { EventSource } from 'eventsource';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { TestStream, type ReceivedEvent } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * A stream lives no longer than its token: it is ended at the token's `exp`,
 * its connection slot is freed, and a client that comes back with a fresh token
 * resumes where it was.
 */

/** Upper bound for "ended at about exp": the timer, the write and the client noticing. */
const END_BOUND_MS = 3000;

function expiryOf(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { exp: number };
  return payload.exp * 1000;
}

/** Waits for the start of a wall-clock second, so that a token of N seconds lives about N seconds (exp is in whole seconds). */
async function startOfSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 5);
}

describe('token expiry', () => {
  let server: DemoServer;
  const streams: TestStream[] = [];
  const sources: EventSource[] = [];

  beforeAll(async () => {
    server = await startDemoServer({ maxConnectionsPerUser: 1 });
  });

  afterEach(() => {
    streams.splice(0).forEach((stream) => stream.close());
    sources.splice(0).forEach((source) => source.close());
  });

  afterAll(() => server.close());

  it('ends the stream at exp and frees its slot; the client cannot come back with the expired token; other streams go on', async () => {
    const other = await TestStream.open(server.url, await signToken('dave'), { types: ['note'] });
    streams.push(other);

    await startOfSecond();
    const signedAt = Date.now();
    const token = await signToken('carol', { expiresInSeconds: 2 });
    const expiresAt = expiryOf(token);
    const stream = await TestStream.open(server.url, token, { types: ['note'] });
    streams.push(stream);
    // Its only slot is taken while it is open (maxConnectionsPerUser is 1).
    await expect(TestStream.open(server.url, await signToken('carol'))).rejects.toMatchObject({ code: 429 });
    const delivered = await server.publishId({ userId: 'carol', type: 'note', data: 1 });
    await stream.waitForType('note', 1);

    await stream.until(() => stream.errors.length > 0, 6000);
    const endedAt = Date.now();
    if (process.env.SSE_TEST_FIGURES) {
      console.log(`token expiry: ended ${endedAt - signedAt} ms after signing, ${endedAt - expiresAt} ms after exp`);
    }
    // Not before exp, and not long after it.
    expect(endedAt - signedAt).toBeGreaterThanOrEqual(1500);
    expect(endedAt).toBeGreaterThanOrEqual(expiresAt - 10);
    expect(endedAt).toBeLessThanOrEqual(expiresAt + END_BOUND_MS);
    // A clean end of the response (not a network error): the client would reconnect.
    expect(stream.errors[0].message).toBeUndefined();
    expect(stream.source.readyState).toBe(stream.source.CONNECTING);
    expect(stream.ofType('note').map((e) => e.id)).toEqual([delivered]);

    // The slot is freed: a stream with a fresh token is accepted.
    await eventually(async () => (await server.stats()).streams === 1, 2000, 'the expired stream to be gone');
    const fresh = await TestStream.open(server.url, await signToken('carol'), { types: ['note'] });
    streams.push(fresh);
    expect(fresh.ofType('sse.ready')).toHaveLength(1);
    fresh.close();

    // The other user's stream, with a valid token, was not ended.
    const later = await server.publishId({ userId: 'dave', type: 'note', data: 2 });
    await other.waitForType('note', 1);
    expect(other.ofType('note').map((e) => e.id)).toEqual([later]);
    expect(other.errors).toEqual([]);

    // The client's own reconnection (after `retry:`) still carries the expired token: refused with 401.
    await stream.until(() => stream.errors.length > 1, 6000);
    expect(stream.errors[1].code).toBe(401);
    expect(stream.source.readyState).toBe(stream.source.CLOSED);
    expect(stream.ofType('sse.ready')).toHaveLength(1);
  });

  it('the client reconnects by itself with a refreshed token and Last-Event-ID, and gets the events of the gap once each', async () => {
    await startOfSecond();
    let token = await signToken('erin', { expiresInSeconds: 2 });
    const expiresAt = expiryOf(token);
    const events: ReceivedEvent[] = [];
    const errors: Array<{ at: number; message?: string; code?: number }> = [];
    const source = new EventSource(`${server.url}/sse`, {
      // The token is read at each (re)connection, as a client refreshing its token would.
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
    });
    sources.push(source);
    for (const type of ['sse.ready', 'sse.loss', 'sse.close', 'note']) {
      source.addEventListener(type, (event) => events.push({ type, id: event.lastEventId, data: event.data }));
    }
    source.addEventListener('error', (event) => errors.push({ at: Date.now(), message: event.message, code: event.code }));
    const ofType = (type: string) => events.filter((event) => event.type === type);

    await eventually(() => ofType('sse.ready').length === 1, 5000, 'the stream to open');
    const before = [
      await server.publishId({ userId: 'erin', type: 'note', data: 0 }),
      await server.publishId({ broadcast: true, type: 'note', data: 1 }),
    ];
    await eventually(() => ofType('note').length === 2, 5000, 'the first events');

    await eventually(() => errors.length > 0, 6000, 'the stream to end at exp');
    expect(errors[0].at).toBeGreaterThanOrEqual(expiresAt - 10);
    expect(errors[0].at).toBeLessThanOrEqual(expiresAt + END_BOUND_MS);
    token = await signToken('erin');

    const gap = [
      await server.publishId({ userId: 'erin', type: 'note', data: 2 }),
      await server.publishId({ broadcast: true, type: 'note', data: 3 }),
      await server.publishId({ userId: 'erin', type: 'note', data: 4 }),
    ];
    await eventually(() => ofType('sse.ready').length === 2, 6000, 'the client to reconnect');
    await eventually(() => ofType('note').length === before.length + gap.length, 5000, 'the gap to be replayed');
    const live = await server.publishId({ userId: 'erin', type: 'note', data: 5 });
    await eventually(() => ofType('note').length === before.length + gap.length + 1, 5000, 'a live event');
    await sleep(250);

    expect(ofType('sse.ready')[1].id).toBe(before[1]);
    expect(ofType('note').map((e) => e.id)).toEqual([...before, ...gap, live]);
    expect(ofType('sse.loss')).toEqual([]);
    expect(ofType('sse.close')).toEqual([]);
    expect(errors).toHaveLength(1);
  });
});
