import { jest } from '@jest/globals';
import type { InboxData, LossData } from '../../protocol/reserved-events.js';
import type { ClientState } from '../client-state.js';
import { SseRequestError } from '../refusal.js';
import { InboxClient, type InboxStream } from './inbox-client.js';

/**
 * The inbox client's own decisions, with the network at the edge replaced: a
 * fetch whose answers the test gives when it chooses, and a stream whose
 * events it tells. What a real server and stream do is the end-to-end suites'
 * (test/client-inbox.e2e.spec.ts, and the page's in Chromium).
 */

interface Sent {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: unknown;
  answer(status: number, body: unknown, headers?: Record<string, string>): void;
}

/** A fetch that waits for the test to answer each request. */
function heldFetch(): { fetch: typeof fetch; sent: Sent[]; next(): Promise<Sent> } {
  const sent: Sent[] = [];
  const waiting: Array<(request: Sent) => void> = [];
  let taken = 0;
  const held = ((input: string, init: RequestInit) =>
    new Promise<Response>((resolve) => {
      sent.push({
        url: new URL(input),
        method: init.method ?? 'GET',
        headers: new Headers(init.headers),
        body: init.body === undefined ? undefined : JSON.parse(String(init.body)),
        answer: (status, body, headers) =>
          resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })),
      });
      waiting.splice(0).forEach((wake) => wake(sent[sent.length - 1]));
    })) as unknown as typeof fetch;
  return {
    fetch: held,
    sent,
    /** The next request not yet taken, once it is sent. */
    next: () => {
      const index = taken++;
      return sent[index] ? Promise.resolve(sent[index]) : new Promise((resolve) => waiting.push(() => resolve(sent[index])));
    },
  };
}

/** A stream the test speaks for. */
class ToldStream implements InboxStream {
  state: ClientState = { status: 'connecting' };
  private readonly inbox = new Set<(data: InboxData) => void>();
  private readonly states = new Set<(state: ClientState) => void>();
  private readonly losses = new Set<(loss: LossData) => void>();

  on(_type: 'sse.inbox', handler: (data: InboxData) => void) {
    this.inbox.add(handler);
    return () => this.inbox.delete(handler);
  }
  onState(listener: (state: ClientState) => void) {
    this.states.add(listener);
    return () => this.states.delete(listener);
  }
  onLoss(listener: (loss: LossData) => void) {
    this.losses.add(listener);
    return () => this.losses.delete(listener);
  }
  tell(data: InboxData): void {
    this.inbox.forEach((handler) => handler(data));
  }
  become(state: ClientState): void {
    this.state = state;
    this.states.forEach((listener) => listener(state));
  }
  lose(): void {
    this.losses.forEach((listener) => listener({ reason: 'expired', lastEventId: '1-0' }));
  }
  get listeners(): number {
    return this.inbox.size + this.states.size + this.losses.size;
  }
}

const page = (unread: number, ids: string[] = [], nextCursor: string | null = null) => ({
  items: ids.map((id) => ({ id, type: 'todo', data: { title: id }, createdAt: '2026-01-01T00:00:00.000Z', readAt: null, archivedAt: null })),
  unread,
  nextCursor,
});

/** Lets the client's promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the inbox client', () => {
  let inboxes: InboxClient[] = [];
  afterEach(() => inboxes.splice(0).forEach((inbox) => inbox.close()));

  function open(options: Partial<ConstructorParameters<typeof InboxClient>[0]> = {}) {
    const held = heldFetch();
    const inbox = new InboxClient({ url: 'http://app.test/inbox', fetch: held.fetch, getToken: () => 'token', ...options });
    inboxes.push(inbox);
    return { inbox, ...held };
  }

  it('fetches the count at once (one item, as JSON, with the token), and has none until the server says', async () => {
    const { inbox, next } = open();
    expect(inbox.state).toEqual({ status: 'all', items: [], more: false });
    const first = await next();
    expect(`${first.url.pathname}${first.url.search}`).toBe('/inbox?status=all&limit=1');
    expect(first.headers.get('authorization')).toBe('Bearer token');
    expect(first.headers.get('accept')).toBe('application/json');
    first.answer(200, page(4, ['9-0']));
    await settle();
    // The count only: no list was asked for.
    expect(inbox.state).toMatchObject({ unread: 4, items: [], more: false });
  });

  it("takes the stream's count over an answer to a request that was under way when the stream told of a change", async () => {
    const stream = new ToldStream();
    const { inbox, next } = open();
    inbox.follow(stream);
    const first = await next();
    stream.tell({ unread: 7, change: 'added', ids: ['8-0'] });
    expect(inbox.state.unread).toBe(7);
    // Read before or after that change: the answer cannot tell, so it does not overrule it.
    first.answer(200, page(6));
    await settle();
    expect(inbox.state.unread).toBe(7);

    // A mark answered with nothing heard meanwhile is the news.
    const marking = inbox.markRead(['8-0']);
    const mark = await next();
    expect(mark.method).toBe('POST');
    expect(mark.url.pathname).toBe('/inbox/read');
    expect(mark.body).toEqual({ ids: ['8-0'] });
    mark.answer(200, { unread: 6 });
    expect(await marking).toBe(6);
    expect(inbox.state.unread).toBe(6);
  });

  it('fetches again when the stream opens, opens again, or tells of a loss; not while it stays open', async () => {
    const stream = new ToldStream();
    const { inbox, sent, next } = open();
    inbox.follow(stream);
    (await next()).answer(200, page(1));
    await settle();
    stream.become({ status: 'open' });
    (await next()).answer(200, page(2));
    await settle();
    expect(inbox.state.unread).toBe(2);
    stream.become({ status: 'open' });
    stream.become({ status: 'reconnecting', cause: 'network' });
    await settle();
    expect(sent).toHaveLength(2);
    stream.become({ status: 'open' });
    (await next()).answer(200, page(3));
    stream.lose();
    (await next()).answer(200, page(4));
    await settle();
    expect(sent).toHaveLength(4);
    expect(inbox.state.unread).toBe(4);
  });

  it('keeps the list it shows by the changes the stream tells, and fetches it again for a new item', async () => {
    const stream = new ToldStream();
    const { inbox, next } = open({ pageSize: 2 });
    inbox.follow(stream);
    (await next()).answer(200, page(3));
    const showing = inbox.show();
    const first = await next();
    expect(first.url.search).toBe('?status=all&limit=2');
    first.answer(200, page(3, ['3-0', '2-0'], 'c1'));
    await showing;
    expect(inbox.state).toMatchObject({ unread: 3, more: true });

    const more = inbox.more();
    const second = await next();
    expect(second.url.search).toBe('?status=all&limit=2&cursor=c1');
    second.answer(200, page(3, ['1-0']));
    await more;
    expect(inbox.state.items.map((item) => item.id)).toEqual(['3-0', '2-0', '1-0']);
    expect(inbox.state.more).toBe(false);

    stream.tell({ unread: 2, change: 'read', ids: ['2-0'] });
    expect(inbox.state.items.map((item) => item.readAt !== null)).toEqual([false, true, false]);
    stream.tell({ unread: 1, change: 'archived', ids: ['3-0'] });
    expect(inbox.state.items.map((item) => item.id)).toEqual(['2-0', '1-0']);

    // A new item: the list from its start, as many items as it holds (at least a page).
    stream.tell({ unread: 2, change: 'added', ids: ['4-0'] });
    const again = await next();
    expect(again.url.search).toBe('?status=all&limit=2');
    again.answer(200, page(2, ['4-0', '2-0'], 'c2'));
    await settle();
    expect(inbox.state.items.map((item) => item.id)).toEqual(['4-0', '2-0']);
  });

  it("after a 401 asks getToken for a refreshed token once; a second 401 is thrown with the server's message", async () => {
    const asked: boolean[] = [];
    const { inbox, next } = open({ getToken: ({ refresh }) => (asked.push(refresh), refresh ? 'fresh' : 'stale') });
    const count = await next();
    count.answer(401, { statusCode: 401, message: 'Token expired' });
    const retried = await next();
    expect(retried.headers.get('authorization')).toBe('Bearer fresh');
    retried.answer(200, page(2));
    await settle();
    expect(inbox.state.unread).toBe(2);
    expect(asked).toEqual([false, true]);

    const marking = inbox.archive(['1-0']);
    (await next()).answer(401, { statusCode: 401, message: 'Token expired' });
    (await next()).answer(401, { statusCode: 401, message: 'Invalid token' });
    await expect(marking).rejects.toEqual(expect.objectContaining({ name: 'SseRequestError', status: 401, message: '401: Invalid token' }));
    await expect(marking).rejects.toBeInstanceOf(SseRequestError);
  });

  it('shows why a fetch failed, and asks again after a 503 no sooner than its Retry-After; not after a 400', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    try {
      const { inbox, sent, next } = open();
      (await next()).answer(503, { statusCode: 503, message: 'The inbox cannot be read' }, { 'Retry-After': '5' });
      await jest.advanceTimersByTimeAsync(0);
      expect(inbox.state.error).toEqual(expect.objectContaining({ status: 503, message: '503: The inbox cannot be read' }));
      await jest.advanceTimersByTimeAsync(4_900);
      expect(sent).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(200);
      expect(sent).toHaveLength(2);
      (await next()).answer(200, page(1));
      await jest.advanceTimersByTimeAsync(0);
      expect(inbox.state.error).toBeUndefined();
      expect(inbox.state.unread).toBe(1);

      const showing = inbox.show('unread');
      (await next()).answer(400, { statusCode: 400, message: 'limit must be from 1 to 100' });
      await expect(showing).rejects.toThrow('400: limit must be from 1 to 100');
      await jest.advanceTimersByTimeAsync(60_000);
      expect(sent).toHaveLength(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('on close stops following its streams and changes no more', async () => {
    const stream = new ToldStream();
    const { inbox, next } = open();
    inbox.follow(stream);
    (await next()).answer(200, page(1));
    await settle();
    expect(stream.listeners).toBe(3);
    inbox.close();
    expect(stream.listeners).toBe(0);
    stream.tell({ unread: 9, change: 'added', ids: ['9-0'] });
    expect(inbox.state.unread).toBe(1);
    // Nor does it start following again.
    inbox.follow(stream)();
    inbox.follow(stream);
    expect(stream.listeners).toBe(0);
  });
});
