import type { ClientEvent, ClientState, EventMap, LossData, SseClient } from '../../src/client/index.js';
import { Waiters } from './waiting.js';

/** One request a client sent, as its `fetch` saw it. */
export interface SentRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /** When it was sent, and when its answer's headers came (epoch ms). */
  readonly sentAt: number;
  answeredAt?: number;
  status?: number;
}

/** The global fetch, recording each request: what the client really sends, and when. */
export function recordingFetch(requests: SentRequest[], onRequest?: () => void): typeof fetch {
  return async (input, init) => {
    const request: SentRequest = {
      method: init?.method ?? 'GET',
      url: String(input),
      headers: new Headers(init?.headers),
      sentAt: Date.now(),
    };
    requests.push(request);
    onRequest?.();
    const response = await fetch(input, init);
    request.answeredAt = Date.now();
    request.status = response.status;
    return response;
  };
}

/** Everything a client tells its app, in order, with a way to wait for what should come. */
export class ClientProbe<Events extends EventMap> {
  readonly events: ClientEvent<Events>[] = [];
  readonly states: Array<ClientState & { at: number }> = [];
  readonly losses: LossData[] = [];
  readonly requests: SentRequest[] = [];
  private readonly waiters = new Waiters();

  /** Attaches to a client made by `make`, which is given the recording fetch to use. */
  constructor(make: (fetch: typeof globalThis.fetch) => SseClient<Events>) {
    this.client = make(recordingFetch(this.requests, () => this.waiters.notify()));
    this.client.onAny((event) => this.record(this.events, event));
    this.client.onState((state) => this.record(this.states, { ...state, at: Date.now() }));
    this.client.onLoss((loss) => this.record(this.losses, loss));
  }

  readonly client: SseClient<Events>;

  get ids(): string[] {
    return this.events.map((event) => event.id);
  }

  get statuses(): string[] {
    return this.states.map((state) => (state.status === 'closed' ? `closed:${state.reason}` : state.status));
  }

  /** Resolves once `condition` holds (checked on every event, state and request); rejects after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out waiting for ${what}; states ${this.statuses.join(' → ')}; events ${this.ids.join(', ')}`);
  }

  /** Waits until the client is open (again, if it was before: `count` opens in all). */
  opened(count = 1): Promise<void> {
    return this.until(() => this.states.filter((state) => state.status === 'open').length >= count, `open #${count}`);
  }

  private record<T>(list: T[], item: T): void {
    list.push(item);
    this.waiters.notify();
  }
}
