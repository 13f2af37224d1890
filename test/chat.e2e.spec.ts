import { jest } from '@jest/globals';
import { ChatStream, expectCompleted } from './harness/chat-stream.js';
import { startDemoServer, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { compareIds, EVENT_ID, expectIncreasing } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { blocksOf, RawStream } from './harness/raw-stream.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(30_000);

/** The form of an answer id: a UUID (the library's job id). */
const ANSWER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** DELETE /chat/:id; resolves to the status and the body. */
async function cancel(server: DemoServer, token: string | undefined, answerId: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`${server.url}/chat/${encodeURIComponent(answerId)}`, {
    method: 'DELETE',
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

/** A refusal before any stream: the status, a JSON body with it, and not one event. */
function expectJsonRefusal(stream: ChatStream, status: number): void {
  expect(stream.status).toBe(status);
  expect(stream.headers['content-type']).toMatch(/^application\/json/);
  expect(stream.raw).not.toContain('event:');
  expect((JSON.parse(stream.raw) as { statusCode: number }).statusCode).toBe(status);
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
    expect(stream.ending?.type).toBe('done');
    fullAnswers.set(message, stream.tokens);
    return stream.tokens;
  }

  it('streams sse.resume (id, retry:, url), chat, the tokens, done, then sse.close completed, and ends', async () => {
    const message = 'What are Server-Sent Events?';
    const stream = track(await ChatStream.ask(server, await signToken(user('asker')), { message }));
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await stream.finished();

    const types = stream.types;
    expect(types.slice(0, 2)).toEqual(['sse.resume', 'chat']);
    expect(types.slice(-2)).toEqual(['done', 'sse.close']);
    expect(types.slice(2, -2).every((type) => type === 'token')).toBe(true);
    expect(types.length).toBeGreaterThan(10);
    expectCompleted(stream);

    // chat: its id; done: the same id; sse.resume: where to resume it, by that id.
    const answerId = stream.answerId;
    expect(answerId).toMatch(ANSWER_ID);
    expect(JSON.parse(stream.ending!.data)).toEqual({ id: answerId });
    expect(JSON.parse(stream.events[0].data)).toEqual({ url: `/chat/${answerId}` });
    expect(stream.resume.id).toMatch(EVENT_ID);

    // Only the first write carries retry:, and it is the sse.resume event, with its id.
    const blocks = blocksOf(stream.raw);
    expect(stream.raw).toMatch(/^\n*event: sse\.resume\n/);
    expect(blocks[0]).toEqual(expect.arrayContaining([`id: ${stream.resume.id}`, expect.stringMatching(/^retry: \d+$/)]));
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
      expectJsonRefusal(stream, 400);
    });

    it('answers 401 without a token, and to a token in the cookie only (a POST is never cookie-authenticated)', async () => {
      const anonymous = track(await ChatStream.ask(server, undefined, { message: 'hi' }));
      await anonymous.finished();
      expectJsonRefusal(anonymous, 401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer /);

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
      expect((await cancel(server, undefined, 'nothing')).status).toBe(401);
    });
  });

  describe('resume', () => {
    it('after Last-Event-ID sends exactly the remaining tokens, then done and sse.close, repeating nothing', async () => {
      const message = 'Tell me about resuming';
      const expected = await fullAnswer(message);
      const token = await signToken(user('resumer'));

      const first = track(await ChatStream.ask(server, token, { message }));
      await first.until(() => first.ofType('token').length >= 5);
      first.close();
      await first.finished();
      const received = first.events.slice();
      const lastId = received.at(-1)!.id!;
      const partOne = received.filter((event) => event.type === 'token').map((event) => JSON.parse(event.data) as string);
      expect(partOne.length).toBeGreaterThanOrEqual(5);
      expect(partOne.length).toBeLessThan(expected.length);

      // At the location the stream named.
      const second = track(await ChatStream.resumeAt(server, token, first.resume.url, lastId));
      expect(second.status).toBe(200);
      await second.finished();
      const types = second.types;
      expect(types.slice(-2)).toEqual(['done', 'sse.close']);
      expect(types.slice(0, -2).every((type) => type === 'token')).toBe(true);
      expectCompleted(second);
      // Nothing at or before the cursor comes again.
      for (const event of second.events) expect(compareIds(event.id!, lastId)).toBeGreaterThan(0);
      expectIncreasing(second.events.map((event) => event.id));
      // The resumed response has its own first write, which carries retry:.
      expect(blocksOf(second.raw)[0].some((line) => line.startsWith('retry: '))).toBe(true);

      expect([...partOne, ...second.tokens]).toEqual(expected);
      expect(partOne.join('') + second.text).toBe(expected.join(''));
    });

    it('with the id of sse.resume as Last-Event-ID replays everything after it: chat, every token, done, sse.close', async () => {
      const message = 'Resume from the very start';
      const expected = await fullAnswer(message);
      const token = await signToken(user('from-start'));
      const first = track(await ChatStream.ask(server, token, { message }));
      // Broken before the model wrote anything, the POST's only event is where to resume.
      await first.until(() => first.events.length >= 1);
      const { id, url } = first.resume;
      first.close();

      const second = track(await ChatStream.resumeAt(server, token, url, id));
      expect(second.status).toBe(200);
      await second.finished();
      expect(second.types[0]).toBe('chat');
      expect(second.ending?.type).toBe('done');
      expect(second.tokens).toEqual(expected);
      expectCompleted(second);
      for (const event of second.events) expect(compareIds(event.id!, id)).toBeGreaterThan(0);
    });

    it('without Last-Event-ID replays everything after sse.resume: the very events the POST got', async () => {
      const message = 'Replay everything please';
      const expected = await fullAnswer(message);
      const token = await signToken(user('replayer'));

      const first = track(await ChatStream.ask(server, token, { message }));
      await first.until(() => first.ofType('token').length >= 3);
      const second = track(await ChatStream.resume(server, token, first.answerId));
      expect(second.status).toBe(200);
      await Promise.all([first.finished(), second.finished()]);

      expect(second.tokens).toEqual(expected);
      expect(first.tokens).toEqual(expected);
      // Both readers saw the very same events, sse.close included.
      expect(second.events).toEqual(first.events.slice(1));
      expectCompleted(second);
    });

    it('after the answer has finished, replays what is left and ends with sse.close; from the sse.close itself, just that', async () => {
      const token = await signToken(user('late'));
      const first = track(await ChatStream.ask(server, token, { message: 'Finish before I come back' }));
      await first.finished();
      expectCompleted(first);
      const lastToken = first.ofType('token').at(-1)!;

      const rest = track(await ChatStream.resume(server, token, first.answerId, lastToken.id));
      await rest.finished();
      expect(rest.events).toEqual(first.events.slice(-2));
      expectCompleted(rest);

      // A client that ignores sse.close and reconnects after it is told the same, at once.
      const again = track(await ChatStream.resume(server, token, first.answerId, first.last!.id));
      await again.finished();
      expect(again.status).toBe(200);
      expect(again.events).toEqual([first.last]);
      expect(blocksOf(again.raw)[0].some((line) => line.startsWith('retry: '))).toBe(true);
    });

    it('gives another user 404 JSON for the answer, on GET and on DELETE; an unknown id too', async () => {
      const owner = await signToken(user('owner'));
      const stranger = await signToken(user('stranger'));
      const stream = track(await ChatStream.ask(server, owner, { message: 'Mine only' }));
      await stream.until(() => stream.ofType('chat').length > 0);
      const answerId = stream.answerId;

      const resume = track(await ChatStream.resume(server, stranger, answerId));
      await resume.finished();
      expectJsonRefusal(resume, 404);

      const refused = await cancel(server, stranger, answerId);
      expect(refused.status).toBe(404);
      expect(refused.type).toMatch(/^application\/json/);
      expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 404 });

      // An unknown id is a 404 for its would-be owner too, whatever its form.
      for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', `${answerId}x`]) {
        const unknown = track(await ChatStream.resume(server, owner, id));
        await unknown.finished();
        expectJsonRefusal(unknown, 404);
        expect((await cancel(server, owner, id)).status).toBe(404);
      }

      // The stranger's attempts did not disturb the owner's answer.
      await stream.finished();
      expect(stream.ending?.type).toBe('done');
      expectCompleted(stream);
    });
  });

  it('ends with an error event carrying a message when the model fails mid-answer ("#fail"), then sse.close', async () => {
    const stream = track(await ChatStream.ask(server, await signToken(user('failer')), { message: 'Please #fail now' }));
    expect(stream.status).toBe(200);
    await stream.finished();
    const types = stream.types;
    expect(types.slice(0, 2)).toEqual(['sse.resume', 'chat']);
    expect(types.slice(-2)).toEqual(['error', 'sse.close']);
    expect(types).not.toContain('done');
    expect(stream.ofType('token').length).toBeGreaterThan(0);
    const error = JSON.parse(stream.ending!.data) as { id: string; message: string };
    expect(error.id).toBe(stream.answerId);
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    expectIncreasing(stream.events.map((event) => event.id));
    expectCompleted(stream);
  });

  it('on DELETE /chat/:id mid-answer answers 204, ends the stream with cancelled and sse.close, and writes no more tokens', async () => {
    const message = 'Cancel me midway';
    const expected = await fullAnswer(message);
    const token = await signToken(user('canceller'));
    const stream = track(await ChatStream.ask(server, token, { message }));
    await stream.until(() => stream.ofType('token').length >= 3);

    const answerId = stream.answerId;
    const cancelled = await cancel(server, token, answerId);
    expect(cancelled.status).toBe(204);
    expect(cancelled.body).toBe('');
    await stream.finished();
    expect(stream.ending?.type).toBe('cancelled');
    expect(JSON.parse(stream.ending!.data)).toEqual({ id: answerId });
    expectCompleted(stream);
    const written = stream.tokens;
    expect(written.length).toBeLessThan(expected.length);
    expect(written).toEqual(expected.slice(0, written.length));

    // Long enough for the model to have written more, had it not stopped.
    await sleep(500);
    const resumed = track(await ChatStream.resume(server, token, answerId));
    await resumed.finished();
    expect(resumed.status).toBe(200);
    expect(resumed.ending?.type).toBe('cancelled');
    expect(resumed.ofType('done')).toEqual([]);
    expect(resumed.tokens).toEqual(written);
    expectCompleted(resumed);
    // Cancelling what has finished changes nothing, and is not an error.
    expect((await cancel(server, token, answerId)).status).toBe(204);
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
    expect(resumed.ending?.type).toBe('cancelled');
    expect(resumed.ofType('done')).toEqual([]);
    expectCompleted(resumed);
    const written = resumed.tokens;
    expect(written.length).toBeGreaterThanOrEqual(3);
    expect(written.join('')).not.toMatch(/without repeating a word\.$/);
  });

  it('keeps an answer going past the grace period while a resumed reader holds it, after the POST went away', async () => {
    const token = await signToken(user('stayer'));
    const first = track(await ChatStream.ask(tight, token, { message: 'Keep going for the reader' }));
    await first.until(() => first.ofType('token').length >= 2);
    const { url } = first.resume;
    first.close();
    await first.finished();
    // One stream per user here: the POST's slot is freed first.
    await eventually(async () => (await tight.stats()).streams === 0, 3000, "the POST's slot to be freed");
    const second = track(await ChatStream.resumeAt(tight, token, url, first.last!.id));
    expect(second.status).toBe(200);
    // The answer takes several grace periods to write: it would have been cancelled without a reader.
    await second.finished();
    expect(second.ending?.type).toBe('done');
    expect([...first.tokens, ...second.tokens].join('')).toMatch(/without repeating a word\.$/);
    expectCompleted(second);
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
    expect(chat.ending?.type).toBe('done');
    expectCompleted(chat);
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
