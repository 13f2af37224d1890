import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { EVENT_ID } from './event-ids.js';
import { Waiters } from './waiting.js';

export interface ChatEvent {
  readonly type: string;
  readonly id: string | undefined;
  readonly data: string;
}

/** Where the demo app listens. */
export interface ChatServer {
  readonly url: string;
}

/**
 * One response of the demo's chat (a resumable POST stream, or its resume),
 * read as it arrives with eventsource-parser, keeping both the parsed events
 * and the exact text received. It uses node:http rather than fetch so that
 * `close()` drops exactly this connection, as a client that goes away does,
 * and leaves no pooled socket behind (undici may open a spare one, which held
 * a Fastify server's close up until its keep-alive timeout).
 */
export class ChatStream {
  readonly events: ChatEvent[] = [];
  /** Every `retry:` value, in order. */
  readonly retries: number[] = [];
  raw = '';
  /** Whether the response has ended (the server ended it, or the client went away). */
  ended = false;
  private readonly waiters = new Waiters();

  private constructor(
    private readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    const parser = createParser({
      onEvent: (message: EventSourceMessage) =>
        this.events.push({ type: message.event ?? 'message', id: message.id, data: message.data }),
      onRetry: (ms) => this.retries.push(ms),
    });
    response.setEncoding('utf8');
    response.on('data', (text: string) => {
      this.raw += text;
      parser.feed(text);
      this.waiters.notify();
    });
    // Dropped by close(): that is how it ends, not a failure.
    response.on('error', () => undefined);
    response.on('close', () => {
      this.ended = true;
      this.waiters.notify();
    });
  }

  static open(url: string, method = 'GET', headers: Record<string, string> = {}, body?: string): Promise<ChatStream> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, (response) => resolve(new ChatStream(response, () => req.destroy())));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** POST /chat. */
  static ask(server: ChatServer, token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<ChatStream> {
    return ChatStream.open(
      `${server.url}/chat`,
      'POST',
      { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
      JSON.stringify(body),
    );
  }

  /** GET at a resume location (`/chat/<id>`), with `Last-Event-ID` when given. */
  static resumeAt(server: ChatServer, token: string, path: string, lastEventId?: string): Promise<ChatStream> {
    return ChatStream.open(`${server.url}${path}`, 'GET', {
      Authorization: `Bearer ${token}`,
      ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
    });
  }

  /** GET /chat/:id. */
  static resume(server: ChatServer, token: string, answerId: string, lastEventId?: string): Promise<ChatStream> {
    return ChatStream.resumeAt(server, token, `/chat/${encodeURIComponent(answerId)}`, lastEventId);
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  ofType(type: string): ChatEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  get types(): string[] {
    return this.events.map((event) => event.type);
  }

  get tokens(): string[] {
    return this.ofType('token').map((event) => JSON.parse(event.data) as string);
  }

  get text(): string {
    return this.tokens.join('');
  }

  get last(): ChatEvent | undefined {
    return this.events.at(-1);
  }

  /** The app's own events: everything but the module's `sse.*` ones. */
  get appEvents(): ChatEvent[] {
    return this.events.filter((event) => !event.type.startsWith('sse.'));
  }

  /** The app's own last event: how the answer ended. */
  get ending(): ChatEvent | undefined {
    return this.appEvents.at(-1);
  }

  /** The `sse.resume` that begins a POST: its id and the location it names. */
  get resume(): { id: string; url: string } {
    const [first] = this.events;
    if (first?.type !== 'sse.resume') throw new Error(`the stream does not begin with sse.resume: ${JSON.stringify(this.events)}`);
    return { id: first.id!, url: (JSON.parse(first.data) as { url: string }).url };
  }

  get answerId(): string {
    const [chat] = this.ofType('chat');
    if (!chat) throw new Error(`no chat event yet; received ${JSON.stringify(this.events)}`);
    return (JSON.parse(chat.data) as { id: string }).id;
  }

  /** Resolves once `condition` holds, checked after every chunk; rejects after `timeoutMs` with what arrived. */
  until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out; received ${JSON.stringify(this.raw)} (ended: ${this.ended})`);
  }

  /** Waits for the server to end the response, and returns its events. */
  async finished(timeoutMs = 15_000): Promise<ChatEvent[]> {
    await this.until(() => this.ended, timeoutMs);
    return this.events;
  }

  /** The client going away: the connection is dropped. */
  close(): void {
    this.abort();
  }
}

/**
 * The end of the contract of a resumable POST stream: `sse.close` `{"reason":"completed"}` with an event id,
 * last, once, after which the server ended the response.
 */
export function expectCompleted(stream: ChatStream): void {
  expect(stream.ended).toBe(true);
  expect(stream.ofType('sse.close')).toHaveLength(1);
  expect(stream.last?.type).toBe('sse.close');
  expect(JSON.parse(stream.last!.data)).toEqual({ reason: 'completed' });
  expect(stream.last!.id).toMatch(EVENT_ID);
}
