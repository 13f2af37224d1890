import { jest } from '@jest/globals';
import { SseClient, type ClientState, type IdStorage } from '../src/client/index.js';
import { ClientProbe } from './harness/client-probe.js';
import { startDemoServer, TEST_ADAPTER, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { expectIncreasing } from './harness/event-ids.js';
import { rawConnect } from './harness/raw-stream.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * The client in Node 20 (global fetch), against the real demo server: what it
 * sends, what it hands the app, and when it tries again. Connections break and
 * stall through a TCP proxy of the test's own.
 */

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(30_000);

/** The app's events, as it would declare them once for `NotificationService<AppEvents>`. */
interface AppEvents {
  todo: { title: string; due?: string };
  announcement: { text: string };
}

const user = (name: string) => `client-${name}-${TEST_ADAPTER}`;
/** The server's `retry:`, the client's first ceiling after it has heard it: a reconnect comes within it. */
const SERVER_RETRY_MS = TEST_CONFIG.retryMs;

describe(`the client in Node (${TEST_ADAPTER})`, () => {
  let server: DemoServer;
  let proxy: TcpProxy;
  const clients: SseClient<AppEvents>[] = [];

  /** A client of `userId` (through the proxy unless told otherwise), recorded by a probe. */
  function probe(
    userId: string,
    getToken: (context: { refresh: boolean }) => string | Promise<string>,
    options: { topics?: string[]; direct?: boolean; storage?: IdStorage; signal?: AbortSignal; path?: string } = {},
  ): ClientProbe<AppEvents> {
    const base = options.direct ? server.url : proxy.url;
    const made = new ClientProbe<AppEvents>(
      (fetch) =>
        new SseClient<AppEvents>({
          url: `${base}${options.path ?? '/sse'}`,
          userId,
          getToken,
          fetch,
          topics: options.topics,
          storage: options.storage,
          signal: options.signal,
        }),
    );
    clients.push(made.client);
    return made;
  }

  beforeAll(async () => {
    server = await startDemoServer();
    proxy = await TcpProxy.start(server.url);
  });
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it("hands over its user's events, its topics' and the broadcasts, typed, once each, in order, naming the topic", async () => {
    const userId = user('typed');
    const token = await signToken(userId);
    const probed = probe(userId, () => token, { topics: ['client-news'], direct: true });
    const todos: Array<{ title: string; topic?: string }> = [];
    probed.client.on('todo', (todo, meta) => todos.push({ title: todo.title, topic: meta.topic }));
    probed.client.connect();
    await probed.opened();

    const ids = [
      await server.publishId({ userId, type: 'todo', data: { title: 'Call Bob' } }),
      await server.publishId({ topic: 'client-news', type: 'announcement', data: { text: 'out now' } }),
      await server.publishId({ topic: 'client-not-asked-for', type: 'announcement', data: { text: 'not for it' } }),
      await server.publishId({ broadcast: true, type: 'announcement', data: { text: 'for all' } }),
    ];
    await probed.until(() => probed.events.length >= 3, 'three events');
    await sleep(200); // room for a duplicate or a stray event
    expect(probed.events).toEqual([
      { type: 'todo', id: ids[0], data: { title: 'Call Bob' } },
      { type: 'announcement', id: ids[1], data: { text: 'out now' }, topic: 'client-news' },
      { type: 'announcement', id: ids[3], data: { text: 'for all' } },
    ]);
    expect(todos).toEqual([{ title: 'Call Bob', topic: undefined }]);
    expect(probed.client.lastEventId).toBe(ids[3]);
    expect(probed.statuses).toEqual(['connecting', 'open']);

    // One request, as a stream client sends it.
    expect(probed.requests).toHaveLength(1);
    const [request] = probed.requests;
    expect(new URL(request.url).searchParams.get('topics')).toBe('client-news');
    expect(request.headers.get('authorization')).toBe(`Bearer ${token}`);
    expect(request.headers.get('accept')).toBe('text/event-stream');
    expect(request.headers.has('last-event-id')).toBe(false);

    probed.client.close();
    expect(probed.client.state).toEqual({ status: 'closed', reason: 'stopped' });
  });

  it('after a 401, asks getToken for a refreshed token and tries at once; then resumes with nothing lost', async () => {
    const userId = user('refresh');
    const fresh = await signToken(userId);
    const expired = await signToken(userId, { expiresInSeconds: -60 });
    let current = fresh;
    const asked: boolean[] = [];
    const probed = probe(userId, ({ refresh }) => {
      asked.push(refresh);
      return refresh ? fresh : current;
    });
    probed.client.connect();
    await probed.opened();
    const first = await server.publishId({ userId, type: 'todo', data: { title: 'one' } });
    await probed.until(() => probed.ids.includes(first), 'the first event');

    // The proxy stops passing bytes on, two events are published unseen, then the connection breaks; by then
    // the app's token has expired, as tokens do.
    proxy.stall();
    const missed = [
      await server.publishId({ userId, type: 'todo', data: { title: 'two' } }),
      await server.publishId({ userId, type: 'todo', data: { title: 'three' } }),
    ];
    current = expired;
    proxy.cut();
    await probed.opened(2);
    await probed.until(() => probed.events.length >= 3, 'the missed events');
    await sleep(200);

    expect(probed.ids).toEqual([first, ...missed]);
    expect(asked).toEqual([false, false, true]);
    const [, refused, resumed] = probed.requests;
    expect(probed.requests).toHaveLength(3);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('authorization')).toBe(`Bearer ${expired}`);
    expect(refused.headers.get('last-event-id')).toBe(first);
    // The refreshed token, at once (no backoff after a 401), from the same place.
    expect(resumed.headers.get('authorization')).toBe(`Bearer ${fresh}`);
    expect(resumed.headers.get('last-event-id')).toBe(first);
    expect(resumed.sentAt - refused.answeredAt!).toBeLessThan(1000);
  });

  it('closes as unauthorized after a second 401 in a row, and sends nothing more', async () => {
    const userId = user('unauthorized');
    const expired = await signToken(userId, { expiresInSeconds: -60 });
    const asked: boolean[] = [];
    const probed = probe(userId, ({ refresh }) => (asked.push(refresh), expired), { direct: true });
    probed.client.connect();
    await probed.until(() => probed.client.state.status === 'closed', 'closed');
    expect(probed.client.state).toMatchObject({ status: 'closed', reason: 'unauthorized', httpStatus: 401 });
    expect(asked).toEqual([false, true]);
    // Past the longest first wait of a backoff: had it gone on, it would have tried again by now.
    await sleep(1500);
    expect(probed.requests.map((request) => request.status)).toEqual([401, 401]);
  });

  it('when its token expires mid-stream, reconnects with a new one and resumes: nothing lost, nothing twice', async () => {
    const userId = user('expiry');
    // The server ends the stream when the token's exp passes (whole seconds: within 2 s).
    const shortLived = await signToken(userId, { expiresInSeconds: 2 });
    const expiresAt = JSON.parse(Buffer.from(shortLived.split('.')[1], 'base64url').toString()).exp * 1000;
    const renewed = await signToken(userId);
    const given: string[] = [];
    // As an app's token store would: the token it has until it has expired, then a new one.
    const probed = probe(userId, () => {
      const token = Date.now() < expiresAt ? shortLived : renewed;
      given.push(token);
      return token;
    });
    probed.client.connect();
    await probed.opened();

    // Published every 100 ms, across the expiry and until the client is back.
    const published: string[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let n = 0; publishing; n++) {
        published.push(await server.publishId({ userId, type: 'todo', data: { title: `#${n}` } }));
        await sleep(100);
      }
    })();
    try {
      await probed.opened(2);
      const atReconnect = published.length;
      await probed.until(() => probed.events.length >= atReconnect + 3, 'events after the reconnect');
    } finally {
      publishing = false;
      await publisher;
    }
    await probed.until(() => probed.events.length === published.length, 'every event published');
    await sleep(200);

    expect(probed.ids).toEqual(published);
    expectIncreasing(probed.ids);
    const reconnect = probed.states.find((state) => state.status === 'reconnecting' && state.cause);
    expect(reconnect).toMatchObject({ cause: 'ended' });
    expect(probed.requests).toHaveLength(2);
    expect(probed.requests[1].headers.get('authorization')).toBe(`Bearer ${renewed}`);
    expect(probed.requests[1].headers.get('last-event-id')).toMatch(/^\d+-\d+$/);
    expect(given).toEqual([shortLived, renewed]);
  });

  it('on sse.close (closeUser), closes as closed-by-server and never reconnects', async () => {
    const userId = user('kicked');
    const token = await signToken(userId);
    const probed = probe(userId, () => token, { direct: true });
    probed.client.connect();
    await probed.opened();

    const kicked = await fetch(`${server.url}/sse/connections/${userId}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${server.adminToken}` },
    });
    expect(await kicked.json()).toEqual({ closed: 1 });
    await probed.until(() => probed.client.state.status === 'closed', 'closed');
    expect(probed.client.state).toEqual({ status: 'closed', reason: 'closed-by-server' });
    // Longer than its first wait after a stream ends could be (the server's retry:).
    await sleep(SERVER_RETRY_MS + 300);
    expect(probed.requests).toHaveLength(1);
    expect(probed.statuses).toEqual(['connecting', 'open', 'closed:closed-by-server']);
  });

  it.each([
    ['403, a topic it may not read', '/sse?', 403, { topics: ['admin-only'] }],
    ['404, no such stream', '/nowhere', 404, {}],
  ])('takes %s as final: closed as refused, with the status and the server\'s message', async (_what, path, status, options) => {
    const userId = user(`refused-${status}`);
    const token = await signToken(userId);
    const probed = probe(userId, () => token, { direct: true, path: path === '/sse?' ? '/sse' : path, ...options });
    probed.client.connect();
    await probed.until(() => probed.client.state.status === 'closed', 'closed');
    const state = probed.client.state as Extract<ClientState, { status: 'closed' }>;
    expect(state).toMatchObject({ status: 'closed', reason: 'refused', httpStatus: status });
    expect(state.message).toEqual(expect.any(String));
    expect(state.retryAt).toBeUndefined();
    await sleep(1500);
    expect(probed.requests).toHaveLength(1);
  });

  it('resumes after the last id of an earlier client of the same user and URL, also from the storage given', async () => {
    const userId = user('storage');
    const token = await signToken(userId);
    const saved = new Map<string, string>();
    const storage: IdStorage = {
      getItem: (key) => saved.get(key) ?? null,
      setItem: (key, value) => void saved.set(key, value),
      removeItem: (key) => void saved.delete(key),
    };
    const first = probe(userId, () => token, { direct: true, storage });
    first.client.connect();
    await first.opened();
    const seen = await server.publishId({ userId, type: 'todo', data: { title: 'seen' } });
    await first.until(() => first.ids.includes(seen), 'the first event');
    first.client.close();
    expect([...saved.values()]).toEqual([seen]);

    const missed = await server.publishId({ userId, type: 'todo', data: { title: 'missed' } });
    const second = probe(userId, () => token, { direct: true });
    second.client.connect();
    await second.until(() => second.events.length >= 1, 'the missed event');
    expect(second.requests[0].headers.get('last-event-id')).toBe(seen);
    expect(second.ids).toEqual([missed]);
    second.client.close();

    // Another user, or another URL, has an id of its own.
    const other = probe(user('storage-other'), async () => signToken(user('storage-other')), { direct: true, storage });
    other.client.connect();
    await other.opened();
    expect(other.requests[0].headers.has('last-event-id')).toBe(false);
  });

  it('tells onLoss when the server cannot honour its last id, and goes on from where the server starts it', async () => {
    const userId = user('loss');
    const token = await signToken(userId);
    // An id from before this server started (as after an in-memory server's restart).
    const storage: IdStorage = { getItem: () => '1000-0', setItem: () => undefined, removeItem: () => undefined };
    const probed = probe(userId, () => token, { direct: true, storage });
    probed.client.connect();
    await probed.opened();
    await probed.until(() => probed.losses.length > 0, 'the loss');
    expect(probed.losses).toEqual([{ reason: 'restarted', lastEventId: '1000-0' }]);
    const id = await server.publishId({ userId, type: 'todo', data: { title: 'after' } });
    await probed.until(() => probed.ids.includes(id), 'the next event');
    expect(probed.client.lastEventId).toBe(id);
  });

  it('stops cleanly on its AbortSignal: the stream is let go, and nothing more is sent', async () => {
    const userId = user('aborted');
    const token = await signToken(userId);
    const controller = new AbortController();
    const probed = probe(userId, () => token, { direct: true, signal: controller.signal });
    probed.client.connect();
    await probed.opened();
    expect((await server.stats()).streams).toBeGreaterThanOrEqual(1);
    controller.abort();
    expect(probed.client.state).toEqual({ status: 'closed', reason: 'stopped' });
    // The server sees the stream go (the earlier tests' clients are closed too).
    await eventually(async () => (await server.stats()).streams === 0, 5000, 'the stream to be let go');
    await sleep(SERVER_RETRY_MS + 300);
    expect(probed.requests).toHaveLength(1);
    // A client whose signal has aborted does not start again.
    expect(probed.client.connect().state.status).toBe('closed');
  });
});

describe(`the client's watchdog (${TEST_ADAPTER})`, () => {
  const HEARTBEAT_MS = 500;
  let server: DemoServer;
  let proxy: TcpProxy;
  let client: SseClient<AppEvents> | undefined;

  beforeAll(async () => {
    server = await startDemoServer({ heartbeatMs: HEARTBEAT_MS });
    proxy = await TcpProxy.start(server.url);
  });
  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await server?.close();
  });

  it('reconnects once nothing has arrived for twice the heartbeat (a stalled proxy), and resumes', async () => {
    const userId = user('stalled');
    const token = await signToken(userId);
    const probed = new ClientProbe<AppEvents>((fetch) => new SseClient({ url: `${proxy.url}/sse`, userId, getToken: () => token, fetch }));
    client = probed.client.connect();
    await probed.opened();
    // Heartbeats flow: the stream stays up well past twice the heartbeat.
    await sleep(3 * HEARTBEAT_MS);
    expect(probed.requests).toHaveLength(1);

    proxy.stall();
    const unseen = await server.publishId({ userId, type: 'todo', data: { title: 'behind a dead proxy' } });
    await probed.until(() => probed.states.some((state) => state.status === 'reconnecting' && state.cause === 'stalled'), 'the watchdog');
    const dropped = probed.states.find((state) => state.status === 'reconnecting' && state.cause === 'stalled')!;
    const silence = dropped.at - proxy.lastPassedAt;
    // Never before twice the heartbeat; about then (its own timer, on a loaded machine).
    expect(silence).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS);
    expect(silence).toBeLessThan(2 * HEARTBEAT_MS + 1000);

    await probed.until(() => probed.ids.includes(unseen), 'the event published behind the stall');
    expect(probed.ids).toEqual([unseen]);
    expect(probed.requests).toHaveLength(2);
    expect(probed.requests[1].headers.get('last-event-id')).toMatch(/^\d+-\d+$/);
  });
});

describe(`the client and Retry-After (${TEST_ADAPTER})`, () => {
  const RETRY_AFTER_SECONDS = 2;
  let server: DemoServer;
  let client: SseClient<AppEvents> | undefined;

  beforeAll(async () => {
    server = await startDemoServer({ maxConnectionsPerUser: 1, retryAfterSeconds: RETRY_AFTER_SECONDS });
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('sends no request before the Retry-After of a 429, says so in its state, then connects', async () => {
    const userId = user('limited');
    const token = await signToken(userId);
    // Another device holds the user's only slot.
    const elsewhere = await rawConnect(server.url, token);
    expect(elsewhere.status).toBe(200);

    const probed = new ClientProbe<AppEvents>((fetch) => new SseClient({ url: `${server.url}/sse`, userId, getToken: () => token, fetch }));
    client = probed.client.connect();
    await probed.until(() => probed.client.state.status === 'closed', 'the refusal');
    const limited = probed.client.state as Extract<ClientState, { status: 'closed' }>;
    expect(limited).toMatchObject({ status: 'closed', reason: 'too-many-connections', httpStatus: 429 });
    expect(limited.message).toMatch(/at most 1 stream/);
    const refusedAt = probed.requests[0].answeredAt!;
    expect(limited.retryAt! - refusedAt).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000);

    // The other device lets go at once; the client still waits the server's time.
    elsewhere.close();
    await probed.opened();
    expect(probed.requests.map((request) => request.status)).toEqual([429, 200]);
    expect(probed.requests[1].sentAt - refusedAt).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000);
    expect(probed.requests[1].sentAt).toBeGreaterThanOrEqual(limited.retryAt!);
    expect(probed.statuses).toEqual(['connecting', 'closed:too-many-connections', 'reconnecting', 'open']);
  });
});
