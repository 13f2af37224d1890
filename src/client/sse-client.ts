import {
  CLOSE_EVENT,
  type LossData,
  LOSS_EVENT,
  READY_EVENT,
  RESERVED_TYPE_PREFIX,
  RESUME_EVENT,
} from '../protocol/reserved-events.js';
import type { AnyEvents, ClientEvent, ClientEventMap, EventHandler, EventMap, EventType, LossListener } from './client-events.js';
import { type ClientState, CONNECTING, isFinal, STOPPED } from './client-state.js';
import { isAfter } from './event-id.js';
import { type IdStorage, LastEventIdStore } from './last-event-id.js';
import { emit, listen, type ListenerMap } from './listeners.js';
import type { Frame } from './sse-frames.js';
import { type ConnectionOptions, StreamConnection } from './stream-connection.js';
import { TabGroup, type TabMessage } from './tab-group.js';

export interface SseClientOptions extends ConnectionOptions {
  /** The stream's URL, e.g. `/sse`. */
  url: string;
  /** Topics to receive besides the user's own events and the broadcasts, sent as `?topics=a,b`. */
  topics?: readonly string[];
  /** The query parameter that carries the topics (default `topics`). */
  topicsParameter?: string;
  /**
   * Who is signed in, as the app knows it. The tabs of one origin with the same user and URL share one stream;
   * tabs of different users never do. It also keys the stored last event id.
   */
  userId?: string;
  /** Share one stream among this origin's tabs (default: yes, where Web Locks and BroadcastChannel exist and `userId` is set). */
  shareAcrossTabs?: boolean;
  /** Persist the last event id here (e.g. `sessionStorage`), so that a reload resumes too. */
  storage?: IdStorage;
  /** Aborting it closes the client, as `close()` does. */
  signal?: AbortSignal;
}

// Listener keys of the client's own callbacks: `sse.` names, which no app event can have.
const ANY = 'sse.*';
const STATE = 'sse.*state';
const LOSS = 'sse.*loss';

/**
 * A stream of one user's events: authenticated on every attempt, resumed after
 * the last event id, backed off between attempts, stopped when the server says
 * so, and shared by the tabs of the user. Typed by the app's event map, the one
 * given to `NotificationService<Events>`.
 */
export class SseClient<Events extends EventMap = AnyEvents> {
  /** Listeners by event type, and by the keys above (reserved names, which no app event can have). */
  private readonly listeners: ListenerMap = new Map();
  private readonly topics: readonly string[];
  private readonly ids: LastEventIdStore;
  private current = STOPPED;
  private lastId?: string;
  private running = false;
  /** The stream, while this tab holds it. */
  private connection?: StreamConnection;
  private group?: TabGroup;
  /** The topics the held stream was last asked for. */
  private streamTopics?: string;
  /** The last id this tab had when it joined a group, until the holder says where the stream is. */
  private joinedAfter?: string;

  constructor(private readonly options: SseClientOptions) {
    this.topics = [...new Set(options.topics)];
    this.ids = new LastEventIdStore(options.userId, options.url, options.storage);
    options.signal?.addEventListener('abort', () => this.close());
  }

  get state(): ClientState {
    return this.current;
  }

  /** The id of the last event received: where the next stream resumes. */
  get lastEventId(): string | undefined {
    return this.lastId ?? this.ids.get();
  }

  /** Whether this tab holds the stream (false while it gets the events from another tab). */
  get holdsStream(): boolean {
    return this.connection !== undefined;
  }

  /** Starts (or starts again after `close()`); events published after its `open` reach it. */
  connect(): this {
    if (this.running || this.options.signal?.aborted) return this;
    this.running = true;
    this.lastId = this.ids.get();
    this.setState(CONNECTING);
    this.pageEvents.forEach(([name, listener]) => globalThis.addEventListener?.(name, listener));
    this.join();
    return this;
  }

  /** Stops this client (state `closed`, reason `stopped`); other tabs go on, one of them taking the stream over. */
  close(): void {
    this.stop(STOPPED);
  }

  /** Stops this client and every other of the same user in this origin's tabs (reason `signed-out`), and forgets the last id. */
  signOut(): void {
    if (this.shared) {
      // On a channel of its own, so that the other tabs are told even when this one is not connected.
      const channel = new BroadcastChannel(this.groupName);
      channel.postMessage({ kind: 'signout', from: '' } satisfies TabMessage);
      channel.close();
    }
    this.ids.clear();
    this.lastId = undefined;
    this.stop({ status: 'closed', reason: 'signed-out' });
  }

  /** Calls `handler` with the data of every event of this type; returns what removes it. */
  on<Type extends EventType<ClientEventMap<Events>>>(type: Type, handler: EventHandler<ClientEventMap<Events>[Type]>): () => void {
    return listen(this.listeners, type, handler);
  }

  /** Calls `handler` with every app event, whatever its type (a union discriminated by `type`). */
  onAny(handler: (event: ClientEvent<Events>) => void): () => void {
    return listen(this.listeners, ANY, handler);
  }

  onState(listener: (state: ClientState) => void): () => void {
    return listen(this.listeners, STATE, listener);
  }

  /** `sse.loss`: events could not all be given (the history moved on); refetch the state they would have changed. */
  onLoss(listener: LossListener): () => void {
    return listen(this.listeners, LOSS, listener);
  }

  private get shared(): boolean {
    return (
      this.options.shareAcrossTabs !== false &&
      this.options.userId !== undefined &&
      typeof BroadcastChannel === 'function' &&
      !!globalThis.navigator?.locks
    );
  }

  private get groupName(): string {
    return `sse-client ${this.options.userId} ${this.options.url}`;
  }

  private join(): void {
    if (!this.shared) return this.lead();
    this.joinedAfter = this.lastId;
    this.group = new TabGroup(
      this.groupName,
      this.topics,
      {
        lead: () => this.lead(),
        follow: () => {
          this.letGo();
          this.joinedAfter = this.lastId;
          this.setState(CONNECTING);
        },
        message: (message) => this.fromTab(message),
        peersChanged: () => {
          if (this.connection && this.wantedTopics().join() !== this.streamTopics) this.connection.reconnectNow();
        },
      },
    );
  }

  /** This tab holds the stream: it opens it, and tells the other tabs what it hears. */
  private lead(): void {
    this.joinedAfter = undefined;
    const connection = new StreamConnection(this.options, {
      request: () => ({ url: this.streamUrl(), lastEventId: this.lastId }),
      frame: (frame) => {
        this.group?.post({ kind: 'frame', frame });
        this.receive(frame);
      },
      state: (state) => {
        if (this.connection !== connection) return;
        this.group?.post({ kind: 'state', state, lastEventId: this.lastId });
        this.adopt(state);
      },
    });
    this.connection = connection;
    connection.start();
  }

  private letGo(): void {
    this.connection?.stop();
    this.connection = undefined;
  }

  private fromTab(message: TabMessage): void {
    switch (message.kind) {
      case 'frame':
        return this.receive(message.frame);
      case 'state': {
        const { state, lastEventId } = message;
        // A tab that joins with an id the holder's stream is past missed what came between: it is told so.
        if (this.joinedAfter && lastEventId && isAfter(lastEventId, this.joinedAfter)) {
          this.lost({ reason: 'expired', lastEventId: this.joinedAfter });
        }
        this.joinedAfter = undefined;
        // The holder's own ending (its token refused, its tab closed) is not the group's: another tab takes over.
        const holderOnly = state.status === 'closed' && (state.reason === 'stopped' || state.reason === 'unauthorized');
        if (!this.connection && !holderOnly) this.adopt(state);
        return;
      }
      case 'signout':
        this.ids.clear();
        return this.stop({ status: 'closed', reason: 'signed-out' });
      case 'hello':
        if (this.connection) this.group!.post({ kind: 'state', state: this.current, lastEventId: this.lastId });
    }
  }

  /** Every event this tab hears, from its own stream or the holder's: each is handed over once, in order. */
  private receive(frame: Frame): void {
    const { type, id, topic } = frame;
    if (type === READY_EVENT) {
      if (id && isAfter(id, this.lastId)) this.remember(id);
    } else if (type === LOSS_EVENT) {
      // The stream starts afresh from here, whatever this tab had: its old id was not honoured.
      if (id) this.remember(id);
      this.lost(JSON.parse(frame.data) as LossData);
    } else if (type !== CLOSE_EVENT && type !== RESUME_EVENT && (!id || isAfter(id, this.lastId))) {
      if (id) this.remember(id);
      // Another tab's topic reached this one only because the tabs share the stream.
      if (topic === undefined || this.topics.includes(topic)) this.dispatch(frame);
    }
  }

  private dispatch({ type, id, data, topic }: Frame): void {
    let parsed: unknown = data;
    try {
      parsed = JSON.parse(data);
    } catch {
      // Not JSON (another server): handed over as text.
    }
    const event = { type, id: id ?? '', data: parsed, topic } as ClientEvent<Events>;
    emit(this.listeners, type, parsed, event);
    if (!type.startsWith(RESERVED_TYPE_PREFIX)) emit(this.listeners, ANY, event);
  }

  private remember(id: string): void {
    this.lastId = id;
    this.ids.set(id);
  }

  private lost(loss: LossData): void {
    emit(this.listeners, LOSS, loss);
  }

  private adopt(state: ClientState): void {
    if (isFinal(state)) this.stop(state);
    else this.setState(state);
  }

  private setState(state: ClientState): void {
    // The same news twice (the holder's, and this tab's own) is told once.
    if (JSON.stringify(state) === JSON.stringify(this.current)) return;
    this.current = state;
    emit(this.listeners, STATE, state);
  }

  private stop(state: ClientState): void {
    if (!this.running) return;
    this.running = false;
    this.pageEvents.forEach(([name, listener]) => globalThis.removeEventListener?.(name, listener));
    this.suspend();
    this.setState(state);
  }

  private suspend(): void {
    this.letGo();
    this.group?.leave();
    this.group = undefined;
  }

  private wantedTopics(): string[] {
    return [...new Set([...this.topics, ...(this.group?.peerTopics() ?? [])])].sort();
  }

  private streamUrl(): string {
    const topics = this.wantedTopics();
    this.streamTopics = topics.join();
    const { url, topicsParameter = 'topics' } = this.options;
    if (topics.length === 0) return url;
    return `${url}${url.includes('?') ? '&' : '?'}${encodeURIComponent(topicsParameter)}=${encodeURIComponent(topics.join())}`;
  }

  private readonly pageEvents: ReadonlyArray<[string, (event: Event) => void]> = [
    // Back online: the stream (or the wait for it) is most likely stale.
    ['online', () => this.connection?.reconnectNow()],
    // Leaving the page, or going into the back/forward cache: hand the stream over now, not when the browser gets to it.
    ['pagehide', () => this.suspend()],
    [
      'pageshow',
      (event) => {
        if (!(event as PageTransitionEvent).persisted || !this.running) return;
        this.setState(CONNECTING);
        this.join();
      },
    ],
  ];
}
