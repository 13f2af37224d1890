import { request } from 'node:http';
import { Controller, Get, type MessageEvent, Module, Query } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { CurrentPrincipal, LastEventId, NotificationService, type Principal, SseModule, SseRoute } from '../src/sse/index.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { listenTestApp, type RunningApp } from './harness/test-app.js';
import { TEST_ADAPTER } from './harness/demo-server.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * An asynchronous `canReadTopic`, as a database lookup would be: decided
 * before the stream begins, so that a refusal is a 403 with JSON and a failure
 * or a check that takes too long a 503 with Retry-After, never a stream that
 * has already begun; the connection slot is released whatever the outcome.
 */

const TIMEOUT_MS = 400;
const RETRY_AFTER = 7;

/** The "database": who is a member of which room, answered after a round trip. */
const members = new Map<string, Set<string>>([['room-1', new Set(['alice'])]]);
/** Checks of the `stuck` topic, waiting to be answered by a test. */
const stuck: Array<(allowed: boolean) => void> = [];
/** How many checks have been asked, per topic. */
const asked = new Map<string, number>();

async function lookup(principal: Principal, topic: string): Promise<boolean> {
  await sleep(20);
  return members.get(topic)?.has(principal.userId) ?? false;
}

function canReadTopic(principal: Principal, topic: string): boolean | Promise<boolean> {
  asked.set(topic, (asked.get(topic) ?? 0) + 1);
  if (topic === 'public') return true;
  if (topic === 'closed') return false;
  if (topic === 'broken') return sleep(10).then(() => Promise.reject(new Error('connection refused')));
  if (topic === 'throws') throw new Error('the pool is exhausted');
  if (topic === 'stuck') return new Promise((resolve) => stuck.push(resolve));
  return lookup(principal, topic);
}

function topicsOf(raw: unknown): string[] {
  return typeof raw === 'string' ? raw.split(',').filter(Boolean) : [];
}

/** GET /sse: the stream as the service gives it. */
@Controller()
class RoomsController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute('sse')
  rooms(@CurrentPrincipal() principal: Principal, @Query('topics') topics: unknown, @LastEventId() lastEventId?: string): Observable<MessageEvent> {
    return this.notifications.stream(principal, { topics: topicsOf(topics), lastEventId });
  }

  @Get('health')
  health(): string {
    return 'ok';
  }
}

/** GET /piped/sse: the same stream, piped through an operator as an application may. */
@Controller('piped')
class PipedRoomsController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute('sse')
  piped(@CurrentPrincipal() principal: Principal, @Query('topics') topics: unknown): Observable<MessageEvent> {
    return this.notifications.stream(principal, { topics: topicsOf(topics) }).pipe(map((message) => message));
  }
}

@Module({
  imports: [
    SseModule.forRoot({
      auth: { jwt: { secret: TEST_JWT_SECRET } },
      canReadTopic,
      canReadTopicTimeoutMs: TIMEOUT_MS,
      retryAfterSeconds: RETRY_AFTER,
    }),
  ],
  controllers: [RoomsController, PipedRoomsController],
})
class RoomsModule {}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  elapsedMs: number;
}

/** GET with the token, bounded in time; a stream's body is not waited for. */
async function call(url: string, token: string): Promise<Answer> {
  const started = Date.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
    const streaming = res.headers.get('content-type')?.startsWith('text/event-stream');
    const body = streaming ? '' : await res.text();
    controller.abort();
    return { status: res.status, headers: res.headers, body, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function expectJson(answer: Answer, status: number, message: RegExp): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(JSON.parse(answer.body)).toMatchObject({ statusCode: status, message: expect.stringMatching(message) });
}

afterEach(closeOpened);

describe(`asynchronous canReadTopic (${TEST_ADAPTER})`, () => {
  let running: RunningApp;
  let notifications: NotificationService;
  let alice: string;

  beforeAll(async () => {
    running = await listenTestApp(RoomsModule);
    notifications = running.app.get(NotificationService);
    alice = await signToken('alice');
  });
  afterAll(() => running?.app.close());

  /** No slot held and no stream open, once the server has seen every response close. */
  async function expectNothingHeld(): Promise<void> {
    await eventually(async () => (await notifications.stats()).streams === 0, 3000, 'every slot to be released');
    expect(notifications.local()).toEqual({ streams: 0, users: 0 });
  }

  for (const route of ['', '/piped']) {
    describe(`GET ${route}/sse`, () => {
      it('opens the stream once the lookup allows it, and delivers the topic', async () => {
        const stream = track(await TestStream.open(`${running.url}${route}`, alice, { types: ['note'], query: 'topics=room-1,public' }));
        const id = await notifications.publishToTopic('room-1', 'note', 'for members');
        await stream.waitForType('note');
        expect(stream.ofType('note').map((event) => event.id)).toEqual([id]);
        expect(stream.ofType('sse.ready')).toHaveLength(1);
      });

      it('answers 403 with JSON, before any stream, when the lookup refuses; the slot is released', async () => {
        const answer = await call(`${running.url}${route}/sse?topics=public,room-1`, await signToken('bob'));
        expectJson(answer, 403, /topic "room-1"/);
        await expectNothingHeld();
      });

      it('answers 503 with Retry-After and JSON when the lookup fails; the slot is released', async () => {
        const answer = await call(`${running.url}${route}/sse?topics=room-1,broken`, alice);
        expectJson(answer, 503, /retry shortly/);
        expect(answer.headers.get('retry-after')).toBe(String(RETRY_AFTER));
        expect(answer.body).not.toContain('connection refused');
        await expectNothingHeld();
      });

      it('answers 503 with Retry-After when the check throws', async () => {
        const answer = await call(`${running.url}${route}/sse?topics=room-1,throws`, alice);
        expectJson(answer, 503, /retry shortly/);
        expect(answer.headers.get('retry-after')).toBe(String(RETRY_AFTER));
        await expectNothingHeld();
      });
    });
  }

  it(`answers 503 with Retry-After after canReadTopicTimeoutMs (${TIMEOUT_MS} ms) to a lookup that does not answer, and opens nothing when it answers later`, async () => {
    const answer = await call(`${running.url}/sse?topics=stuck`, alice);
    expectJson(answer, 503, /retry shortly/);
    expect(answer.headers.get('retry-after')).toBe(String(RETRY_AFTER));
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    await expectNothingHeld();
    // The lookup answers at last: too late to open anything.
    stuck.splice(0).forEach((resolve) => resolve(true));
    await sleep(50);
    await expectNothingHeld();
  });

  it('releases the slot of a client that leaves while its lookup is pending, and opens nothing when it is decided', async () => {
    const req = request(`${running.url}/sse?topics=stuck`, { headers: { Authorization: `Bearer ${alice}` } });
    req.on('error', () => undefined);
    req.end();
    await eventually(() => stuck.length === 1, 2000, 'the lookup to be pending');
    // The slot is taken while the lookup runs; the headers wait for it.
    expect((await notifications.stats()).streams).toBe(1);
    req.destroy();
    await expectNothingHeld();
    stuck.splice(0).forEach((resolve) => resolve(true));
    await sleep(50);
    await expectNothingHeld();
  });

  it('refuses a synchronous refusal at once, even beside topics still being looked up', async () => {
    const answer = await call(`${running.url}/sse?topics=room-1,closed`, alice);
    expectJson(answer, 403, /topic "closed"/);
    await expectNothingHeld();
  });

  it('refuses the module\'s own topics (a job\'s) with 403, whatever canReadTopic says', async () => {
    const answer = await call(`${running.url}/sse?topics=sse.job:00000000-0000-4000-8000-000000000000`, alice);
    expectJson(answer, 403, /module's own/);
    expect(asked.has('sse.job:00000000-0000-4000-8000-000000000000')).toBe(false);
  });

  it('lets a real EventSource see the 403 and stop, without retrying', async () => {
    const stream = track(new TestStream(running.url, await signToken('bob'), { query: 'topics=room-1' }));
    await stream.until(() => stream.errors.length > 0);
    expect(stream.errors[0].code).toBe(403);
    expect(stream.source.readyState).toBe(stream.source.CLOSED);
  });

  it('still serves after all of that', async () => {
    expect((await call(`${running.url}/health`, alice)).status).toBe(200);
  });
});
