import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { ChatStream, expectCompleted } from './harness/chat-stream.js';
import { startDemoServer, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { compareIds, expectIncreasing } from './harness/event-ids.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { connectRedis, removePrefix } from './harness/redis.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(30_000);

/**
 * The chat's resumable POST streams on two instances of the demo app sharing
 * one Redis (a key prefix of this run's own): an answer started on one is
 * resumed and cancelled on the other, with the owner check kept, and the
 * model stops where it runs.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const adapter = TEST_CONFIG.adapter;
const PREFIX = `sse-test-${process.pid}-${Date.now()}-chat-${adapter}:`;
const DELAY_MS = 40;
const GRACE_MS = 600;
/** Words of the canned answers below: an answer takes about this many times DELAY_MS. */
const WORDS = 60;
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** The built demo app in a child process of its own, on the shared Redis (build first: `npm run build`). */
async function spawnInstance(env: Record<string, string>): Promise<{ url: string; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', JWT_SECRET: TEST_JWT_SECRET, HTTP_ADAPTER: adapter, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  await eventually(() => /Listening on http:\/\/localhost:\d+/.test(output) || child.exitCode !== null, 15_000, 'the instance to listen');
  const port = /Listening on http:\/\/localhost:(\d+)/.exec(output)?.[1];
  if (!port) throw new Error(`the instance did not start:\n${output}`);
  return {
    url: `http://127.0.0.1:${port}`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function cancel(server: DemoServer, token: string, answerId: string): Promise<number> {
  const res = await fetch(`${server.url}/chat/${encodeURIComponent(answerId)}`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status;
}

afterEach(closeOpened);

describe(`chat on two instances over Redis (${adapter})`, () => {
  let redis: Redis;
  let a: DemoServer;
  let b: DemoServer;
  const user = (name: string) => `${name}-${adapter}`;

  beforeAll(async () => {
    redis = await connectRedis(REDIS_URL);
    const config = {
      redisUrl: REDIS_URL,
      redisKeyPrefix: PREFIX,
      redisLeaseTtlMs: 3000,
      chatTokenDelayMs: DELAY_MS,
      chatDetachedGraceMs: GRACE_MS,
    };
    [a, b] = await Promise.all([startDemoServer(config), startDemoServer(config)]);
  });

  afterAll(async () => {
    closeOpened();
    await Promise.all([a, b].filter(Boolean).map((server) => server.close()));
    await removePrefix(redis, PREFIX);
  }, 10_000);

  it('resumes on B, at the location and from the id of sse.resume, an answer started on A: all of it, then sse.close', async () => {
    const token = await signToken(user('roamer'));
    const first = track(await ChatStream.ask(a, token, { message: 'Started on A' }));
    await first.until(() => first.ofType('token').length >= 3);
    const { id, url } = first.resume;
    expect(url).toBe(`/chat/${first.answerId}`);

    const fromStart = track(await ChatStream.resumeAt(b, token, url, id));
    expect(fromStart.status).toBe(200);
    await Promise.all([first.finished(), fromStart.finished()]);
    // B gave everything after sse.resume: the very events A's POST got.
    expect(fromStart.events).toEqual(first.events.slice(1));
    expect(first.ending?.type).toBe('done');
    expectCompleted(first);
    expectCompleted(fromStart);
  });

  it('resumes on B after Last-Event-ID an answer broken on A: the rest, nothing repeated', async () => {
    const token = await signToken(user('broken'));
    const message = 'Broken on A, finished on B';
    const reference = track(await ChatStream.ask(b, token, { message }));
    await reference.finished();

    const first = track(await ChatStream.ask(a, token, { message }));
    await first.until(() => first.ofType('token').length >= 5);
    first.close();
    await first.finished();
    const lastId = first.last!.id!;

    const rest = track(await ChatStream.resumeAt(b, token, first.resume.url, lastId));
    expect(rest.status).toBe(200);
    await rest.finished();
    for (const event of rest.events) expect(compareIds(event.id!, lastId)).toBeGreaterThan(0);
    expectIncreasing(rest.events.map((event) => event.id));
    expect([...first.tokens, ...rest.tokens]).toEqual(reference.tokens);
    expect(rest.ending?.type).toBe('done');
    expectCompleted(rest);
  });

  it("DELETE on B stops the model on A: A's stream ends with cancelled and sse.close, and no token is written after", async () => {
    const token = await signToken(user('stopper'));
    const stream = track(await ChatStream.ask(a, token, { message: 'Stop me from the other instance' }));
    await stream.until(() => stream.ofType('token').length >= 3);

    expect(await cancel(b, token, stream.answerId)).toBe(204);
    await stream.finished();
    expect(stream.ending?.type).toBe('cancelled');
    expectCompleted(stream);
    expect(stream.tokens.length).toBeLessThan(WORDS / 2);

    // Had the model gone on, it would have written more by now: the history holds what the stream got.
    await sleep(10 * DELAY_MS);
    const replay = track(await ChatStream.resume(b, token, stream.answerId));
    await replay.finished();
    expect(replay.events).toEqual(stream.events.slice(1));
  });

  it('keeps the owner check on the other instance: 404 JSON for another user on GET and DELETE, and the answer goes on', async () => {
    const owner = await signToken(user('owner'));
    const stranger = await signToken(user('stranger'));
    const stream = track(await ChatStream.ask(a, owner, { message: 'Only mine, on any instance' }));
    await stream.until(() => stream.ofType('chat').length > 0);

    const resume = track(await ChatStream.resume(b, stranger, stream.answerId));
    await resume.finished();
    expect(resume.status).toBe(404);
    expect(resume.headers['content-type']).toMatch(/^application\/json/);
    expect(resume.raw).not.toContain('event:');
    expect(await cancel(b, stranger, stream.answerId)).toBe(404);
    // An id no instance knows.
    expect(await cancel(b, owner, '00000000-0000-4000-8000-000000000000')).toBe(404);

    await stream.finished();
    expect(stream.ending?.type).toBe('done');
  });

  it('replays on B an answer that finished on A, ending with sse.close', async () => {
    const token = await signToken(user('later'));
    const first = track(await ChatStream.ask(a, token, { message: 'Done before the resume' }));
    await first.finished();
    const replay = track(await ChatStream.resume(b, token, first.answerId, first.ofType('token')[2].id));
    await replay.finished();
    expect(replay.events).toEqual(first.events.slice(first.events.indexOf(first.ofType('token')[3])));
    expectCompleted(replay);
  });

  it('counts a reader on B as a reader of the job on A: the answer outlives the grace period while B reads, and is cancelled once B goes too', async () => {
    const token = await signToken(user('handover'));
    const first = track(await ChatStream.ask(a, token, { message: 'Hand me over to B' }));
    await first.until(() => first.ofType('token').length >= 2);
    first.close();
    await first.finished();

    const onB = track(await ChatStream.resume(b, token, first.answerId, first.last!.id));
    // Several grace periods pass while B reads: without B counted on A, the job would be cancelled by now.
    await sleep(3 * GRACE_MS);
    expect(onB.ofType('cancelled')).toEqual([]);
    const tokensSoFar = onB.tokens.length;
    expect(tokensSoFar).toBeGreaterThan(0);
    onB.close();
    await onB.finished();

    // With no reader anywhere, A cancels it after the grace period, long before the answer would be done.
    // (Watched in the shared registry: a resume would be a reader itself.)
    await eventually(
      async () => (await redis.hget(`${PREFIX}job:${first.answerId}`, 'state')) === 'cancelled',
      WORDS * DELAY_MS,
      'the job to be cancelled on A',
    );
    const replay = track(await ChatStream.resume(b, token, first.answerId));
    await replay.finished();
    expect(replay.ending?.type).toBe('cancelled');
    expect(replay.ofType('done')).toEqual([]);
    expect(replay.tokens.length).toBeGreaterThanOrEqual(first.tokens.length + tokensSoFar);
    expectCompleted(replay);
  });

  it('closes an answer whose instance died mid-answer once its lease lapses: readers on B end with sse.close, nothing hangs', async () => {
    const leaseMs = 1000;
    const c = await spawnInstance({ REDIS_URL, SSE_REDIS_PREFIX: PREFIX, SSE_REDIS_LEASE_TTL_MS: String(leaseMs), CHAT_TOKEN_DELAY_MS: '150' });
    const token = await signToken(user('orphan'));
    let killed = false;
    try {
      const first = track(await ChatStream.ask(c, token, { message: 'My instance is about to die' }));
      await first.until(() => first.ofType('token').length >= 2);
      // A second reader, on B, from the start.
      const onB = track(await ChatStream.resume(b, token, first.answerId));
      await onB.until(() => onB.ofType('token').length >= 2);
      await c.kill();
      killed = true;
      const key = `${PREFIX}job:${first.answerId}`;
      await eventually(async () => Number(await redis.hget(key, 'live')) < Date.now(), 3 * leaseMs, 'the lease to lapse');

      // The next instance asked about it (a reconnect to A) closes it: both readers end.
      const resumed = track(await ChatStream.resume(a, token, first.answerId, first.last!.id));
      await Promise.all([resumed.finished(), onB.finished()]);
      expectCompleted(resumed);
      expectCompleted(onB);
      expect(onB.ofType('done')).toEqual([]);
      expect(await redis.hget(key, 'state')).toBe('failed');
      // What was written before the death is all there, once.
      expect([...first.tokens, ...resumed.tokens]).toEqual(onB.tokens);
      expect(onB.tokens.length).toBeGreaterThanOrEqual(2);
    } finally {
      if (!killed) await c.kill();
    }
  });
});
