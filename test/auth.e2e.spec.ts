import { SignJWT } from 'jose';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { sleep } from './harness/waiting.js';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

interface ErrorBody {
  statusCode: number;
  message: string;
}

/** One request, bounded in time (a stream answered 200 by mistake would otherwise never end). */
async function call(
  server: DemoServer,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  authorization?: string,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  else if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 3000);
  try {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    throw new Error(`${method} ${path} did not complete: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

function jsonOf(answer: Answer): ErrorBody {
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  return JSON.parse(answer.text) as ErrorBody;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

afterEach(closeOpened);
async function open(server: DemoServer, token: string, query?: string): Promise<TestStream> {
  return track(await TestStream.open(server.url, token, { query, types: ['note'] }));
}

const ENDPOINTS: Array<[string, string, unknown?]> = [
  ['GET', '/sse'],
  ['POST', '/notifications', { broadcast: true, type: 'note', data: 1 }],
  ['GET', '/sse/stats'],
  ['DELETE', '/sse/connections'],
  ['DELETE', '/sse/connections/someone'],
];

describe('authentication and authorization', () => {
  let server: DemoServer;
  /** Tokens that must be refused, by name; filled in beforeAll. */
  const bad: Record<string, { token?: string; authorization?: string; message: RegExp }> = {};

  beforeAll(async () => {
    server = await startDemoServer();
    const now = Math.floor(Date.now() / 1000);
    const secret = new TextEncoder().encode(TEST_JWT_SECRET);
    bad['no token'] = { message: /token is required/i };
    bad['a garbage token'] = { token: 'not-a-jwt', message: /malformed/i };
    bad['an expired token'] = {
      token: await signToken('admin', { roles: ['admin'], expiresInSeconds: -60 }),
      message: /expired/i,
    };
    bad['a token signed with another secret'] = {
      token: await signToken('admin', { roles: ['admin'], secret: 'some-other-secret-of-enough-length' }),
      message: /signature/i,
    };
    bad['an alg: none token'] = {
      token: `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'admin', roles: ['admin'], exp: now + 3600 })}.`,
      message: /./,
    };
    bad['an HS512 token with the right secret'] = {
      token: await new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'HS512' })
        .setSubject('admin')
        .setExpirationTime(now + 3600)
        .sign(secret),
      message: /algorithm/i,
    };
    bad['a token without sub'] = {
      token: await new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(now + 3600)
        .sign(secret),
      message: /sub/,
    };
    bad['a token whose sub holds a line break'] = {
      token: await signToken('admin\nevent: evil', { roles: ['admin'] }),
      message: /sub/,
    };
    bad['a Basic authorization'] = {
      authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`,
      message: /malformed/i,
    };
    bad['a Bearer header without a token'] = { authorization: 'Bearer ', message: /malformed/i };
  });
  afterAll(() => server.close());

  describe('401', () => {
    const names = [
      'no token',
      'a garbage token',
      'an expired token',
      'a token signed with another secret',
      'an alg: none token',
      'an HS512 token with the right secret',
      'a token without sub',
      'a token whose sub holds a line break',
      'a Basic authorization',
      'a Bearer header without a token',
    ];
    const cases = names.flatMap((name) => ENDPOINTS.map(([method, path, body]) => [name, method, path, body] as const));

    it.each(cases)('with %s: %s %s', async (name, method, path, body) => {
      const { token, authorization, message } = bad[name];
      const answer = await call(server, method, path, token, body, authorization);
      expect(answer.status).toBe(401);
      const challenge = answer.headers.get('www-authenticate');
      expect(challenge).toMatch(/^Bearer realm="sse"/);
      if (token !== undefined || authorization !== undefined) expect(challenge).toContain('error="invalid_token"');
      const json = jsonOf(answer);
      expect(json.statusCode).toBe(401);
      expect(json.message).toMatch(message);
    });

    it('does not let the real EventSource in, nor have it retry', async () => {
      const stream = track(new TestStream(server.url, bad['an expired token'].token));
      await stream.until(() => stream.errors.length > 0);
      expect(stream.errors[0].code).toBe(401);
      expect(stream.source.readyState).toBe(stream.source.CLOSED);
      expect(stream.events).toEqual([]);
    });

    it('never leaks the token into the answer', async () => {
      const { token } = bad['a token signed with another secret'];
      const answer = await call(server, 'GET', '/sse', token);
      expect(answer.status).toBe(401);
      expect(answer.text).not.toContain(token!);
      expect(answer.headers.get('www-authenticate')).not.toContain(token!);
    });
  });

  describe('403', () => {
    it('for a non-admin publishing, and nothing is published', async () => {
      const user = await signToken('plain-user', { roles: ['editor'] });
      const watcher = await open(server, user);
      const answer = await call(server, 'POST', '/notifications', user, { userId: 'plain-user', type: 'note', data: 1 });
      expect(answer.status).toBe(403);
      expect(jsonOf(answer)).toMatchObject({ statusCode: 403, message: expect.stringMatching(/admin/) });
      await sleep(200);
      expect(watcher.ofType('note')).toEqual([]);
    });

    it.each([
      ['a role spelled differently', ['Admin']],
      ['a longer role name', ['administrator']],
      ['no roles', []],
    ])('for %s', async (_, roles) => {
      const user = await signToken('almost-admin', { roles });
      expect((await call(server, 'POST', '/notifications', user, { broadcast: true, type: 'note' })).status).toBe(403);
      expect((await call(server, 'GET', '/sse/stats', user)).status).toBe(403);
    });

    it('for a roles claim that is a string rather than an array', async () => {
      const token = await new SignJWT({ roles: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('string-roles')
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      expect((await call(server, 'GET', '/sse/stats', token)).status).toBe(403);
    });

    it('for a non-admin reading the stats', async () => {
      const answer = await call(server, 'GET', '/sse/stats', await signToken('plain-user'));
      expect(answer.status).toBe(403);
      expect(jsonOf(answer).statusCode).toBe(403);
    });

    it("for a non-admin closing another user's streams, which stay open", async () => {
      const victim = await open(server, await signToken('victim'));
      const answer = await call(server, 'DELETE', '/sse/connections/victim', await signToken('attacker'));
      expect(answer.status).toBe(403);
      expect(jsonOf(answer).statusCode).toBe(403);
      await sleep(200);
      expect(victim.ofType('sse.close')).toEqual([]);
      expect(victim.source.readyState).toBe(victim.source.OPEN);
    });

    it.each(['admin', 'admin-alerts', 'administration', 'public,admin-ops'])(
      'for a non-admin asking for the admin-only topic(s) %s, before any stream starts',
      async (topics) => {
        const user = await signToken('curious');
        const answer = await call(server, 'GET', `/sse?topics=${topics}`, user);
        expect(answer.status).toBe(403);
        expect(jsonOf(answer).message).toMatch(/topic "admin/);
        await expect(TestStream.open(server.url, user, { query: `topics=${topics}` })).rejects.toMatchObject({
          code: 403,
        });
      },
    );

    it('is not given to an admin for an admin-only topic, nor to a user for another topic', async () => {
      const adminStream = await open(server, server.adminToken, 'topics=admin-alerts');
      const userStream = await open(server, await signToken('curious'), 'topics=public,sub-admin');
      const res = await server.publish({ topic: 'admin-alerts', type: 'note', data: 'x' });
      expect(res.status).toBe(202);
      await adminStream.waitForType('note');
      await sleep(200);
      expect(userStream.ofType('note')).toEqual([]);
    });
  });
});
