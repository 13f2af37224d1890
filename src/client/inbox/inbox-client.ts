import { INBOX_EVENT, type InboxChangeKind, type InboxData, type LossData } from '../../protocol/reserved-events.js';
import { absoluteUrl, type RequestOptions, sendOk } from '../authorized-request.js';
import { Backoff } from '../backoff.js';
import type { AnyEvents, EventMap } from '../client-events.js';
import type { ClientState } from '../client-state.js';
import { emit, listen, type ListenerMap } from '../listeners.js';
import { isTransient, SseRequestError } from '../refusal.js';
import { applyChange, bringsItems, type InboxItem, type InboxPage, type InboxStatus } from './inbox-list.js';

export interface InboxClientOptions extends RequestOptions {
  /** The inbox's URL, e.g. `/inbox`: `GET` lists it, and `POST <url>/read`, `/unread` and `/archive` change it. */
  url: string;
  /** Items per page of the list (default 20, at most 100). */
  pageSize?: number;
  /** Aborting it closes the inbox, as `close()` does. */
  signal?: AbortSignal;
}

/** What the inbox knows, as `state` and `onState` give it. */
export interface InboxState<Events extends EventMap = AnyEvents> {
  /** The user's unread items (neither read nor archived), as the server counts them; undefined until it has said. */
  readonly unread?: number;
  /** The list `show()` asked for (`all` until then, with no items): its items loaded so far, newest first. */
  readonly status: InboxStatus;
  readonly items: readonly InboxItem<Events>[];
  /** Whether `more()` has a page to load. */
  readonly more: boolean;
  /** Why the inbox's last fetch of the count or the list failed; gone once one succeeds. */
  readonly error?: Error;
}

/** A stream that keeps an inbox live: an `SseClient`, or anything that tells the same. */
export interface InboxStream {
  readonly state: ClientState;
  on(type: typeof INBOX_EVENT, handler: (data: InboxData) => void): () => void;
  onState(listener: (state: ClientState) => void): () => void;
  onLoss(listener: (loss: LossData) => void): () => void;
}

const STATE = 'state';
const MAX_PAGE = 100;

/**
 * One user's inbox on the server (`GET /inbox`, `POST /inbox/read|unread|archive`):
 * the unread count as state, fetched at once and then kept by the `sse.inbox`
 * events of the streams it follows; a list of one status, loaded page by page
 * and kept by the same events; and the marks. `sse.inbox` carries no id and
 * is never replayed, so whatever a stream may have missed (it opened, opened
 * again, or told of a loss) is fetched again. Typed by the app's event map.
 */
export class InboxClient<Events extends EventMap = AnyEvents> {
  private readonly listeners: ListenerMap = new Map();
  private readonly url: string;
  private readonly requestOptions: RequestOptions;
  private readonly pageSize: number;
  private readonly backoff = new Backoff();
  private readonly aborter = new AbortController();
  private current: InboxState<Events> = { status: 'all', items: [], more: false };
  private cursor: string | null = null;
  /** Whether `show()` was asked: refetches get the list then, and only the count before. */
  private shown = false;
  /** Bumped when the list's status changes: what was under way for the one before is dropped. */
  private generation = 0;
  /** Fetches of the list run one after another, and refetches asked for while one waits are that one. */
  private queue: Promise<void> = Promise.resolve();
  private refetching?: Promise<void>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  /** The `sse.inbox` events heard while requests are under way (`pending`): they overrule those requests' answers. */
  private heard: InboxData[] = [];
  private pending = 0;

  constructor(options: InboxClientOptions) {
    const { url, pageSize = 20, signal, ...requestOptions } = options;
    this.url = absoluteUrl(url);
    this.pageSize = Math.min(pageSize, MAX_PAGE);
    this.requestOptions = { ...requestOptions, headers: { Accept: 'application/json', ...requestOptions.headers } };
    signal?.addEventListener('abort', () => this.close());
    if (!signal?.aborted) this.refresh();
  }

  get state(): InboxState<Events> {
    return this.current;
  }

  /** Calls `listener` with the state whenever the count or the list changes; returns what removes it. */
  onState(listener: (state: InboxState<Events>) => void): () => void {
    return listen(this.listeners, STATE, listener);
  }

  /**
   * Keeps the inbox live with a stream's `sse.inbox` events (through the tab that holds it, when tabs share one),
   * and fetches it again whenever the stream opens (again) or tells of a loss. Returns what stops it.
   */
  follow(stream: InboxStream): () => void {
    if (this.aborter.signal.aborted) return () => undefined;
    let open = stream.state.status === 'open';
    const stops = [
      stream.on(INBOX_EVENT, (data) => this.heardChange(data)),
      stream.onState(({ status }) => {
        if (status === 'open' && !open) this.refresh();
        open = status === 'open';
      }),
      stream.onLoss(() => this.refresh()),
    ];
    // Open already: what it told before now is not here.
    if (open) this.refresh();
    const stop = () => stops.forEach((unsubscribe) => unsubscribe());
    this.aborter.signal.addEventListener('abort', stop);
    return stop;
  }

  /** Loads the first page of a list: `all` (every item not archived, the default), `unread` or `archived`. */
  show(status: InboxStatus = 'all'): Promise<void> {
    this.shown = true;
    if (status !== this.current.status) {
      this.generation++;
      this.cursor = null;
      this.update({ status, items: [], more: false });
    }
    return this.refetch();
  }

  /** Loads the next page of the list, if there is one. */
  more(): Promise<void> {
    return this.enqueue(() => (this.cursor ? this.load(false) : undefined));
  }

  /** One page of any list, on its own (`cursor`: the `nextCursor` of the page before); it leaves the state's list be. */
  async list(query: { status?: InboxStatus; limit?: number; cursor?: string } = {}): Promise<InboxPage<Events>> {
    const search = new URLSearchParams(Object.entries(query).flatMap(([name, value]) => (value === undefined ? [] : [[name, `${value}`]])));
    const [page, heard] = await this.send<InboxPage<Events>>(`${this.url}?${search}`);
    if (!heard.length) this.update({ unread: page.unread });
    return page;
  }

  /** Marks items read, or every item (`'all'`); resolves to the unread count after it. */
  markRead(ids: readonly string[] | 'all'): Promise<number> {
    return ids === 'all' ? this.mark('read', { all: true }, 'read-all') : this.mark('read', { ids }, 'read', ids);
  }

  /** Marks items unread again; resolves to the unread count after it. */
  markUnread(ids: readonly string[]): Promise<number> {
    return this.mark('unread', { ids }, 'unread', ids);
  }

  /** Archives items: they leave the count and the `all` and `unread` lists; resolves to the unread count after it. */
  archive(ids: readonly string[]): Promise<number> {
    return this.mark('archive', { ids }, 'archived', ids);
  }

  /** Stops following streams and fetching; requests under way are aborted. */
  close(): void {
    clearTimeout(this.retryTimer);
    this.aborter.abort();
  }

  private async mark(action: string, body: object, change: InboxChangeKind, ids?: readonly string[]): Promise<number> {
    const [{ unread }, heard] = await this.send<{ unread: number }>(`${this.url}/${action}`, body);
    // Unless a stream told of changes meanwhile (this one's own among them, or on its way), the answer is the news.
    if (!heard.length) this.apply({ unread, change, ids });
    return unread;
  }

  private heardChange(data: InboxData): void {
    if (this.pending) this.heard.push(data);
    this.apply(data);
  }

  /** A change, heard or made here: the count it gives, the list as it leaves it, and the list again if it may bring items. */
  private apply(data: InboxData): void {
    const { status, items } = this.current;
    this.update({ unread: data.unread, items: applyChange(items, status, data, new Date().toISOString()) });
    if (this.shown && bringsItems(status, data.change)) this.refresh();
  }

  /** A refetch of the inbox's own: its failure is in the state (and tried again when that may help). */
  private refresh(): void {
    this.refetch().catch(() => undefined);
  }

  /** Fetches the count, or the list from its start once shown (as many items as are loaded, up to a page of 100). */
  private refetch(): Promise<void> {
    this.refetching ??= this.enqueue(() => {
      this.refetching = undefined;
      return this.load(true);
    });
    return this.refetching;
  }

  private enqueue(task: () => Promise<void> | undefined): Promise<void> {
    const run = this.queue.then(task);
    // Failures are the caller's (and the state's); the next fetch runs all the same.
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(first: boolean): Promise<void> {
    if (this.aborter.signal.aborted) return;
    const generation = this.generation;
    const { status, items } = this.current;
    const limit = !this.shown ? 1 : first ? Math.min(MAX_PAGE, Math.max(this.pageSize, items.length)) : this.pageSize;
    const cursor = first ? '' : `&cursor=${encodeURIComponent(this.cursor!)}`;
    try {
      const [page, heard] = await this.send<InboxPage<Events>>(`${this.url}?status=${status}&limit=${limit}${cursor}`);
      clearTimeout(this.retryTimer);
      this.backoff.reset();
      if (generation !== this.generation) return;
      let loaded = this.current.items;
      if (this.shown) {
        this.cursor = page.nextCursor;
        const known = new Set(loaded.map((item) => item.id));
        loaded = first ? page.items : [...loaded, ...page.items.filter((item) => !known.has(item.id))];
        // What the streams told while the page was on its way is newer than the page, or the same.
        const at = new Date().toISOString();
        for (const change of heard) loaded = applyChange(loaded, status, change, at);
      }
      this.update({ unread: heard.at(-1)?.unread ?? page.unread, items: loaded, more: this.cursor !== null, error: undefined });
      if (this.shown && heard.some(({ change }) => bringsItems(status, change))) this.refresh();
    } catch (err) {
      if (this.aborter.signal.aborted) return;
      this.update({ error: err as Error });
      // The server busy or away, or the network: asked again later, no sooner than its Retry-After.
      const refusal = err instanceof SseRequestError ? err : undefined;
      if (!refusal || isTransient(refusal.status)) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.refresh(), this.backoff.next(refusal?.retryAfterMs));
      }
      throw err;
    }
  }

  /** A request of the inbox's (a POST when there is a body), its JSON answer, and the `sse.inbox` events heard meanwhile. */
  private async send<T>(url: string, body?: object): Promise<[T, InboxData[]]> {
    const from = this.heard.length;
    this.pending++;
    try {
      const response = await sendOk(this.requestOptions, {
        url,
        method: body ? 'POST' : 'GET',
        body,
        signal: this.aborter.signal,
      });
      return [(await response.json()) as T, this.heard.slice(from)];
    } finally {
      if (!--this.pending) this.heard = [];
    }
  }

  private update(change: Partial<InboxState<Events>>): void {
    if (this.aborter.signal.aborted) return;
    this.current = { ...this.current, ...change };
    emit(this.listeners, STATE, this.current);
  }
}
