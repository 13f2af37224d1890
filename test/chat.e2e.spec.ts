import { jest } from '@jest/globals';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { startDemoServer, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { compareIds, expectIncreasing } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { blocksOf, RawStream } from './harness/raw-stream.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep, Waiters } from './harness/waiting.js';

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(30_000);

/** The form of an answer id: the owner's tag, a dot, a UUID. */
const ANSWER_ID = /^[\w-]{22}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ChatEvent {
  readonly type: string;
  readonly id: string | undefined;
  readonly data: string;
}

/**
 * One chat response, read as it arrives with eventsource-parser, keeping both
 * the parsed events and the exact text received. It uses node:http rather than
 * fetch so that `close()` drops exactly this connection, as a client that goes
 * away does, and leaves no pooled socket behind (undici may open a spare one,
 * which held a Fastify server's close up until its keep-alive timeout).
 */
class ChatStream {
  /** The answer's own events (`chat`, `token`s, and the one that ends it). */
  readonly events: ChatEvent[] = [];
  /** The resumable stream's own events (`sse.resume` first, `sse.close` last), in order. */
  readonly reserved: ChatEvent[] = [];
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
        (message.event?.startsWith('sse.') ? this.reserved : this.events).push({
          type: message.event ?? 'message',
          id: message.id,
          data: message.data,
        }),
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

  static ask(server: DemoServer, token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<ChatStream> {
    return ChatStream.open(
      `${server.url}/chat`,
      'POST',
      { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
      JSON.stringify(body),
    );
  }

  static resume(server: DemoServer, token: string, answerId: string, lastEventId?: string): Promise<ChatStream> {
    return ChatStream.open(`${server.url}/chat/${encodeURIComponent(answerId)}`, 'GET', {
      Authorization: `Bearer ${token}`,
      ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
    });
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

  get tokens(): string[] {
    return this.ofType('token').map((event) => JSON.parse(event.data) as string);
  }

  get text(): string {
    return this.tokens.join('');
  }

  get last(): ChatEvent | undefined {
    return this.events.at(-1);
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

afterEach(closeOpened);

/** The HTTP platform under test comes from the harness (one run per adapter). */
const adapter = TEST_CONFIG.adapter;

describe(`chat over POST streams (${adapter})`, () => {
  /** A generous grace: answers whose client went away keep going while a test resumes them. */
  let server: DemoServer;
  /** One connection per user, and a short grace: for the slot and the detached-answer tests. */
  let tight: DemoServer;
  const TIGHT_GRACE_MS = 500;
  const TIGHT_DELAY_MS = 60;

  /** The complete answers of the canned model, per message, each read once from a full run. */
  const fullAnswers = new Map<string, string[]>();

  beforeAll(async () => {
    [server, tight] = await Promise.all([
      startDemoServer({ chatTokenDelayMs: 25, chatDetachedGraceMs: 15_000 }),
      startDemoServer({
        maxConnectionsPerUser: 1,
        chatTokenDelayMs: TIGHT_DELAY_MS,
        chatDetachedGraceMs: TIGHT_GRACE_MS,
      }),
    ]);
  });
  afterAll(async () => {
    closeOpened();
    await Promise.all([server?.close(), tight?.close()]);
  });

  const user = (name: string) => `${name}-${adapter}`;

  /** The tokens of a complete, uninterrupted answer to `message` (read once). */
  async function fullAnswer(message: string): Promise<string[]> {
    const known = fullAnswers.get(message);
    if (known) return known;
    const stream = track(await ChatStream.ask(server, await signToken(user('reference')), { message }));
    await stream.finished();
    expect(stream.last?.type).toBe('done');
    fullAnswers.set(message, stream.tokens);
    return stream.tokens;
  }

  it('streams chat, then the tokens, then done; the first write carries retry:, ids increase, tokens form the answer', async () => {
    const message = 'What are Server-Sent Events?';
    const stream = track(await ChatStream.ask(server, await signToken(user('asker')), { message }));
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await stream.finished();

    const types = stream.events.map((event) => event.type);
    expect(types[0]).toBe('chat');
    expect(types.at(-1)).toBe('done');
    expect(types.slice(1, -1).every((type) => type === 'token')).toBe(true);
    expect(types.length).toBeGreaterThan(10);

    // chat: its id; done: the same id.
    const answerId = stream.answerId;
    expect(answerId).toMatch(ANSWER_ID);
    expect(JSON.parse(stream.last!.data)).toEqual({ id: answerId });

    // The resumable stream's contract: sse.resume first, naming where to resume, and sse.close completed last.
    expect(stream.reserved.map((event) => event.type)).toEqual(['sse.resume', 'sse.close']);
    expect(JSON.parse(stream.reserved[0].data)).toEqual({ url: `/chat/${encodeURIComponent(answerId)}` });
    expect(compareIds(stream.reserved[0].id!, stream.events[0].id!)).toBeLessThan(0);
    expect(JSON.parse(stream.reserved[1].data)).toEqual({ reason: 'completed' });
    expect(blocksOf(stream.raw).at(-1)![0]).toBe('event: sse.close');

    // Only the first write carries retry:, and it is sse.resume.
    const blocks = blocksOf(stream.raw);
    expect(stream.raw).toMatch(/^\n*event: sse.resume\n/);
    expect(blocks[0].some((line) => /^retry: \d+$/.test(line))).toBe(true);
    expect(blocks.slice(1).some((lines) => lines.some((line) => line.startsWith('retry:')))).toBe(false);
    expect(stream.retries).toHaveLength(1);
    expect(stream.retries[0]).toBeGreaterThan(0);

    expectIncreasing(stream.events.map((event) => event.id));

    // Each token is a JSON string; joined, they are the canned answer to this message.
    const text = stream.text;
    expect(text.startsWith(`You asked: "${message}". `)).toBe(true);
    expect(text.endsWith('without repeating a word.')).toBe(true);
    expect(stream.tokens.every((token) => token.length > 0)).toBe(true);
    expect(text.split(' ')).toEqual(stream.tokens.map((token) => token.trimEnd()));
  });

  describe('refusals', () => {
    it.each([
      ['a missing message', {}],
      ['an empty message', { message: '' }],
      ['a message that is not a string', { message: 42 }],
      ['an unknown property', { message: 'hi', extra: true }],
      ['a body nested 1,300 levels deep', { message: 'hi', extra: JSON.parse(`${'['.repeat(1300)}${']'.repeat(1300)}`) }],
    ])('answers 400 to %s, with no stream', async (_what, body) => {
      const stream = track(await ChatStream.ask(server, await signToken(user('bad-request')), body));
      await stream.finished();
      expect(stream.status).toBe(400);
      expect(stream.headers['content-type']).toMatch(/^application\/json/);
      expect(stream.raw).not.toContain('event:');
      expect((JSON.parse(stream.raw) as { statusCode: number }).statusCode).toBe(400);
    });

    it('answers 401 without a token, and to a token in the cookie only (a POST is never cookie-authenticated)', async () => {
      const anonymous = track(await ChatStream.ask(server, undefined, { message: 'hi' }));
      await anonymous.finished();
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer /);
      expect(anonymous.raw).not.toContain('event:');

      const byCookie = track(
        await ChatStream.ask(server, undefined, { message: 'hi' }, { Cookie: `sse_token=${await signToken(user('cookie'))}` }),
      );
      await byCookie.finished();
      expect(byCookie.status).toBe(401);
    });

    it('answers 401 to GET /chat/:id and DELETE /chat/:id without a token', async () => {
      const resume = await fetch(`${server.url}/chat/nothing`);
      expect(resume.status).toBe(401);
      await resume.body?.cancel();
      const cancel = await fetch(`${server.url}/chat/nothing`, { method: 'DELETE' });
      expect(cancel.status).toBe(401);
      await cancel.body?.cancel();
    });
  });

  describe('resume', () => {
    it('after Last-Event-ID sends exactly the remaining tokens, then done, repeating nothing', async () => {
      const message = 'Tell me about resuming';
      const expected = await fullAnswer(message);
      const token = await signToken(user('resumer'));

      const first = track(await ChatStream.ask(server, token, { message }));
      await first.until(() => first.ofType('token').length >= 5);
      first.close();
      await first.finished();
      const received = first.events.slice();
      const lastId = received.at(-1)!.id!;
      const answerId = first.answerId;
      const partOne = received.filter((event) => event.type === 'token').map((event) => JSON.parse(event.data) as string);
      expect(partOne.length).toBeGreaterThanOrEqual(5);
      expect(partOne.length).toBeLessThan(expected.length);

      const second = track(await ChatStream.resume(server, token, answerId, lastId));
      expect(second.status).toBe(200);
      await second.finished();
      const types = second.events.map((event) => event.type);
      expect(types.at(-1)).toBe('done');
      expect(types.slice(0, -1).every((type) => type === 'token')).toBe(true);
      // Nothing at or before the cursor comes again.
      for (const event of second.events) expect(compareIds(event.id!, lastId)).toBeGreaterThan(0);
      expectIncreasing(second.events.map((event) => event.id));
      // The resumed response has its own first write, which carries retry:, and ends as the POST does.
      expect(blocksOf(second.raw)[0].some((line) => line.startsWith('retry: '))).toBe(true);
      expect(second.reserved.map((event) => event.type)).toEqual(['sse.resume', 'sse.close']);
      expect(JSON.parse(second.reserved[0].data)).toEqual({ url: `/chat/${encodeURIComponent(answerId)}` });
      expect(JSON.parse(second.reserved[1].data)).toEqual({ reason: 'completed' });

      expect([...partOne, ...second.tokens]).toEqual(expected);
      expect(partOne.join('') + second.text).toBe(expected.join(''));
    });

    it('without Last-Event-ID replays every token from the start, then done', async () => {
      const message = 'Replay everything please';
      const expected = await fullAnswer(message);
      const token = await signToken(user('replayer'));

      const first = track(await ChatStream.ask(server, token, { message }));
      await first.until(() => first.ofType('token').length >= 3);
      const second = track(await ChatStream.resume(server, token, first.answerId));
      expect(second.status).toBe(200);
      await Promise.all([first.finished(), second.finished()]);

      expect(second.ofType('chat')).toEqual([]);
      expect(second.last?.type).toBe('done');
      expect(second.tokens).toEqual(expected);
      expect(first.tokens).toEqual(expected);
      // Both readers saw the very same events.
      expect(second.events).toEqual(first.events.slice(1));
    });

    it('gives another user 404 for the answer, on GET and on DELETE', async () => {
      const owner = await signToken(user('owner'));
      const stranger = await signToken(user('stranger'));
      const stream = track(await ChatStream.ask(server, owner, { message: 'Mine only' }));
      await stream.until(() => stream.ofType('chat').length > 0);
      const answerId = stream.answerId;

      const resume = track(await ChatStream.resume(server, stranger, answerId));
      await resume.finished();
      expect(resume.status).toBe(404);
      expect(resume.raw).not.toContain('event:');

      const cancel = await fetch(`${server.url}/chat/${encodeURIComponent(answerId)}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${stranger}` },
      });
      expect(cancel.status).toBe(404);
      await cancel.body?.cancel();

      // An unknown id is a 404 for its would-be owner too.
      const unknown = track(await ChatStream.resume(server, owner, `${answerId.split('.')[0]}.nope`));
      await unknown.finished();
      expect(unknown.status).toBe(404);

      // The stranger's attempts did not disturb the owner's answer.
      await stream.finished();
      expect(stream.last?.type).toBe('done');
    });
  });

  it('ends with an error event carrying a message when the model fails mid-answer ("#fail")', async () => {
    const stream = track(await ChatStream.ask(server, await signToken(user('failer')), { message: 'Please #fail now' }));
    expect(stream.status).toBe(200);
    await stream.finished();
    const types = stream.events.map((event) => event.type);
    expect(types[0]).toBe('chat');
    expect(types.at(-1)).toBe('error');
    expect(types).not.toContain('done');
    expect(stream.ofType('token').length).toBeGreaterThan(0);
    const error = JSON.parse(stream.last!.data) as { id: string; message: string };
    expect(error.id).toBe(stream.answerId);
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    expectIncreasing(stream.events.map((event) => event.id));
  });

  it('on DELETE /chat/:id mid-answer ends the stream with cancelled, and writes no more tokens', async () => {
    const message = 'Cancel me midway';
    const expected = await fullAnswer(message);
    const token = await signToken(user('canceller'));
    const stream = track(await ChatStream.ask(server, token, { message }));
    await stream.until(() => stream.ofType('token').length >= 3);

    const answerId = stream.answerId;
    const cancel = await fetch(`${server.url}/chat/${encodeURIComponent(answerId)}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(cancel.status).toBe(204);
    await stream.finished();
    expect(stream.last?.type).toBe('cancelled');
    expect(JSON.parse(stream.last!.data)).toEqual({ id: answerId });
    const written = stream.tokens;
    expect(written.length).toBeLessThan(expected.length);
    expect(written).toEqual(expected.slice(0, written.length));

    // Long enough for the model to have written more, had it not stopped.
    await sleep(500);
    const resumed = track(await ChatStream.resume(server, token, answerId));
    await resumed.finished();
    expect(resumed.status).toBe(200);
    expect(resumed.last?.type).toBe('cancelled');
    expect(resumed.ofType('done')).toEqual([]);
    expect(resumed.tokens).toEqual(written);
  });

  it('cancels an answer whose client went away and that nobody resumed within the grace period', async () => {
    const message = 'Nobody is listening';
    const token = await signToken(user('leaver'));
    const stream = track(await ChatStream.ask(tight, token, { message }));
    await stream.until(() => stream.ofType('token').length >= 3);
    const answerId = stream.answerId;
    stream.close();
    await stream.finished();

    // Wait past the time the whole answer would take (≈ 60 words × the delay), so that
    // an answer that was not cancelled would be done by now: the outcome is unambiguous.
    const words = 60; // of the canned answer to this message
    await sleep(Math.max(TIGHT_GRACE_MS * 3, words * TIGHT_DELAY_MS + 1000));

    const resumed = track(await ChatStream.resume(tight, token, answerId));
    expect(resumed.status).toBe(200);
    await resumed.finished();
    expect(resumed.last?.type).toBe('cancelled');
    expect(resumed.ofType('done')).toEqual([]);
    const written = resumed.tokens;
    expect(written.length).toBeGreaterThanOrEqual(3);
    expect(written.join('')).not.toMatch(/without repeating a word\.$/);
  });

  it('takes a connection slot for a POST stream, and frees it when the stream ends or the client goes away', async () => {
    const userId = user('slot');
    const token = await signToken(userId);
    const sseStatus = async (): Promise<number> => {
      const raw = track(await RawStream.open(`${tight.url}/sse`, { Authorization: `Bearer ${token}` }));
      const status = raw.status;
      raw.close();
      return status;
    };
    /**
     * Bounded retries: the server frees a slot a moment after the client sees the response end.
     * The probe's own slot is then waited for in turn, so that what comes next does not race with it.
     */
    const sseStatusOnceFreed = async (): Promise<number> => {
      const deadline = Date.now() + 3000;
      for (;;) {
        const status = await sseStatus();
        if (status !== 429 || Date.now() > deadline) {
          await eventually(async () => (await tight.stats()).streams === 0, 3000, 'the probe stream to be freed');
          return status;
        }
        await sleep(50);
      }
    };

    // Ends on its own.
    const chat = track(await ChatStream.ask(tight, token, { message: 'Hold my slot' }));
    await chat.until(() => chat.ofType('token').length >= 1);
    expect(await sseStatus()).toBe(429);
    await chat.finished();
    expect(chat.last?.type).toBe('done');
    expect(await sseStatusOnceFreed()).toBe(200);

    // The client goes away mid-answer.
    const second = track(await ChatStream.ask(tight, token, { message: 'Hold it again' }));
    await second.until(() => second.ofType('token').length >= 1);
    expect(await sseStatus()).toBe(429);
    // A second chat is refused as well, with no stream.
    const third = track(await ChatStream.ask(tight, token, { message: 'And me?' }));
    await third.finished();
    expect(third.status).toBe(429);
    second.close();
    expect(await sseStatusOnceFreed()).toBe(200);
  });
});
