import { EventSource, type ErrorEvent } from 'eventsource';
import { Waiters } from './waiting.js';

export interface ReceivedEvent {
  readonly type: string;
  readonly id: string;
  readonly data: string;
}

/** The data of an `sse.loss` event. */
export interface Loss {
  reason: string;
  lastEventId: string;
}

export function lossOf(event: ReceivedEvent): Loss {
  return JSON.parse(event.data) as Loss;
}

export interface TestStreamOptions {
  /** Event types to listen for, besides the module's own (`sse.*`) and `message`. */
  types?: string[];
  /** Extra request headers (e.g. `Last-Event-ID`). */
  headers?: Record<string, string>;
  /** Query string, without `?`. */
  query?: string;
  /** Where each (re)connection goes, as a load balancer decides: the URL to fetch for the stream's URL. */
  route?: (url: string) => string;
}

const MODULE_TYPES = ['sse.ready', 'sse.close', 'sse.loss', 'message'];

/**
 * A real `EventSource` (the `eventsource` package) whose fetch adds the bearer
 * token, recording every event of the listed types in arrival order.
 */
export class TestStream {
  readonly events: ReceivedEvent[] = [];
  readonly errors: ErrorEvent[] = [];
  readonly source: EventSource;
  private readonly waiters = new Waiters();

  constructor(baseUrl: string, token: string | undefined, options: TestStreamOptions = {}) {
    const url = `${baseUrl}/sse${options.query ? `?${options.query}` : ''}`;
    this.source = new EventSource(url, {
      fetch: (input, init) =>
        fetch(options.route ? options.route(String(input)) : input, {
          ...init,
          headers: {
            ...init.headers,
            ...options.headers,
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
          },
        }),
    });
    for (const type of [...MODULE_TYPES, ...(options.types ?? [])]) {
      this.source.addEventListener(type, (event) => {
        this.events.push({ type, id: event.lastEventId, data: event.data });
        this.waiters.notify();
      });
    }
    this.source.addEventListener('error', (event) => {
      this.errors.push(event);
      this.waiters.notify();
    });
  }

  /** Opens a stream and waits for its ready event; rejects with the error of a refused one. */
  static async open(baseUrl: string, token: string | undefined, options?: TestStreamOptions): Promise<TestStream> {
    const stream = new TestStream(baseUrl, token, options);
    try {
      await stream.until(() => stream.errors.length > 0 || stream.ofType('sse.ready').length > 0);
    } catch (err) {
      stream.close();
      throw err;
    }
    if (stream.ofType('sse.ready').length === 0) {
      stream.close();
      const error = stream.errors[0];
      throw Object.assign(new Error(`stream refused: ${error.code} ${error.message}`), { code: error.code });
    }
    return stream;
  }

  ofType(type: string): ReceivedEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  /** Resolves once `condition` holds, checked after every event; rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out; received ${JSON.stringify(this.events)}`);
  }

  /** Waits until `count` events of `type` have arrived, and returns them. */
  async waitForType(type: string, count = 1, timeoutMs?: number): Promise<ReceivedEvent[]> {
    await this.until(() => this.ofType(type).length >= count, timeoutMs);
    return this.ofType(type);
  }

  close(): void {
    this.source.close();
  }
}
