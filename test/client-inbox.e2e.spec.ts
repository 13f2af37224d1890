import { jest } from '@jest/globals';
import { InboxClient, type InboxClientOptions, type InboxState } from '../src/client/inbox/index.js';
import { SseClient, SseRequestError } from '../src/client/index.js';
import { recordingFetch, type SentRequest } from './harness/client-probe.js';
import { startDemoServer, TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import { getInbox, mark } from './harness/inbox-api.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep, Waiters } from './harness/waiting.js';

/**
 * The client's inbox add-on (`nest-sse-notifications/client/inbox`) in Node,
 * against the real demo server: the count as state (fetched at once, kept by
 * the stream's `sse.inbox`, fetched again after a reconnect), the list page by
 * page, the marks, and refusals. Other devices of the user are plain HTTP.
 */

jest.setTimeout(30_000);

interface AppEvents {
  todo: { title: string };
}

/** Room for a stray change to show up, were one on its way. */
const SETTLE_MS = 300;

const user = (name: string) => `inbox-client-${name}-${TEST_ADAPTER}`;

/** An inbox client, recorded: its requests and each state it took. */
class InboxProbe {
  readonly inbox: InboxClient<AppEvents>;
  readonly requests: SentRequest[] = [];
  readonly states: InboxState<AppEvents>[] = [];
  private readonly waiters = new Waiters();

  constructor(options: InboxClientOptions) {
    this.inbox = new InboxClient<AppEvents>({ ...options, fetch: recordingFetch(this.requests, () => this.waiters.notify()) });
    this.inbox.onState((state) => {
      this.states.push(state);
      this.waiters.notify();
    });
  }

  get state(): InboxState<AppEvents> {
    return this.inbox.state;
  }

  get ids(): string[] {
    return this.state.items.map((item) => item.id);
  }

  /** Waits until the state holds `condition`. */
  until(condition: (state: InboxState<AppEvents>) => boolean, what: string): Promise<void> {
    return this.waiters.until(() => condition(this.inbox.state), 10_000, () => `timed out waiting for ${what}; state ${JSON.stringify(this.inbox.state)}`);
  }

  /** The inbox's GETs so far. */
  get fetches(): SentRequest[] {
    return this.requests.filter((request) => request.method === 'GET');
  }
}

describe(`the inbox client in Node (${TEST_ADAPTER})`, () => {
  let server: DemoServer;
  let proxy: TcpProxy;
  const closing: Array<{ close(): void }> = [];

  beforeAll(async () => {
    server = await startDemoServer();
    proxy = await TcpProxy.start(server.url);
  });
  afterEach(() => closing.splice(0).forEach((made) => made.close()));
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  /** A user, a token, and the user's inbox client (direct to the server) with a stream (through the proxy). */
  async function signedIn(name: string, options: Partial<InboxClientOptions> = {}) {
    const userId = user(name);
    const token = await signToken(userId);
    const probe = new InboxProbe({ url: `${server.url}/inbox`, getToken: () => token, ...options });
    const stream = new SseClient<AppEvents>({ url: `${proxy.url}/sse`, userId, getToken: () => token });
    closing.push(probe.inbox, stream);
    return { userId, token, probe, stream };
  }

  const keep = (userId: string, title: string) => server.publishId({ userId, type: 'todo', data: { title }, inbox: true });

  it('has the count at once, then keeps it by the stream: a publish, and a mark on another device, with no fetch', async () => {
    const userId = user('count');
    const kept = [await keep(userId, 'one'), await keep(userId, 'two')];
    const { token, probe, stream } = await signedIn('count');
    await probe.until((state) => state.unread === 2, 'the count fetched');
    expect(probe.state).toEqual({ status: 'all', items: [], more: false, unread: 2, error: undefined });
    expect(new URL(probe.fetches[0].url).search).toBe('?status=all&limit=1');
    expect(probe.fetches[0].headers.get('authorization')).toBe(`Bearer ${token}`);

    probe.inbox.follow(stream);
    stream.connect();
    await probe.until(() => probe.fetches.length === 2 && probe.fetches[1].status === 200, 'the fetch after the stream opened');
    const fetched = probe.fetches.length;

    const third = await keep(userId, 'three');
    await probe.until((state) => state.unread === 3, 'the count after a publish');
    // Another device of the user reads two.
    expect(await mark(server.url, token, 'read', { ids: [kept[0], third] })).toBe(1);
    await probe.until((state) => state.unread === 1, 'the count after a mark elsewhere');
    await sleep(SETTLE_MS);
    // The stream told both changes: nothing was fetched for them.
    expect(probe.fetches).toHaveLength(fetched);
    expect(probe.state.unread).toBe(1);
    expect(probe.states.map((state) => state.unread).filter((unread, i, all) => unread !== all[i - 1])).toEqual([2, 3, 1]);
  });

  it('after a reconnect, fetches the count again: changes made while its stream was away are never replayed', async () => {
    const { userId, token, probe, stream } = await signedIn('reconnect');
    const first = await keep(userId, 'before');
    probe.inbox.follow(stream);
    stream.connect();
    await probe.until((state) => state.unread === 1, 'one unread');
    await probe.until(() => probe.fetches.length === 2, 'the fetch after the stream opened');

    // The stream hears nothing more (a dead proxy), while another device reads the item and two more arrive.
    proxy.stall();
    await mark(server.url, token, 'read', { ids: [first] });
    await keep(userId, 'while away, one');
    await keep(userId, 'while away, two');
    await sleep(SETTLE_MS);
    expect(probe.state.unread).toBe(1);

    // The connection breaks; the client reconnects (resuming its events) and the inbox fetches the count again.
    proxy.cut();
    await probe.until((state) => state.unread === 2, 'the count after the reconnect');
    expect(probe.fetches).toHaveLength(3);
    expect(stream.state.status).toBe('open');
  });

  it('lists page by page with the cursor, newest first, every item once; archived items in their own list', async () => {
    const { userId, token, probe } = await signedIn('pages', { pageSize: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await keep(userId, `#${i}`));
    await probe.inbox.show();
    expect(probe.ids).toEqual(ids.slice(-3).reverse());
    expect(probe.state).toMatchObject({ status: 'all', unread: 8, more: true });
    while (probe.state.more) await probe.inbox.more();
    expect(probe.ids).toEqual([...ids].reverse());
    expect(new Set(probe.ids).size).toBe(8);
    const first = probe.state.items.at(-1)!;
    expect(first).toEqual({ id: ids[0], type: 'todo', data: { title: '#0' }, createdAt: expect.any(String), readAt: null, archivedAt: null });
    expect(Date.parse(first.createdAt)).toBe(Number(ids[0].split('-')[0]));

    expect(await probe.inbox.archive([ids[1], ids[5]])).toBe(6);
    expect(probe.ids).toEqual([...ids].reverse().filter((id) => id !== ids[1] && id !== ids[5]));
    expect(probe.state.unread).toBe(6);

    // One page of another list, on its own: the state's list stays as it is.
    const archived = await probe.inbox.list({ status: 'archived' });
    expect(archived.items.map((item) => item.id)).toEqual([ids[5], ids[1]]);
    expect(archived.items.every((item) => item.archivedAt !== null)).toBe(true);
    expect(archived.unread).toBe(6);
    expect(probe.state.status).toBe('all');

    await probe.inbox.show('archived');
    expect(probe.state).toMatchObject({ status: 'archived', more: false });
    expect(probe.ids).toEqual([ids[5], ids[1]]);
    // As the server has it.
    expect((await getInbox(server.url, token, 'status=archived')).json.items.map((item) => item.id)).toEqual(probe.ids);
  });

  it('keeps the list it shows by what other devices do: reads and unreads patched, archived items gone, new items on top', async () => {
    const { userId, token, probe, stream } = await signedIn('live-list');
    const [a, b] = [await keep(userId, 'a'), await keep(userId, 'b')];
    probe.inbox.follow(stream);
    stream.connect();
    await eventually(() => stream.state.status === 'open', 10_000, 'the stream');
    await probe.inbox.show('unread');
    expect(probe.ids).toEqual([b, a]);

    await mark(server.url, token, 'read', { ids: [a] });
    await probe.until((state) => state.unread === 1, 'the read elsewhere');
    expect(probe.ids).toEqual([b]);
    const c = await keep(userId, 'c');
    await probe.until(() => probe.ids.length === 2, 'the new item');
    expect(probe.ids).toEqual([c, b]);
    await mark(server.url, token, 'unread', { ids: [a] });
    await probe.until(() => probe.ids.length === 3, 'the item unread again');
    expect(probe.ids).toEqual([c, b, a]);
    await mark(server.url, token, 'read', { all: true });
    await probe.until((state) => state.unread === 0 && state.items.length === 0, 'read all elsewhere');

    await probe.inbox.show('all');
    expect(probe.state.items.map((item) => [item.id, item.readAt !== null])).toEqual([[c, true], [b, true], [a, true]]);
    await probe.inbox.markUnread([b]);
    expect(probe.state.items.map((item) => [item.id, item.readAt !== null])).toEqual([[c, true], [b, false], [a, true]]);
    expect(probe.state.unread).toBe(1);
  });

  it('ends at the server\'s count when publishes and marks from other devices race with its own', async () => {
    const { userId, token, probe, stream } = await signedIn('race');
    probe.inbox.follow(stream);
    stream.connect();
    await probe.inbox.show();
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      work.push(keep(userId, `#${i}`));
      if (i % 5 === 4) work.push(mark(server.url, token, 'read', { all: true }));
      if (i % 7 === 6) work.push(probe.inbox.markRead('all'));
    }
    await Promise.all(work);
    const truth = (await getInbox(server.url, token, 'limit=100')).json;
    // The list keeps as many items as it has loaded (a page), the newest.
    const marks = (items: ReadonlyArray<{ id: string; readAt: string | null }>) => items.slice(0, 20).map((item) => `${item.id} ${item.readAt !== null}`);
    await probe.until((state) => state.unread === truth.unread, `the server's count, ${truth.unread}`);
    await probe.until((state) => marks(state.items).join() === marks(truth.items).join(), "the server's list");
    await sleep(SETTLE_MS);
    expect(probe.state.unread).toBe(truth.unread);
    expect(marks(probe.state.items)).toEqual(marks(truth.items));
    expect(probe.state.items).toHaveLength(20);
  });

  it("after a 401 asks getToken for a refreshed token once; a refusal is thrown with the server's message", async () => {
    const userId = user('refresh');
    const fresh = await signToken(userId);
    const expired = await signToken(userId, { expiresInSeconds: -60 });
    const asked: boolean[] = [];
    const item = await keep(userId, 'x');
    const probe = new InboxProbe({ url: `${server.url}/inbox`, getToken: ({ refresh }) => (asked.push(refresh), refresh ? fresh : expired) });
    closing.push(probe.inbox);
    await probe.until((state) => state.unread === 1, 'the count');
    expect(probe.requests.map((request) => [request.headers.get('authorization'), request.status])).toEqual([
      [`Bearer ${expired}`, 401],
      [`Bearer ${fresh}`, 200],
    ]);
    expect(asked).toEqual([false, true]);
    expect(await probe.inbox.markRead([item])).toBe(0);

    // The server's 400, with its message: a limit out of range, and a cursor it did not issue.
    const refusals = await Promise.all([
      probe.inbox.list({ limit: 500 }).catch((err: unknown) => err),
      probe.inbox.list({ cursor: 'not-a-cursor' }).catch((err: unknown) => err),
    ]);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(SseRequestError);
      expect(refusal).toMatchObject({ status: 400 });
    }
    expect((refusals[0] as Error).message).toBe('400: limit: limit must be from 1 to 100');

    // Never a valid token: a second 401 in a row is the caller's, and the state says why the count is missing.
    const refused = new InboxProbe({ url: `${server.url}/inbox`, getToken: () => expired });
    closing.push(refused.inbox);
    await refused.until((state) => state.error !== undefined, 'the refusal');
    expect(refused.state.error).toBeInstanceOf(SseRequestError);
    expect(refused.state.error).toMatchObject({ status: 401 });
    expect(refused.state.unread).toBeUndefined();
    await expect(refused.inbox.markRead('all')).rejects.toMatchObject({ name: 'SseRequestError', status: 401 });
    expect(refused.requests.map((request) => request.status)).toEqual([401, 401, 401, 401]);
  });

  it('reads with the cookie a sign-in set and no token; a change, which the demo authenticates by header only, is refused', async () => {
    const userId = user('cookie');
    const token = await signToken(userId);
    await keep(userId, 'by cookie');
    const probe = new InboxProbe({ url: `${server.url}/inbox`, headers: { Cookie: `sse_token=${token}` } });
    closing.push(probe.inbox);
    await probe.until((state) => state.unread === 1, 'the count');
    expect(probe.requests[0].headers.has('authorization')).toBe(false);
    await expect(probe.inbox.markRead('all')).rejects.toMatchObject({ status: 401 });
  });
});
