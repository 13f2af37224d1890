import { jest } from '@jest/globals';
import { type PostStream, type PostStreamOptions, postStream, resumeStream, SseRequestError } from '../src/client/index.js';
import type { ChatEvents } from '../src/demo/chat/chat.service.js';
import { recordingFetch, type SentRequest } from './harness/client-probe.js';
import { startDemoServer, TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import { compareIds, expectIncreasing } from './harness/event-ids.js';
import { rawConnect } from './harness/raw-stream.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * The client's POST streams against the demo's chat: an answer read as typed
 * events, resumed by GET where the server says (never by a second POST).
 */

jest.setTimeout(40_000);

const user = (name: string) => `post-${name}-${TEST_ADAPTER}`;

interface Read {
  readonly events: Array<{ type: string; id: string; data: unknown }>;
  readonly tokens: string[];
  readonly error?: unknown;
}

/** Reads a POST stream to its end (or until `stop` says so), keeping what it yielded and how it ended. */
async function readAll(stream: PostStream<ChatEvents>, stop?: (read: Read) => boolean): Promise<Read> {
  const read = { events: [] as Read['events'], tokens: [] as string[], error: undefined as unknown };
  try {
    for await (const event of stream) {
      read.events.push(event);
      // Typed: a token's data is a string, the others' are objects with the answer's id.
      if (event.type === 'token') read.tokens.push(event.data);
      else expect(typeof event.data.id).toBe('string');
      if (stop?.(read)) break;
    }
  } catch (err) {
    read.error = err;
  }
  return read;
}

describe(`POST streams (${TEST_ADAPTER})`, () => {
  let server: DemoServer;
  let proxy: TcpProxy;
  const answers = new Map<string, string[]>();

  beforeAll(async () => {
    server = await startDemoServer({ chatTokenDelayMs: 25, chatDetachedGraceMs: 15_000 });
    proxy = await TcpProxy.start(server.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  /** Options of a user's stream, its requests recorded. */
  async function optionsOf(userId: string, requests: SentRequest[]): Promise<PostStreamOptions> {
    const token = await signToken(userId);
    return { getToken: () => token, fetch: recordingFetch(requests) };
  }

  /** The tokens of a whole, unbroken answer to `message` (read once). */
  async function fullAnswer(message: string): Promise<string[]> {
    if (!answers.has(message)) {
      const read = await readAll(postStream(`${server.url}/chat`, { message }, await optionsOf(user('reference'), [])));
      expect(read.error).toBeUndefined();
      answers.set(message, read.tokens);
    }
    return answers.get(message)!;
  }

  it('reads an answer as typed events (chat, the tokens, done) to the server\'s sse.close, with one POST', async () => {
    const requests: SentRequest[] = [];
    const message = 'What is a POST stream?';
    const answer = postStream<ChatEvents>(`${server.url}/chat`, { message }, await optionsOf(user('reader'), requests));
    const read = await readAll(answer);

    expect(read.error).toBeUndefined();
    const types = read.events.map((event) => event.type);
    expect(types[0]).toBe('chat');
    expect(types.at(-1)).toBe('done');
    expect(types.slice(1, -1).every((type) => type === 'token')).toBe(true);
    expect(read.tokens.join('')).toMatch(new RegExp(`^You asked: "${message.replace(/[?]/g, '\\?')}"\\. .*without repeating a word\\.$`));
    expectIncreasing(read.events.map((event) => event.id));
    // The reserved events are the client's: where to resume, and the end.
    const answerId = (read.events[0].data as { id: string }).id;
    expect(answer.resumeUrl).toBe(`${server.url}/chat/${encodeURIComponent(answerId)}`);
    // The last id is the sse.close's own (recorded after the answer's last event): a resume from it gets nothing more.
    expectIncreasing([read.events.at(-1)!.id, answer.lastEventId]);

    expect(requests).toHaveLength(1);
    expect(requests[0].method).toBe('POST');
    expect(requests[0].headers.get('content-type')).toBe('application/json');
    expect(requests[0].headers.get('authorization')).toMatch(/^Bearer /);
  });

  it('completes an answer whose POST broke mid-answer by GETs at the resume location, with exactly one POST sent', async () => {
    const message = 'Break me halfway';
    const expected = await fullAnswer(message);
    const requests: SentRequest[] = [];
    const answer = postStream<ChatEvents>(`${proxy.url}/chat`, { message }, await optionsOf(user('broken'), requests));
    let cutAfter: string | undefined;
    const read = await readAll(answer, (sofar) => {
      if (sofar.tokens.length === 5 && !cutAfter) {
        cutAfter = answer.lastEventId;
        proxy.cut();
      }
      return false;
    });

    expect(read.error).toBeUndefined();
    expect(read.tokens).toEqual(expected);
    expect(read.events.at(-1)!.type).toBe('done');
    expectIncreasing(read.events.map((event) => event.id));

    const posts = requests.filter((request) => request.method === 'POST');
    const resumes = requests.filter((request) => request.method === 'GET');
    expect(posts).toHaveLength(1);
    expect(resumes.length).toBeGreaterThanOrEqual(1);
    expect(resumes[0].url).toBe(answer.resumeUrl);
    expect(resumes[0].url).toMatch(new RegExp(`^${proxy.url}/chat/`));
    // After the last event read before the break: nothing repeated, nothing skipped.
    expect(compareIds(resumes[0].headers.get('last-event-id')!, cutAfter!)).toBeGreaterThanOrEqual(0);
    expect(resumes.every((request) => request.headers.get('authorization')?.startsWith('Bearer '))).toBe(true);
  });

  it('gives up, without sending the POST again, when it breaks before the server said where to resume', async () => {
    const requests: SentRequest[] = [];
    // Nothing of the answer gets through, then the connection breaks: the server may have started on it.
    proxy.stall();
    const answer = postStream<ChatEvents>(`${proxy.url}/chat`, { message: 'Lost at once' }, await optionsOf(user('early'), requests));
    const reading = readAll(answer);
    await eventually(() => requests.length === 1 && proxy.open > 0, 5000, 'the POST to be under way');
    await sleep(200);
    proxy.cut();
    const read = await reading;

    expect(read.events).toEqual([]);
    expect(read.error).toBeInstanceOf(SseRequestError);
    expect((read.error as SseRequestError).message).toMatch(/unresumable/);
    expect(answer.resumeUrl).toBeUndefined();
    await sleep(500);
    expect(requests.map((request) => request.method)).toEqual(['POST']);
  });

  it('resumes after a saved id and location (a reload): the rest of the answer, nothing repeated', async () => {
    const message = 'Resume me after a reload';
    const expected = await fullAnswer(message);
    const options = await optionsOf(user('reload'), []);
    const first = postStream<ChatEvents>(`${server.url}/chat`, { message }, options);
    // The page goes away after a few tokens: its loop stops, and so does its request.
    const before = await readAll(first, (sofar) => sofar.tokens.length === 4);
    expect(before.tokens).toHaveLength(4);
    const saved = { url: first.resumeUrl!, lastEventId: first.lastEventId! };

    const requests: SentRequest[] = [];
    const rest = resumeStream<ChatEvents>(saved.url, saved.lastEventId, { ...options, fetch: recordingFetch(requests) });
    const after = await readAll(rest);
    expect(after.error).toBeUndefined();
    expect([...before.tokens, ...after.tokens]).toEqual(expected);
    expect(after.events.map((event) => event.type)).not.toContain('chat');
    for (const event of after.events) expect(compareIds(event.id, saved.lastEventId)).toBeGreaterThan(0);
    expect(requests.map((request) => [request.method, request.headers.get('last-event-id')])).toEqual([['GET', saved.lastEventId]]);
  });

  it('cancel() stops the answer on the server, and the stream ends with the app\'s cancelled', async () => {
    const message = 'Cancel this answer';
    const expected = await fullAnswer(message);
    const requests: SentRequest[] = [];
    const answer = postStream<ChatEvents>(`${server.url}/chat`, { message }, await optionsOf(user('cancel'), requests));
    let cancelled = false;
    const read = await readAll(answer, (sofar) => {
      if (sofar.tokens.length === 3 && !cancelled) {
        cancelled = true;
        void answer.cancel();
      }
      return false;
    });
    expect(read.error).toBeUndefined();
    expect(read.events.at(-1)!.type).toBe('cancelled');
    expect(read.tokens.length).toBeLessThan(expected.length);
    expect(read.tokens).toEqual(expected.slice(0, read.tokens.length));
    expect(requests.map((request) => request.method)).toEqual(['POST', 'DELETE']);
    expect(requests[1].url).toBe(answer.resumeUrl);
  });

  it('throws a refused POST (400) with its status and message', async () => {
    const requests: SentRequest[] = [];
    const read = await readAll(postStream(`${server.url}/chat`, { message: '' }, await optionsOf(user('bad'), requests)));
    expect(read.error).toBeInstanceOf(SseRequestError);
    expect(read.error).toMatchObject({ status: 400 });
    expect((read.error as Error).message).toMatch(/message/);
    expect(requests).toHaveLength(1);
  });

  it('after a 401, sends the POST again with a refreshed token (nothing had started), and reads one answer', async () => {
    const userId = user('refresh');
    const [fresh, expired] = await Promise.all([signToken(userId), signToken(userId, { expiresInSeconds: -60 })]);
    const requests: SentRequest[] = [];
    const asked: boolean[] = [];
    const answer = postStream<ChatEvents>(
      `${server.url}/chat`,
      { message: 'Refresh first' },
      { getToken: ({ refresh }) => (asked.push(refresh), refresh ? fresh : expired), fetch: recordingFetch(requests) },
    );
    const read = await readAll(answer);
    expect(read.error).toBeUndefined();
    expect(read.events.filter((event) => event.type === 'chat')).toHaveLength(1);
    expect(read.events.at(-1)!.type).toBe('done');
    expect(asked).toEqual([false, true]);
    expect(requests.map((request) => [request.method, request.status])).toEqual([
      ['POST', 401],
      ['POST', 200],
    ]);
  });
});

describe(`POST streams and the connection limit (${TEST_ADAPTER})`, () => {
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemoServer({ maxConnectionsPerUser: 1, retryAfterSeconds: 1, chatTokenDelayMs: 10 });
  });
  afterAll(() => server?.close());

  it('sends a POST refused with 429 again only after its Retry-After, and reads the one answer it starts', async () => {
    const userId = user('limited');
    const token = await signToken(userId);
    const elsewhere = await rawConnect(server.url, token);
    expect(elsewhere.status).toBe(200);
    const requests: SentRequest[] = [];
    const answer = postStream<ChatEvents>(`${server.url}/chat`, { message: 'Wait your turn' }, { getToken: () => token, fetch: recordingFetch(requests) });
    const reading = readAll(answer);
    await eventually(() => requests[0]?.status === 429, 5000, 'the 429');
    elsewhere.close();
    const read = await reading;

    expect(read.error).toBeUndefined();
    expect(read.events.at(-1)!.type).toBe('done');
    expect(requests.map((request) => [request.method, request.status])).toEqual([
      ['POST', 429],
      ['POST', 200],
    ]);
    expect(requests[1].sentAt - requests[0].answeredAt!).toBeGreaterThanOrEqual(1000);
  });
});
