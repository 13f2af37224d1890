import { jest } from '@jest/globals';
import { EventSource, type ErrorEvent } from 'eventsource';
import { SignJWT } from 'jose';
import type { Redis } from 'ioredis';
import { startDemoServer, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { connectRedis, freePort, redisAnswers, removePrefix, spawnRedisServer } from './harness/redis.js';
import { rawConnect } from './harness/raw-stream.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually, sleep, Waiters } from './harness/waiting.js';

// Reconnects wait for the server's retry:. Every wait inside is bounded on its own.
jest.setTimeout(30_000);

/**
 * A kick that holds: closing a user with `?revoke=true`, or their signing out,
 * refuses the tokens they hold from then on, with 401, on every instance; a
 * token issued afterwards works. The client is one that ignores `sse.close`
 * (as event-source-polyfill does): a real `eventsource`, which reconnects by
 * itself when a stream ends, through a "load balancer" that sends each attempt
 * to the next instance.
 */

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const adapter = TEST_CONFIG.adapter;
const PREFIX = `sse-test-${process.pid}-${Date.now()}-revocation-${adapter}:`;

interface Attempt {
  readonly instance: number;
  status?: number;
}

/** An `EventSource` whose every (re)connect goes to the next of `servers` in turn; it never closes itself. */
class RoamingClient {
  readonly attempts: Attempt[] = [];
  readonly events: Array<{ type: string; data: string }> = [];
  readonly errors: ErrorEvent[] = [];
  readonly source: EventSource;
  private readonly waiters = new Waiters();

  constructor(servers: readonly DemoServer[], token: string) {
    this.source = new EventSource(`${servers[0].url}/sse`, {
      fetch: async (_input, init) => {
        const attempt: Attempt = { instance: this.attempts.length % servers.length };
        this.attempts.push(attempt);
        const res = await fetch(`${servers[attempt.instance].url}/sse`, {
          ...init,
          headers: { ...init.headers, Authorization: `Bearer ${token}` },
        });
        attempt.status = res.status;
        this.waiters.notify();
        return res;
      },
    });
    for (const type of ['sse.ready', 'sse.close', 'note']) {
      this.source.addEventListener(type, (event) => {
        this.events.push({ type, data: event.data });
        this.waiters.notify();
      });
    }
    this.source.addEventListener('error', (event) => {
      this.errors.push(event);
      this.waiters.notify();
    });
  }

  ofType(type: string): Array<{ type: string; data: string }> {
    return this.events.filter((event) => event.type === type);
  }

  until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out; attempts ${JSON.stringify(this.attempts)}, events ${JSON.stringify(this.events)}`);
  }

  close(): void {
    this.source.close();
  }
}

/** GET /sse with the token: a refusal's status, challenge and JSON body (a 200 is closed at once). */
async function connect(server: DemoServer, token: string): Promise<{ status: number; challenge: string | null; body: string }> {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/sse`, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal });
  const body = res.status === 200 ? '' : await res.text();
  controller.abort();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body };
}

function expectRevoked(answer: { status: number; challenge: string | null; body: string }): void {
  expect(answer.status).toBe(401);
  expect(answer.challenge).toMatch(/^Bearer realm="sse", error="invalid_token"/);
  expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 401, message: 'The token has been revoked' });
}

async function kick(server: DemoServer, userId: string, query = '?revoke=true'): Promise<Response> {
  return fetch(`${server.url}/sse/connections/${userId}${query}`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${server.adminToken}` },
  });
}

/** A token whose `iat` is a whole second after now: issued, as JWT libraries write it, after anything done until now. */
async function tokenOfNextSecond(userId: string, roles: string[] = []): Promise<string> {
  await sleep(1000 - (Date.now() % 1000) + 5);
  return signToken(userId, { roles });
}

/** POST /demo/token, as the demo page signs in. */
async function signIn(server: DemoServer, userId: string): Promise<{ token: string; cookie: string }> {
  const res = await fetch(`${server.url}/demo/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as { token: string };
  return { token, cookie: res.headers.get('set-cookie')!.split(';')[0] };
}

const clients: RoamingClient[] = [];
afterEach(() => clients.splice(0).forEach((client) => client.close()));

describe.each([
  ['in memory, one instance', false],
  ['over Redis, two instances', true],
])(`a kick holds (${adapter}, %s)`, (_topology, overRedis) => {
  let redis: Redis | undefined;
  let servers: DemoServer[];
  const user = (name: string) => `${name}-${overRedis ? 'cluster' : 'solo'}-${adapter}`;

  beforeAll(async () => {
    const config = { demoTokens: true, ...(overRedis ? { redisUrl: REDIS_URL, redisKeyPrefix: PREFIX } : {}) };
    servers = overRedis ? await Promise.all([startDemoServer(config), startDemoServer(config)]) : [await startDemoServer(config)];
    if (overRedis) redis = await connectRedis(REDIS_URL);
  });

  afterAll(async () => {
    clients.splice(0).forEach((client) => client.close());
    await Promise.all(servers.map((server) => server.close()));
    if (redis) await removePrefix(redis, PREFIX);
  }, 10_000);

  /** The last instance: where a client that connected to the first one lands on its reconnect. */
  const other = () => servers[servers.length - 1];

  it('?revoke=true: the client that ignores sse.close is refused with 401 when it reconnects, and stays out; on every instance', async () => {
    const userId = user('kicked');
    const token = await signToken(userId);
    const client = new RoamingClient(servers, token);
    clients.push(client);
    await client.until(() => client.ofType('sse.ready').length === 1);

    const res = await kick(servers[0], userId);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ closed: 1 });
    // A few milliseconds after the DELETE answered, every instance refuses the token.
    for (const server of servers) expectRevoked(await connect(server, token));

    // The client is told, ignores it, reconnects (to the other instance) and is refused for good.
    await client.until(() => client.ofType('sse.close').length === 1);
    expect(JSON.parse(client.ofType('sse.close')[0].data)).toEqual({ reason: 'closed-by-server' });
    await client.until(() => client.source.readyState === client.source.CLOSED);
    expect(client.attempts.map((attempt) => attempt.status)).toEqual([200, 401]);
    expect(client.attempts[1].instance).toBe(servers.length - 1);
    expect(client.errors.at(-1)?.code).toBe(401);

    // Nothing published to the user reaches anyone, and no slot is held.
    await servers[0].publishId({ userId, type: 'note', data: 'after the kick' });
    await eventually(async () => (await other().stats()).streams === 0, 5000, 'no stream to be held');
    expect(client.ofType('note')).toEqual([]);
  });

  it('refuses the revoked token on publishing routes too, and a token without iat; a token issued after the kick works', async () => {
    const admin = user('admin');
    const adminToken = await signToken(admin, { roles: ['admin'] });
    const noIat = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(admin)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    // Before the revocation, a token without iat is accepted like any other.
    expect((await fetch(`${other().url}/sse/stats`, { headers: { Authorization: `Bearer ${noIat}` } })).status).toBe(200);

    expect((await kick(servers[0], admin)).status).toBe(200);
    for (const bearer of [adminToken, noIat]) {
      const stats = await fetch(`${other().url}/sse/stats`, { headers: { Authorization: `Bearer ${bearer}` } });
      expect(stats.status).toBe(401);
      expect(stats.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(await stats.json()).toMatchObject({ message: 'The token has been revoked' });
    }

    const fresh = await tokenOfNextSecond(admin, ['admin']);
    const stats = await fetch(`${other().url}/sse/stats`, { headers: { Authorization: `Bearer ${fresh}` } });
    expect(stats.status).toBe(200);
    await stats.body?.cancel();
    for (const server of servers) {
      const stream = await rawConnect(server.url, fresh);
      expect(stream.status).toBe(200);
      stream.close();
    }
  });

  it('a kick without ?revoke lets the client back in: that is what revoking is for', async () => {
    const userId = user('nudged');
    const client = new RoamingClient(servers, await signToken(userId));
    clients.push(client);
    await client.until(() => client.ofType('sse.ready').length === 1);
    const res = await kick(servers[0], userId, '');
    expect(await res.json()).toEqual({ closed: 1 });
    await client.until(() => client.ofType('sse.ready').length === 2);
    expect(client.attempts.map((attempt) => attempt.status)).toEqual([200, 200]);
  });

  it('signing out (DELETE /demo/token with the bearer token) revokes it: 204, the cookie cleared, and the client refused on reconnect', async () => {
    const userId = user('leaver');
    const { token } = await signIn(servers[0], userId);
    const client = new RoamingClient(servers, token);
    clients.push(client);
    await client.until(() => client.ofType('sse.ready').length === 1);

    const res = await fetch(`${servers[0].url}/demo/token`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/^sse_token=; Max-Age=0/);
    for (const server of servers) expectRevoked(await connect(server, token));
    await client.until(() => client.source.readyState === client.source.CLOSED);
    expect(client.attempts.map((attempt) => attempt.status)).toEqual([200, 401]);

    // Signing in again at once gives a token that works (the demo signs iat to the millisecond).
    const again = await signIn(other(), userId);
    for (const server of servers) expect((await connect(server, again.token)).status).toBe(200);
  });

  it('signing out with the cookie alone revokes its token too; with no valid token it only clears the cookie', async () => {
    const userId = user('cookie-leaver');
    const { token, cookie } = await signIn(other(), userId);
    expect((await connect(servers[0], token)).status).toBe(200);
    const res = await fetch(`${servers[0].url}/demo/token`, { method: 'DELETE', headers: { Cookie: cookie } });
    expect(res.status).toBe(204);
    for (const server of servers) expectRevoked(await connect(server, token));

    const nobody: Array<Record<string, string>> = [{}, { Authorization: 'Bearer not-a-token' }, { Cookie: 'sse_token=garbage' }];
    for (const headers of nobody) {
      const anonymous = await fetch(`${servers[0].url}/demo/token`, { method: 'DELETE', headers });
      expect(anonymous.status).toBe(204);
      expect(anonymous.headers.get('set-cookie')).toMatch(/^sse_token=; Max-Age=0/);
    }
  });

  it('only an admin may revoke; ?revoke must be a boolean', async () => {
    const victim = user('victim');
    const token = await signToken(victim);
    const byUser = await fetch(`${servers[0].url}/sse/connections/${victim}?revoke=true`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${await signToken(user('mallory'))}` },
    });
    expect(byUser.status).toBe(403);
    const malformed = await kick(servers[0], victim, '?revoke=maybe');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ statusCode: 400 });
    expect((await connect(other(), token)).status).toBe(200);
  });
});

describe(`a kick holds while Redis is away (${adapter})`, () => {
  /** A redis-server of this test's own on `port`; resolves once it answers. */
  async function ownRedis(port: number) {
    const child = spawnRedisServer(port);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await eventually(() => redisAnswers(`redis://127.0.0.1:${port}`), 5000, 'its own Redis to answer');
    return {
      stop: async () => {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  it('refuses, from what the instance heard, a token revoked before the outage; other tokens get the 503 of the routes that need Redis', async () => {
    const port = await freePort();
    let redisServer = await ownRedis(port);
    const server = await startDemoServer({ redisUrl: `redis://127.0.0.1:${port}`, redisKeyPrefix: PREFIX });
    try {
      const revoked = await signToken(`outage-kicked-${adapter}`);
      const bystander = await signToken(`outage-bystander-${adapter}`);
      expect((await kick(server, `outage-kicked-${adapter}`)).status).toBe(200);
      await redisServer.stop();

      expectRevoked(await connect(server, revoked));
      // Not revoked: let through by the token guard, and refused by the connection limiter, which needs Redis.
      const other = await connect(server, bystander);
      expect(other.status).toBe(503);
      expect(JSON.parse(other.body)).toMatchObject({ statusCode: 503, message: expect.stringMatching(/Connections cannot be counted/) });
    } finally {
      // Closed once it has recovered: closing while its log reader still reconnects hangs (RedisBroker awaits that read).
      redisServer = await ownRedis(port);
      await eventually(async () => (await server.publish({ broadcast: true, type: 'note' })).status === 202, 10_000, 'the app to recover');
      await server.close();
      await redisServer.stop();
    }
  });
});
