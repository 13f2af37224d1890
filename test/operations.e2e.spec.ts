import type { INestApplication } from '@nestjs/common';
import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { createDemoApp } from '../src/demo/demo.app.js';
import { publishId } from './harness/admin-api.js';
import { startDemoServer, TEST_ADAPTER, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { closeClient, deleteKeys, freePort, keysUnder, probeClient, redisAnswers, spawnRedisServer } from './harness/redis.js';
import { type LogLine, RecordingLogger, slowClientDrops } from './harness/recording-logger.js';
import { TestStream, type TestStreamOptions } from './harness/sse-client.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually, within } from './harness/waiting.js';

/**
 * What an operator sees of the demo app: Prometheus metrics (GET /metrics),
 * a terminus health check (GET /health) that follows the Redis backplane, the
 * OpenAPI document (GET /docs/openapi.json, /docs), and the logs, which must
 * carry a context name and never a token. Redis servers here are this suite's
 * own `redis-server` children on spare ports, with nothing persisted.
 */

const TYPE = 'note';
const RUN = `${process.pid}-${Date.now()}-${TEST_ADAPTER}`;

// ---------------------------------------------------------------------------------------------
// Helpers

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/** One request, bounded in time; the body of an answer that is a stream is not waited for. */
async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  const headers = { ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...init.headers };
  try {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: controller.signal,
    });
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      controller.abort();
      return { status: res.status, headers: res.headers, body: '' };
    }
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${url} did not complete: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The samples of a Prometheus text exposition. */
class Scrape {
  constructor(readonly text: string) {}

  /** The value of `name` with exactly these labels; undefined when there is no such sample. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const wanted = Object.entries(labels)
      .map(([key, value]) => `${key}="${value}"`)
      .sort();
    for (const line of this.text.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const have = match[2] ? (match[2].match(/\w+="(?:[^"\\]|\\.)*"/g) ?? []).sort() : [];
      if (have.length === wanted.length && have.every((label, i) => label === wanted[i])) return Number(match[3]);
    }
    return undefined;
  }

  /** Like `value`, a missing sample of a labelled counter (never incremented) counting as 0. */
  count(name: string, labels: Record<string, string> = {}): number {
    return this.value(name, labels) ?? 0;
  }

  type(name: string): string | undefined {
    return new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(this.text)?.[1];
  }
}

async function scrape(url: string): Promise<Scrape> {
  const res = await call(`${url}/metrics`);
  expect(res.status).toBe(200);
  return new Scrape(res.body);
}

interface Health {
  status: string;
  info?: Record<string, Record<string, unknown>>;
  error?: Record<string, Record<string, unknown>>;
  details: Record<string, { status: string; backplane: string; streams: number; users: number }>;
}

async function health(url: string): Promise<{ status: number; body: Health }> {
  const res = await call(`${url}/health`);
  return { status: res.status, body: JSON.parse(res.body) as Health };
}

/** This suite's own Redis: `redis-server` on a spare port, nothing saved; stopped and started again on that port. */
class RedisServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly password?: string,
  ) {}

  static async start(password?: string): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), password);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://${this.password ? `:${this.password}@` : ''}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it again (on the same port) unless it is running. */
  async restart(): Promise<void> {
    if (this.running) return;
    const child = spawnRedisServer(this.port, this.password);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited:\n${this.output}`);
        return redisAnswers(this.url);
      },
      10_000,
      `redis-server on port ${this.port}`,
    );
  }

  /** SIGTERM (no save: it forgets everything), then waits for the exit; SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    if (!(await within(this.exited!.then(() => true), 5000, false))) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async keys(prefix: string): Promise<string[]> {
    return this.withClient((client) => keysUnder(client, prefix));
  }

  async deleteKeys(prefix: string): Promise<void> {
    await this.withClient((client) => deleteKeys(client, prefix));
  }

  private async withClient<T>(use: (client: Redis) => Promise<T>): Promise<T> {
    const client = probeClient(this.url);
    try {
      await client.connect();
      return await use(client);
    } finally {
      closeClient(client);
    }
  }
}

afterEach(closeOpened);

/**
 * On Fastify the demo app serves its Swagger UI with @fastify/static. Were it not loadable here, Nest would
 * process.exit() the Jest worker midway (leaving this suite's Redis children behind): fail first, saying why.
 */
beforeAll(async () => {
  if (TEST_ADAPTER !== 'fastify') return;
  try {
    await import('@fastify/static');
  } catch (err) {
    throw new Error(`The demo app cannot start on Fastify here: @fastify/static does not load (${(err as Error).message.split('\n')[0]})`);
  }
});

async function open(url: string, userId: string, options: TestStreamOptions = {}): Promise<TestStream> {
  return track(await TestStream.open(url, await signToken(userId), { types: [TYPE], ...options }));
}

/** Bounded in time, as every request here. */
function publish(url: string, adminToken: string, target: Record<string, unknown>, data: unknown = null): Promise<string> {
  return publishId(url, adminToken, { ...target, type: TYPE, data }, AbortSignal.timeout(5000));
}

// ---------------------------------------------------------------------------------------------
// Metrics

const METRICS: Record<string, 'gauge' | 'counter'> = {
  sse_open_streams: 'gauge',
  sse_connected_users: 'gauge',
  sse_events_published_total: 'counter',
  sse_events_delivered_total: 'counter',
  sse_replays_total: 'counter',
  sse_replayed_events_total: 'counter',
  sse_loss_events_total: 'counter',
  sse_limiter_rejections_total: 'counter',
  sse_slow_clients_dropped_total: 'counter',
  sse_backplane_errors_total: 'counter',
};

describe(`GET /metrics · ${TEST_ADAPTER}`, () => {
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemoServer({ maxConnectionsPerUser: 3 });
  });
  afterAll(() => server.close());

  test("serves prom-client's text format with every metric of the module, at zero on a fresh server", async () => {
    const res = await call(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = new Scrape(res.body);
    for (const [name, type] of Object.entries(METRICS)) expect({ name, type: metrics.type(name) }).toEqual({ name, type });
    for (const name of [
      'sse_open_streams',
      'sse_connected_users',
      'sse_events_delivered_total',
      'sse_replays_total',
      'sse_slow_clients_dropped_total',
    ]) {
      expect({ name, value: metrics.value(name) }).toEqual({ name, value: 0 });
    }
    // The app's own process metrics are on the same registry.
    expect(metrics.type('process_cpu_user_seconds_total')).toBe('counter');
  });

  test('the values follow streams opening, events published and delivered, resumes, losses and refusals', async () => {
    const url = server.url;
    const before = await scrape(url);

    const alice1 = await open(url, 'alice');
    const alice2 = await open(url, 'alice');
    const bob = await open(url, 'bob', { query: 'topics=news' });
    let now = await scrape(url);
    expect(now.value('sse_open_streams')).toBe(3);
    expect(now.value('sse_connected_users')).toBe(2);

    const toAlice = await publish(url, server.adminToken, { userId: 'alice' }, 'a');
    await publish(url, server.adminToken, { topic: 'news' }, 'n');
    const everyone = await publish(url, server.adminToken, { broadcast: true }, 'b');
    await alice1.waitForType(TYPE, 2);
    await alice2.waitForType(TYPE, 2);
    await bob.waitForType(TYPE, 2);
    now = await scrape(url);
    for (const target of ['users', 'topic', 'broadcast']) {
      expect({ target, n: now.count('sse_events_published_total', { target }) }).toEqual({
        target,
        n: before.count('sse_events_published_total', { target }) + 1,
      });
    }
    // alice's event to her 2 streams, the topic's to bob's, the broadcast to all 3.
    expect(now.count('sse_events_delivered_total')).toBe(before.count('sse_events_delivered_total') + 6);

    // A resume from alice's own event replays what she missed since: the broadcast.
    const resumed = await open(url, 'alice', { headers: { 'Last-Event-ID': toAlice } });
    expect((await resumed.waitForType(TYPE)).map((event) => event.id)).toEqual([everyone]);
    now = await scrape(url);
    expect(now.count('sse_replays_total')).toBe(before.count('sse_replays_total') + 1);
    expect(now.count('sse_replayed_events_total')).toBe(before.count('sse_replayed_events_total') + 1);

    // A garbage cursor, and one from the future: loss, by reason.
    const garbage = await open(url, 'dave', { headers: { 'Last-Event-ID': 'not-an-event-id' } });
    expect(JSON.parse((await garbage.waitForType('sse.loss'))[0].data)).toMatchObject({ reason: 'malformed' });
    const future = await open(url, 'erin', { headers: { 'Last-Event-ID': '99999999999999-0' } });
    expect(JSON.parse((await future.waitForType('sse.loss'))[0].data)).toMatchObject({ reason: 'unknown' });
    now = await scrape(url);
    expect(now.count('sse_loss_events_total', { reason: 'malformed' })).toBe(
      before.count('sse_loss_events_total', { reason: 'malformed' }) + 1,
    );
    expect(now.count('sse_loss_events_total', { reason: 'unknown' })).toBe(
      before.count('sse_loss_events_total', { reason: 'unknown' }) + 1,
    );
    expect(now.count('sse_replays_total')).toBe(before.count('sse_replays_total') + 1);

    // alice holds 3 streams, her limit: a 4th is refused.
    const refused = await call(`${url}/sse`, { headers: { Authorization: `Bearer ${await signToken('alice')}` } });
    expect(refused.status).toBe(429);
    now = await scrape(url);
    expect(now.count('sse_limiter_rejections_total', { reason: 'user' })).toBe(
      before.count('sse_limiter_rejections_total', { reason: 'user' }) + 1,
    );
    expect(now.value('sse_open_streams')).toBe(6);
    expect(now.value('sse_connected_users')).toBe(4);
    expect(now.count('sse_slow_clients_dropped_total')).toBe(0);
    expect(now.count('sse_backplane_errors_total')).toBe(0);

    closeOpened();
    await eventually(
      async () => {
        const after = await scrape(url);
        return after.value('sse_open_streams') === 0 && after.value('sse_connected_users') === 0;
      },
      5000,
      'the gauges back at 0 once every stream closed',
    );
  });
});

describe(`GET /metrics, a client that stops reading · ${TEST_ADAPTER}`, () => {
  let server: DemoServer;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    server = await startDemoServer();
  });
  afterAll(async () => {
    sockets.forEach((socket) => socket.destroy());
    await server.close();
  });

  test('sse_slow_clients_dropped_total counts a dropped client once, and its stream is gone from the gauges', async () => {
    const port = Number(new URL(server.url).port);
    sockets.push(await stalledStream(port, await signToken('slow')));
    expect((await scrape(server.url)).value('sse_open_streams')).toBe(1);
    const big = 'x'.repeat(48_000);
    let sent = 0;
    await eventually(
      async () => {
        if ((await scrape(server.url)).count('sse_slow_clients_dropped_total') > 0) return true;
        if (sent < 600) {
          await Promise.all(Array.from({ length: 10 }, () => publish(server.url, server.adminToken, { userId: 'slow' }, big)));
          sent += 10;
        }
        return false;
      },
      30_000,
      'the slow client to be dropped',
    );
    // More events for that user after the drop, then the count: one client, one drop.
    await Promise.all(Array.from({ length: 20 }, () => publish(server.url, server.adminToken, { userId: 'slow' }, big)));
    await eventually(async () => (await scrape(server.url)).value('sse_open_streams') === 0, 5000, 'the dropped stream to be gone');
    const after = await scrape(server.url);
    expect(after.count('sse_slow_clients_dropped_total')).toBe(1);
    expect(after.value('sse_connected_users')).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Health

describe(`GET /health · ${TEST_ADAPTER}`, () => {
  test('in memory: 200, the sse indicator up, with the streams and users open here', async () => {
    const server = await startDemoServer();
    try {
      const idle = await health(server.url);
      expect(idle.status).toBe(200);
      expect(idle.body).toMatchObject({ status: 'ok', info: { sse: { status: 'up', backplane: 'memory', streams: 0, users: 0 } } });
      await open(server.url, 'alice');
      await open(server.url, 'alice');
      await open(server.url, 'bob');
      const busy = await health(server.url);
      expect(busy.status).toBe(200);
      expect(busy.body.info?.sse).toEqual({ status: 'up', backplane: 'memory', streams: 3, users: 2 });
    } finally {
      closeOpened();
      await server.close();
    }
  });

  describe('over Redis', () => {
    const prefix = `sse-test-${RUN}-health:`;
    let redis: RedisServer | undefined;
    let server: DemoServer | undefined;

    beforeAll(async () => {
      redis = await RedisServer.start();
      server = await startDemoServer({ redisUrl: redis.url, redisKeyPrefix: prefix });
    });

    afterAll(async () => {
      closeOpened();
      try {
        if (server) await server.close();
        if (redis) {
          await redis.restart(); // in case a failed test left it stopped
          await redis.deleteKeys(prefix);
          expect(await redis.keys(prefix)).toEqual([]);
        }
      } finally {
        await redis?.stop();
      }
    });

    test('503 with the indicator down while that Redis is stopped, 200 and up again once it is back', async () => {
      const url = server!.url;
      await open(url, 'alice');
      const up = await health(url);
      expect(up.status).toBe(200);
      expect(up.body).toMatchObject({ status: 'ok', info: { sse: { status: 'up', backplane: 'up', streams: 1, users: 1 } } });

      await redis!.stop();
      let down: { status: number; body: Health } | undefined;
      await eventually(
        async () => {
          down = await health(url);
          return down.status === 503;
        },
        10_000,
        '/health to answer 503',
      );
      expect(down!.body).toMatchObject({ status: 'error', error: { sse: { status: 'down', backplane: 'down' } } });
      expect(down!.body.details.sse.status).toBe('down');

      // What fails meanwhile is counted.
      const failed = await call(`${url}/notifications`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${server!.adminToken}` },
        body: { broadcast: true, type: TYPE, data: null },
      });
      expect(failed.status).toBe(503);
      expect(failed.headers.get('retry-after')).toBe('10');
      const during = await scrape(url);
      // A short, stable label, not a sentence.
      expect(during.count('sse_backplane_errors_total', { operation: 'publish' })).toBe(1);

      await redis!.restart();
      let back: { status: number; body: Health } | undefined;
      await eventually(
        async () => {
          back = await health(url);
          return back.status === 200;
        },
        15_000,
        '/health to answer 200 again',
      );
      expect(back!.body).toMatchObject({ status: 'ok', info: { sse: { status: 'up', backplane: 'up' } } });
    }, 45_000);
  });
});

// ---------------------------------------------------------------------------------------------
// The REST contract

describe(`GET /docs · ${TEST_ADAPTER}`, () => {
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemoServer();
  });
  afterAll(() => server.close());

  test('/docs/openapi.json describes the publishing and administration endpoints, with bearer auth', async () => {
    const res = await call(`${server.url}/docs/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = JSON.parse(res.body) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: Array<Record<string, unknown>>; parameters?: Array<{ name: string; in: string }> }>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    const [schemeName, scheme] = Object.entries(doc.components.securitySchemes).find(([, s]) => s.scheme === 'bearer') ?? [];
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    const operations: Array<[string, string]> = [
      ['/notifications', 'post'],
      ['/sse/connections', 'delete'],
      ['/sse/connections/{userId}', 'delete'],
      ['/sse/stats', 'get'],
    ];
    for (const [path, method] of operations) {
      const operation = doc.paths[path]?.[method];
      expect({ path, method, described: operation !== undefined }).toEqual({ path, method, described: true });
      expect({ path, method, security: operation!.security }).toEqual({ path, method, security: [{ [schemeName!]: [] }] });
    }
    expect(doc.paths['/sse/connections/{userId}'].delete.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'userId', in: 'path' })]),
    );
    // The operational endpoints are not part of the contract.
    expect(Object.keys(doc.paths)).not.toEqual(expect.arrayContaining(['/metrics']));
    expect(Object.keys(doc.paths)).not.toEqual(expect.arrayContaining(['/health']));
  });

  test('/docs answers 200 with the Swagger UI', async () => {
    const res = await call(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});

// ---------------------------------------------------------------------------------------------
// Logs

/** A token and the pieces of it that would give it away: its segments, and every 12-character run of its payload and signature. */
function fragmentsOf(token: string): string[] {
  const segments = token.split('.');
  const runs = segments.slice(1).flatMap((segment) =>
    Array.from({ length: Math.max(0, segment.length - 11) }, (_, i) => segment.slice(i, i + 12)),
  );
  return [token, ...segments.filter((segment) => segment.length >= 8), ...runs];
}

/** GET /sse on a plain socket that stops reading once the stream has begun. */
async function stalledStream(port: number, token: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let received = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sse.ready within 5 s: ${JSON.stringify(received)}`)), 5000);
    socket.once('connect', () =>
      socket.write(
        `GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      ),
    );
    socket.on('data', function onData(chunk: Buffer) {
      received += chunk.toString('latin1');
      if (!received.includes('event: sse.ready')) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      resolve();
    });
  });
  return socket;
}

describe(`logs · ${TEST_ADAPTER}`, () => {
  const prefix = `sse-test-${RUN}-logs:`;
  const password = `redis-pw-${RUN}`;
  const logger = new RecordingLogger();
  let redis: RedisServer | undefined;
  let app: INestApplication | undefined;
  const sockets: Socket[] = [];

  afterAll(async () => {
    closeOpened();
    sockets.forEach((socket) => socket.destroy());
    try {
      if (app) await app.close();
      if (redis) {
        await redis.restart();
        await redis.deleteKeys(prefix);
        expect(await redis.keys(prefix)).toEqual([]);
      }
    } finally {
      await redis?.stop();
    }
  });

  test('401s (header, query, cookie), a 429, a slow client and a Redis outage log no token, and every line names its context', async () => {
    redis = await RedisServer.start(password);
    app = await createDemoApp(
      { ...TEST_CONFIG, maxConnectionsPerUser: 2, redisUrl: redis.url, redisKeyPrefix: prefix },
      logger,
    );
    await app.listen(0, '127.0.0.1');
    const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;

    const admin = await signToken('admin', { roles: ['admin'] });
    const alice = await signToken('alice');
    const carol = await signToken('carol');
    const slow = await signToken('slow');
    const wrongSecret = await signToken('alice', { secret: 'not-the-secret-of-this-app' });
    const expired = await signToken('alice', { expiresInSeconds: -60 });
    const expiredAdmin = await signToken('admin', { roles: ['admin'], expiresInSeconds: -60 });
    const garbage = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.bm90LWEtc2lnbmF0dXJlLWF0LWFsbA';
    const used = [admin, alice, carol, slow, wrongSecret, expired, expiredAdmin, garbage];

    // A stream, and 401s with bad tokens wherever a token may be put.
    await open(url, 'alice');
    const refusals: Array<[string, { method?: string; headers?: Record<string, string>; body?: unknown }]> = [
      ['/sse', { headers: { Authorization: `Bearer ${wrongSecret}` } }],
      ['/sse', { headers: { Authorization: `Bearer ${expired}` } }],
      ['/sse', { headers: { Authorization: `Bearer ${garbage}` } }],
      ['/sse', { headers: { Authorization: `Token ${wrongSecret}` } }],
      [`/sse?access_token=${wrongSecret}`, {}],
      [`/sse?access_token=${alice}`, {}], // the query is not a token source in the demo
      ['/sse', { headers: { Cookie: `sse_token=${expired}` } }],
      ['/sse', { headers: { Cookie: `sse_token=${wrongSecret}; other=1` } }],
      ['/notifications', { method: 'POST', headers: { Authorization: `Bearer ${expiredAdmin}` }, body: { broadcast: true, type: TYPE } }],
      ['/sse/stats', { headers: { Authorization: `Bearer ${wrongSecret}` } }],
    ];
    for (const [path, init] of refusals) {
      const res = await call(`${url}${path}`, init);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(res.body).not.toContain(wrongSecret.split('.')[2]);
    }

    // A 429.
    track(await TestStream.open(url, carol, { types: [TYPE] }));
    track(await TestStream.open(url, carol, { types: [TYPE] }));
    expect((await call(`${url}/sse`, { headers: { Authorization: `Bearer ${carol}` } })).status).toBe(429);

    // A resume with a garbage cursor.
    const lost = track(await TestStream.open(url, alice, { types: [TYPE], headers: { 'Last-Event-ID': 'garbage' } }));
    await lost.waitForType('sse.loss');

    // A client that stops reading, fed until the server drops it (events reach it after the publish answers).
    sockets.push(await stalledStream(port, slow));
    const big = 'x'.repeat(48_000);
    let sent = 0;
    await eventually(
      async () => {
        if ((await scrape(url)).count('sse_slow_clients_dropped_total') > 0) return true;
        if (sent < 600) {
          await Promise.all(Array.from({ length: 10 }, () => publish(url, admin, { userId: 'slow' }, big)));
          sent += 10;
        }
        return false;
      },
      30_000,
      'the slow client to be dropped',
    );

    // A Redis outage: what cannot be done is refused with 503, and said once in the logs.
    await redis.stop();
    await eventually(() => logger.of('RedisBackplane').some((line) => line.level === 'warn'), 10_000, "RedisBackplane's warning");
    expect((await call(`${url}/sse`, { headers: { Authorization: `Bearer ${carol}` } })).status).toBe(503);
    const publishDuringOutage = await call(`${url}/notifications`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}` },
      body: { broadcast: true, type: TYPE, data: null },
    });
    expect(publishDuringOutage.status).toBe(503);
    expect((await call(`${url}/health`)).status).toBe(503);
    await redis.restart();
    await eventually(async () => (await call(`${url}/health`)).status === 200, 15_000, '/health 200 after Redis is back');
    await eventually(() => logger.of('RedisBroker').length > 0, 10_000, "RedisBroker's note after Redis came back");

    closeOpened();
    sockets.splice(0).forEach((socket) => socket.destroy());
    await app.close();
    app = undefined;

    const lines = logger.lines;
    // No token, nor a piece of one, nor the secrets behind them.
    const forbidden = [...used.flatMap(fragmentsOf), TEST_JWT_SECRET, password];
    const leaks = lines.filter((line) => forbidden.some((fragment) => line.text.includes(fragment)));
    expect(leaks).toEqual([]);
    // Every line names where it comes from, the module's own classes among them. The one exception is not the
    // module's: @nestjs/terminus, imported by the demo as plain `TerminusModule`, logs a failed check without one.
    const terminus = (line: LogLine) => line.level === 'error' && line.text.startsWith('Health Check has failed!');
    expect(lines.filter((line) => !line.context && !terminus(line))).toEqual([]);
    expect(lines.some(terminus)).toBe(true);
    const contexts = new Set(lines.map((line) => line.context));
    for (const context of ['RedisBackplane', 'RedisBroker', 'NotificationService', 'ConnectionLimitGuard']) {
      expect({ context, logged: contexts.has(context) }).toEqual({ context, logged: true });
    }
    // The slow client's drop is told by the module's writer, once, with the count: within its interval or,
    // as here, when the app closes before the interval is over.
    expect(slowClientDrops(lines)).toEqual([{ level: 'warn', context: 'SseWriter', count: 1 }]);
    // The Redis URL is logged with its password masked.
    expect(logger.of('RedisBackplane').map((line) => line.text)).toEqual(
      expect.arrayContaining([expect.stringContaining(`redis://:***@127.0.0.1:${redis.port}`)]),
    );
  }, 90_000);
});
