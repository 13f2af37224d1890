import type { ClientState } from './client-state.js';
import type { Frame } from './sse-frames.js';

/** What the tabs of a group tell each other over their BroadcastChannel. */
export type TabMessage = { readonly from: string } & (
  /** A tab joined, or answers one that did: what it wants. */
  | { readonly kind: 'hello' | 'here'; readonly topics: readonly string[] }
  | { readonly kind: 'bye' | 'ping' | 'pong' | 'signout' }
  /** From the tab holding the stream: each event, and each state of the stream with the last id it had then. */
  | { readonly kind: 'frame'; readonly frame: Frame }
  | { readonly kind: 'state'; readonly state: ClientState; readonly lastEventId?: string }
);

type Outgoing = TabMessage extends infer M ? (M extends TabMessage ? Omit<M, 'from'> : never) : never;

export interface TabGroupHooks {
  /** This tab now holds the lock: it opens the stream for the group. */
  lead(): void;
  /** It held the lock and lost it (taken from it while it seemed frozen): it must stop its stream. */
  follow(): void;
  message(message: TabMessage): void;
  /** The topics the other tabs want have changed. */
  peersChanged(): void;
}

// A follower that has heard nothing from the holder for this long asks it whether it is there…
const SILENCE_MS = 1500;
// …and takes the lock from it after this long (and up to twice it, so that followers do not all take it at once).
const PATIENCE_MS = 1500;
// Followers' timers may be throttled in background tabs: these only bound how soon a check runs, never what it decides.
const CHECK_MS = 500;

/**
 * The tabs of one origin that stream for the same user: the one holding a Web
 * Lock opens the stream, and the others hear its events over a
 * BroadcastChannel. When the holder closes or crashes, the browser hands the
 * lock to the next tab. A holder that is frozen keeps its lock, so the others
 * ping it, and one that gets no answer takes the lock (`steal`); the frozen
 * tab learns it lost the lock when it wakes, and stops its stream.
 */
export class TabGroup {
  readonly id = Math.random().toString(36).slice(2);
  private readonly channel: BroadcastChannel;
  private readonly peers = new Map<string, readonly string[]>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly patienceMs = PATIENCE_MS * (1 + Math.random());
  private leading = false;
  private left = false;
  /** The lock request waiting in the queue. */
  private queued?: AbortController;
  private release?: () => void;
  private heardAt = Date.now();
  private pingedAt?: number;

  constructor(
    private readonly name: string,
    private readonly topics: readonly string[],
    private readonly hooks: TabGroupHooks,
  ) {
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event: MessageEvent<TabMessage>) => this.receive(event.data);
    this.post({ kind: 'hello', topics });
    this.queue(false);
    this.timer = setInterval(this.check, CHECK_MS);
    globalThis.document?.addEventListener('visibilitychange', this.check);
  }

  /** What the other tabs asked for. */
  peerTopics(): string[] {
    return [...this.peers.values()].flat();
  }

  post(message: Outgoing): void {
    if (!this.left) this.channel.postMessage({ ...message, from: this.id });
  }

  leave(): void {
    if (this.left) return;
    this.post({ kind: 'bye' });
    this.left = true;
    clearInterval(this.timer);
    globalThis.document?.removeEventListener('visibilitychange', this.check);
    this.queued?.abort();
    this.release?.();
    this.channel.close();
  }

  private queue(steal: boolean): void {
    this.queued?.abort();
    // A request that steals cannot also be abortable.
    const queued = steal ? undefined : new AbortController();
    this.queued = queued;
    let granted = false;
    navigator.locks
      .request(this.name, queued ? { signal: queued.signal } : { steal: true }, () => {
        if (this.left) return;
        granted = true;
        this.queued = undefined;
        this.leading = true;
        this.hooks.lead();
        return new Promise<void>((resolve) => (this.release = resolve));
      })
      .catch(() => {
        // Aborted while waiting (left, or replaced by a steal): nothing held. Held: it was stolen.
        if (!granted || this.left) return;
        this.leading = false;
        this.release = undefined;
        this.hooks.follow();
        // As a tab that joins: the holder says where its stream is (and this one learns what it slept through).
        this.post({ kind: 'hello', topics: this.topics });
        this.queue(false);
      });
  }

  private readonly check = (): void => {
    if (this.leading || this.left) return;
    const now = Date.now();
    if (this.pingedAt === undefined) {
      if (now - this.heardAt > SILENCE_MS) {
        this.pingedAt = now;
        this.post({ kind: 'ping' });
      }
    } else if (now - this.pingedAt > this.patienceMs) {
      this.pingedAt = undefined;
      this.heardAt = now;
      this.queue(true);
    }
  };

  private receive(message: TabMessage): void {
    switch (message.kind) {
      case 'ping':
        // From a timer: a frozen tab may still run message tasks, but never timers. A throttled one runs them late,
        // yet within a second or so (a timer set from an event is not a chained one).
        if (this.leading) setTimeout(() => this.leading && this.post({ kind: 'pong' }));
        return;
      case 'pong':
      case 'frame':
      case 'state':
        this.heardAt = Date.now();
        this.pingedAt = undefined;
        break;
      case 'hello':
        this.post({ kind: 'here', topics: this.topics });
      // falls through: a tab that joined is a peer like one that answered
      case 'here':
        this.peers.set(message.from, message.topics);
        this.hooks.peersChanged();
        break;
      case 'bye':
        this.peers.delete(message.from);
        this.hooks.peersChanged();
    }
    if (message.kind !== 'pong') this.hooks.message(message);
  }
}
