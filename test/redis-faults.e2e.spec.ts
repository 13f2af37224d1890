import { createHook } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { publishId } from './harness/admin-api.js';
import { compareIds } from './harness/event-ids.js';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { rawConnect, type RawConnect } from './harness/raw-stream.js';
import { deleteKeys, freePort, keysUnder, probeClient, redisAnswers, spawnRedisServer } from './harness/redis.js';
import { lossOf, TestStream, type ReceivedEvent, type TestStreamOptions } from './harness/sse-client.js';
import { Child, listeningUrl, spawnDemo as spawnApp } from './harness/demo-process.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep, within } from './harness/waiting.js';

/**
 * The Redis backplane when things go wrong: an instance killed without
 * cleanup (its slots expire; its clients resume elsewhere and lose nothing
 * acknowledged), Redis restarted under a live instance (keeping its data:
 * nothing acknowledged is lost; losing it: the loss is reported), publishes
 * and stats answered 503 with Retry-After while it is away, Redis unreachable
 * at startup (one line). Instances run in this process or as `node
 * dist/main.js` children (build first: `npm run build`); extra Redis servers
 * are started with `redis-server` on spare ports.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREFIX = `sse-test-${process.pid}-${Date.now()}-faults:`;
const TYPE = 'note';
const SETTLE_MS = 250;
const LEASE_TTL_MS = 1500;

/** What was measured, printed once at the end (these are observations, not assertions). */
const measured: Record<string, unknown> = {};

function publish(server: DemoServer, target: Record<string, unknown>, data: unknown = null): Promise<string> {
  return server.publishId({ ...target, type: TYPE, data });
}

function notes(stream: TestStream): ReceivedEvent[] {
  return stream.ofType(TYPE);
}

function startRedisServer(port: number, dataDir?: string): Child {
  return new Child(spawnRedisServer(port, undefined, dataDir));
}

/** A request's answer while Redis is away: bounded, so that a hung request fails the test instead of stalling it. */
async function answerWhileAway(url: string, init: RequestInit = {}): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

/** SHUTDOWN NOSAVE: Redis goes away and forgets everything. */
async function shutdownRedis(port: number, server: Child): Promise<void> {
  const admin = probeClient(`redis://127.0.0.1:${port}`);
  await admin.connect();
  await admin.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  admin.disconnect();
  await server.exited;
}

describe('Redis backplane faults', () => {
  let redis: Redis;
  const servers: DemoServer[] = [];
  const children: Child[] = [];
  const streams: TestStream[] = [];
  const raws: RawConnect[] = [];

  async function startServer(overrides: Parameters<typeof startDemoServer>[0]): Promise<DemoServer> {
    const server = await startDemoServer(overrides);
    servers.push(server);
    return server;
  }

  function track(child: Child): Child {
    children.push(child);
    return child;
  }

  async function open(baseUrl: string, userId: string, options: TestStreamOptions = {}): Promise<TestStream> {
    const stream = await TestStream.open(baseUrl, await signToken(userId), { types: [TYPE], ...options });
    streams.push(stream);
    return stream;
  }

  async function raw(baseUrl: string, userId: string): Promise<RawConnect> {
    const connect = await rawConnect(baseUrl, await signToken(userId), 5000);
    raws.push(connect);
    return connect;
  }

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterEach(async () => {
    streams.splice(0).forEach((stream) => stream.close());
    raws.splice(0).forEach((connect) => connect.close());
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await Promise.all(children.splice(0).map((child) => child.kill('SIGKILL')));
  });

  afterAll(async () => {
    try {
      await deleteKeys(redis, PREFIX);
      expect(await keysUnder(redis, PREFIX)).toEqual([]);
    } finally {
      redis.disconnect();
    }
    if (process.env.SSE_TEST_FIGURES) console.log(`redis-faults measurements: ${JSON.stringify(measured, null, 2)}`);
  }, 10_000);

  it('an instance killed without cleanup (SIGKILL) frees its slots within the lease ttl', async () => {
    const local = await startServer({
      redisUrl: REDIS_URL,
      redisKeyPrefix: PREFIX,
      redisLeaseTtlMs: LEASE_TTL_MS,
      maxConnectionsPerUser: 2,
    });
    const child = track(
      spawnApp({
        REDIS_URL,
        SSE_REDIS_PREFIX: PREFIX,
        SSE_REDIS_LEASE_TTL_MS: String(LEASE_TTL_MS),
        SSE_MAX_CONNECTIONS_PER_USER: '2',
        PORT: '0',
      }),
    );
    const [, port] = await child.waitFor(/Listening on http:\/\/localhost:(\d+)/, 10_000);
    const childUrl = `http://127.0.0.1:${port}`;

    const onChild = [await open(childUrl, 'ulla'), await open(childUrl, 'ulla')];
    // One cluster: an event published in this process reaches the child's streams.
    const id = await publish(local, { userId: 'ulla' }, 'hello child');
    for (const stream of onChild) expect((await stream.waitForType(TYPE, 1)).map((e) => e.id)).toEqual([id]);

    const refused = await raw(local.url, 'ulla');
    expect(refused.status).toBe(429);
    expect(refused.body).toContain('Too many connections');
    const before = await local.stats();
    expect(before).toMatchObject({ streams: 2, users: 1 });
    expect(before.instances).toHaveLength(1);
    expect(before.instances[0].streams).toBe(2);

    await child.kill('SIGKILL');
    const killedAt = Date.now();
    onChild.forEach((stream) => stream.close());
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });

    await eventually(
      async () => (await raw(local.url, 'ulla')).status === 200,
      LEASE_TTL_MS + 4500,
      "the dead instance's slots to expire",
    );
    measured.slotAdmittedAfterSigkillMs = Date.now() - killedAt;
    // Its two leases may expire a few ms apart: then both are gone from the stats, and the
    // stream just admitted here is the only one counted.
    await eventually(
      async () => (await local.stats()).instances.every((instance) => instance.id !== before.instances[0].id),
      LEASE_TTL_MS + 1000,
      'the dead instance to leave the stats',
    );
    measured.deadInstanceGoneFromStatsMs = Date.now() - killedAt;
    const after = await local.stats();
    expect(after).toMatchObject({ streams: 1, users: 1 });
    expect(after.instances).toHaveLength(1);
  });

  it('Redis restarted (data lost) under a live instance: no crash, quick errors while away, then events or sse.loss, never silence', async () => {
    const port = await freePort();
    let redisServer = track(startRedisServer(port));
    await eventually(() => redisAnswers(`redis://127.0.0.1:${port}`), 5000, 'the extra Redis to answer');
    const server = await startServer({
      redisUrl: `redis://127.0.0.1:${port}`,
      redisKeyPrefix: PREFIX,
      redisLeaseTtlMs: LEASE_TTL_MS,
    });
    const stream = await open(server.url, 'rob');
    const first = await publish(server, { userId: 'rob' }, 1);
    await stream.waitForType(TYPE, 1);

    await shutdownRedis(port, redisServer);

    // Publishing while Redis is away answers an error at once, not a hung request.
    const started = Date.now();
    const res = await fetch(`${server.url}/notifications`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: 'rob', type: TYPE, data: 'while away' }),
      // Bounded: a hung request fails the test instead of stalling it.
      signal: AbortSignal.timeout(5000),
    });
    measured.publishWhileRedisDown = { status: res.status, ms: Date.now() - started, body: await res.text() };
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    const statsWhileAway = await answerWhileAway(`${server.url}/sse/stats`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
    expect(statsWhileAway).toMatchObject({ status: 503, retryAfter: '10' });
    expect(JSON.parse(statsWhileAway.body)).toMatchObject({ statusCode: 503 });
    // A new stream cannot take a slot: 503 with Retry-After.
    const refused = await raw(server.url, 'rob');
    measured.connectWhileRedisDown = { status: refused.status, retryAfter: refused.retryAfter, body: refused.body };
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).not.toBeNull();
    // The open stream stays open meanwhile.
    await sleep(SETTLE_MS);
    expect(stream.source.readyState).toBe(stream.source.OPEN);
    expect(stream.errors).toEqual([]);

    const restartedAt = Date.now();
    redisServer = track(startRedisServer(port));
    await eventually(() => redisAnswers(`redis://127.0.0.1:${port}`), 5000, 'the extra Redis to answer again');
    let second = '';
    await eventually(
      async () => {
        const attempt = await server.publish({ userId: 'rob', type: TYPE, data: 2 });
        if (attempt.status === 202) second = ((await attempt.json()) as { id: string }).id;
        return attempt.status === 202;
      },
      8000,
      'publishing to work again',
    );
    measured.publishWorksAgainAfterRedisRestartMs = Date.now() - restartedAt;

    // The stream that lived through the outage gets the new event, or ends and its client
    // (reconnecting with Last-Event-ID after `retry`) is told of a loss: never silence.
    await stream.until(() => notes(stream).some((e) => e.id === second) || stream.ofType('sse.loss').length > 0, 8000);
    measured.streamAcrossRestart = {
      gotEventLive: notes(stream).some((e) => e.id === second),
      ended: stream.errors.length > 0,
      losses: stream.ofType('sse.loss').map(lossOf),
    };

    // A client resuming from before the restart is told its history is gone.
    const resumed = await open(server.url, 'rob', { headers: { 'Last-Event-ID': first } });
    await sleep(SETTLE_MS);
    expect(resumed.ofType('sse.loss').map(lossOf)).toEqual([{ reason: 'restarted', lastEventId: first }]);
    expect(notes(resumed)).toEqual([]);
    const third = await publish(server, { userId: 'rob' }, 3);
    await resumed.waitForType(TYPE, 1);
    expect(notes(resumed).map((e) => e.id)).toEqual([third]);

    // No slot leaks: once everything is closed, the new Redis holds no stream.
    streams.splice(0).forEach((s) => s.close());
    raws.splice(0).forEach((r) => r.close());
    await eventually(async () => (await server.stats()).streams === 0, LEASE_TTL_MS + 3000, 'stats to reach 0');
    expect(await server.stats()).toEqual({ streams: 0, users: 0, instances: [] });
  });

  it('an instance killed mid-stream (SIGKILL): its client resumes on another, and gets every acknowledged event once, in order, with no loss', async () => {
    const local = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix: PREFIX });
    const child = track(spawnApp({ REDIS_URL, SSE_REDIS_PREFIX: PREFIX, PORT: '0' }));
    const childUrl = await listeningUrl(child);
    // The load balancer: the child while it lives, this process's instance once it is gone.
    const stream = await open(childUrl, 'kim', { route: (url) => (child.running ? url : url.replace(childUrl, local.url)) });

    // A publisher that goes on throughout, on both instances while both live; a publish in flight on the killed
    // instance is not acknowledged (it may or may not have been recorded).
    const acked: string[] = [];
    let unacknowledged = 0;
    let stop = false;
    const publisher = (async () => {
      for (let i = 0; !stop; i++) {
        const onChild = i % 2 === 1 && child.running;
        try {
          acked.push(await publishId(onChild ? childUrl : local.url, local.adminToken, { userId: 'kim', type: TYPE, data: i }, AbortSignal.timeout(5000)));
        } catch {
          if (!onChild) throw new Error('a publish on the surviving instance failed');
          unacknowledged++;
        }
        await sleep(10);
      }
    })();

    await stream.waitForType(TYPE, 10);
    await child.kill('SIGKILL');
    const atKill = acked.length;
    // The client reconnects after its retry delay, while publishing goes on.
    await stream.until(() => stream.ofType('sse.ready').length === 2, 10_000);
    await eventually(() => acked.length >= atKill + 20, 10_000, 'more publishes after the kill');
    stop = true;
    await publisher;

    await stream.until(() => acked.every((id) => notes(stream).some((event) => event.id === id)), 10_000);
    const received = notes(stream).map((event) => event.id);
    measured.sigkillMidStream = { acked: acked.length, received: received.length, unacknowledged, beforeKill: atKill };
    // Every acknowledged event arrived; nothing twice, in id order; and no loss was reported, for none happened.
    expect(received).toEqual([...new Set(received)].sort(compareIds));
    expect(acked.filter((id) => !received.includes(id))).toEqual([]);
    expect(received.length - acked.length).toBeLessThanOrEqual(unacknowledged);
    expect(stream.ofType('sse.loss')).toEqual([]);
    expect(stream.ofType('sse.close')).toEqual([]);
  });

  it('Redis restarted with its data kept: nothing acknowledged is lost, no loss is reported, and what is asked meanwhile gets 503 with Retry-After', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'sse-redis-aof-'));
    try {
      let redisServer = track(startRedisServer(port, dataDir));
      const redisUrl = `redis://127.0.0.1:${port}`;
      await eventually(() => redisAnswers(redisUrl), 5000, 'the persistent Redis to answer');
      const server = await startServer({ redisUrl, redisKeyPrefix: PREFIX });
      const stream = await open(server.url, 'ada');
      const acked = [await publish(server, { userId: 'ada' }, 1), await publish(server, { userId: 'ada' }, 2)];
      await stream.waitForType(TYPE, 2);

      // Killed outright: the append-only file, synced on every write, holds everything acknowledged.
      await redisServer.kill('SIGKILL');
      const publishing = await answerWhileAway(`${server.url}/notifications`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: 'ada', type: TYPE, data: 'while away' }),
      });
      const reading = await answerWhileAway(`${server.url}/sse/stats`, { headers: { Authorization: `Bearer ${server.adminToken}` } });
      const connecting = await answerWhileAway(`${server.url}/sse`, { headers: { Authorization: `Bearer ${await signToken('ada')}` } });
      for (const [what, answer] of Object.entries({ publishing, reading, connecting })) {
        expect({ what, status: answer.status, retryAfter: answer.retryAfter }).toEqual({ what, status: 503, retryAfter: '10' });
        expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 503 });
      }

      redisServer = track(startRedisServer(port, dataDir));
      await eventually(() => redisAnswers(redisUrl), 5000, 'the persistent Redis to answer again');
      await eventually(async () => (await server.publish({ userId: 'ada', type: 'probe', data: null })).status === 202, 10_000, 'publishing to work again');
      acked.push(await publish(server, { userId: 'ada' }, 3), await publish(server, { userId: 'ada' }, 4));

      // The stream that lived through it gets what came after, and nothing is reported lost.
      await stream.waitForType(TYPE, 4, 10_000);
      expect(notes(stream).map((event) => event.id)).toEqual(acked);
      // A client resuming from before the outage gets the rest of it, from the history that was kept.
      const resumed = await open(server.url, 'ada', { headers: { 'Last-Event-ID': acked[0] } });
      await resumed.waitForType(TYPE, 3);
      await sleep(SETTLE_MS);
      expect(notes(resumed).map((event) => event.id)).toEqual(acked.slice(1));
      for (const s of [stream, resumed]) expect(s.ofType('sse.loss')).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('Redis unreachable at startup: exit code 1 with one clear line and no stack trace', async () => {
    const port = await freePort();
    const started = Date.now();
    const child = track(spawnApp({ REDIS_URL: `redis://127.0.0.1:${port}`, SSE_REDIS_PREFIX: PREFIX, PORT: '0' }));
    const exit = await within(child.exited, 10_000, 'still running');
    measured.unreachableExitMs = Date.now() - started;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(child.output).toContain(`Redis at redis://127.0.0.1:${port} is unreachable`);
    expect(child.output).not.toMatch(/^ {4}at /m);
    // One line says it: not Nest's and then the app's own.
    const errors = child.output.split('\n').filter((line) => / ERROR /.test(line));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/ERROR \[ExceptionHandler\] RedisUnavailableError: Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(.+\); start it, or set waitForConnection/);
    expect(child.output).not.toContain('Listening on');
    measured.unreachableOutput = child.output.trim().split('\n');
  });

  it('with SSE_REDIS_WAIT=true it waits for Redis, then starts once Redis is there', async () => {
    const port = await freePort();
    const child = track(
      spawnApp({ REDIS_URL: `redis://127.0.0.1:${port}`, SSE_REDIS_PREFIX: PREFIX, SSE_REDIS_WAIT: 'true', PORT: '0' }),
    );
    await child.waitFor(/Waiting for Redis/, 5000);
    await sleep(1000);
    expect(child.running).toBe(true);
    expect(child.output).not.toContain('Listening on');

    track(startRedisServer(port));
    const [, appPort] = await child.waitFor(/Listening on http:\/\/localhost:(\d+)/, 8000);
    expect(child.output).toContain(`Connected to Redis at redis://127.0.0.1:${port}`);
    const stream = await open(`http://127.0.0.1:${appPort}`, 'wanda');
    expect(stream.ofType('sse.ready')).toHaveLength(1);
  });

  it('closing an instance leaves no timer that keeps the process alive', async () => {
    const server = await startDemoServer({ redisUrl: REDIS_URL, redisKeyPrefix: PREFIX });
    // Every timer set while the app closes, with where it was set, until it fires or is cleared.
    const pending = new Map<number, { timer: { hasRef(): boolean; _idleTimeout?: number }; setAt: string }>();
    let closing = true;
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (!closing || type !== 'Timeout') return;
        const setAt = (new Error().stack ?? '')
          .split('\n')
          .filter((line) => /node_modules\/ioredis|\/src\//.test(line))
          .slice(0, 3)
          .map((line) => line.trim().replace(/^at /, ''))
          .join(' <- ');
        pending.set(id, { timer: resource as { hasRef(): boolean }, setAt });
      },
      destroy(id) {
        pending.delete(id);
      },
    }).enable();
    try {
      await server.close();
      closing = false;
      await sleep(500);
      const left = [...pending.values()]
        .filter(({ timer }) => timer.hasRef())
        .map(({ timer, setAt }) => ({ ms: timer._idleTimeout, setAt }));
      measured.refTimersLeftAfterClose = left;
      expect(left).toEqual([]);
    } finally {
      hook.disable();
    }
  });
});
