import { createHmac } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { startDemoServer, TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TestStream } from './harness/sse-client.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually } from './harness/waiting.js';

/**
 * Property-based fuzzing (fast-check) of the demo app on a real HTTP server:
 * tokens, `Last-Event-ID`, topic lists, names and ids with CR/LF/NUL, path
 * parameters, and request bodies. Whatever comes in, no answer is a 5xx, none
 * hangs, every error is JSON (`statusCode` as the status), every 401 has its
 * challenge, nothing leaks a connection slot or pollutes a prototype, and the
 * app still serves a stream afterwards.
 *
 * Routes are rows of ROUTES: a new route is one more row. Runs are few and
 * bounded per property (RUNS), and seeded: FUZZ_SEED=<n> replays a run, and a
 * failure prints the seed and the shrunk input.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 15_2025);
const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
/** A request that takes longer than this has hung (fast-check fails the run). */
const HANG_MS = 5000;
const WATCHED_USER = 'fuzz-watch';

interface FuzzRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** `:id` stands for a path parameter. */
  readonly path: string;
  /** A body the route accepts, for the properties that vary something else. */
  readonly body?: Record<string, unknown>;
  /** Answers `text/event-stream` when it accepts the request. */
  readonly stream?: boolean;
  /** Who may call it: anyone, any user, or admins. */
  readonly who: 'anyone' | 'user' | 'admin';
}

/** Every route of the demo app that takes input. */
const ROUTES: readonly FuzzRoute[] = [
  { method: 'GET', path: '/sse', stream: true, who: 'user' },
  { method: 'GET', path: '/sse/stats', who: 'admin' },
  { method: 'DELETE', path: '/sse/connections', who: 'user' },
  { method: 'DELETE', path: '/sse/connections/:id', who: 'admin' },
  { method: 'POST', path: '/notifications', body: { userId: 'fuzz-nobody', type: 'note', data: { n: 1 } }, who: 'admin' },
  { method: 'POST', path: '/chat', body: { message: 'hello' }, stream: true, who: 'user' },
  { method: 'GET', path: '/chat/:id', stream: true, who: 'user' },
  { method: 'DELETE', path: '/chat/:id', who: 'user' },
  { method: 'POST', path: '/demo/token', body: { userId: 'fuzz-signed' }, who: 'anyone' },
  { method: 'GET', path: '/inbox?status=unread&limit=5', who: 'user' },
  { method: 'POST', path: '/inbox/read', body: { ids: ['1-0'] }, who: 'user' },
  { method: 'POST', path: '/inbox/unread', body: { ids: ['1-0'] }, who: 'user' },
  { method: 'POST', path: '/inbox/archive', body: { ids: ['1-0'] }, who: 'user' },
];

const BODY_ROUTES = ROUTES.filter((route) => route.body);
const PARAM_ROUTES = ROUTES.filter((route) => route.path.includes(':id'));
const AUTH_ROUTES = ROUTES.filter((route) => route.who !== 'anyone');

function label(route: FuzzRoute): string {
  return `${route.method} ${route.path}`;
}

// ---------------------------------------------------------------------------------------------
// One request, as bytes on the wire

interface Sent {
  method: string;
  /** Already encoded: sent as it is. */
  path: string;
  /** Values may hold any bytes but CR, LF and NUL, written as latin1 (see `asHeaderBytes`). */
  headers?: Record<string, string>;
  body?: string | Buffer;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A UTF-8 string as the latin1 text whose bytes are its UTF-8 bytes: how node:http sends any bytes in a header
 * (and how the server reads them back). A header cannot carry control characters but the tab: they are dropped.
 */
function asHeaderBytes(value: string): string {
  return Buffer.from(value.replace(HEADER_UNSAFE, ''), 'utf8').toString('latin1');
}

const HEADER_UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

/** Text fit for a URL component: lone surrogates have no UTF-8 form. */
function wellFormed(value: string): string {
  return value.replace(/[\uD800-\uDFFF]/g, '');
}

/**
 * Sends a request on a connection of its own and reads the answer; a stream is
 * read until `enough(body)` (by default its first block), then dropped.
 */
function send(baseUrl: string, sent: Sent, enough: (body: string) => boolean = (body) => body.includes('\n\n')): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${sent.path}`, { method: sent.method, headers: sent.headers, agent: false }, (res) => {
      let body = '';
      const streaming = String(res.headers['content-type']).startsWith('text/event-stream');
      res.setEncoding('utf8');
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      res.on('data', (chunk: string) => {
        body += chunk;
        if (streaming && enough(body)) {
          done();
          req.destroy();
        }
      });
      res.on('end', done);
      res.on('error', () => done());
    });
    req.on('error', reject);
    req.setTimeout(HANG_MS, () => req.destroy(new Error(`${sent.method} ${sent.path} hung for ${HANG_MS} ms`)));
    req.end(sent.body);
  });
}

/** What every answer must be, whatever was sent. */
function expectHandled(answer: Answer, what: string): void {
  const context = `${what} → ${answer.status} ${answer.body.slice(0, 300)}`;
  if (answer.status >= 500 || answer.status < 200) throw new Error(`not handled: ${context}`);
  if (answer.status < 400) return;
  if (!String(answer.headers['content-type']).startsWith('application/json')) throw new Error(`an error that is not JSON: ${context}`);
  let parsed: { statusCode?: unknown };
  try {
    parsed = JSON.parse(answer.body) as { statusCode?: unknown };
  } catch {
    throw new Error(`an error body that does not parse: ${context}`);
  }
  if (parsed.statusCode !== answer.status) throw new Error(`statusCode is not the status: ${context}`);
  if (answer.status === 401 && !String(answer.headers['www-authenticate']).startsWith('Bearer realm=')) {
    throw new Error(`a 401 without its challenge: ${context}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Characters that break lines, fields or keys, and some that are merely unusual. */
const nastyChar = fc.constantFrom('\r', '\n', '\0', '\r\n', ',', '\u2028', '\u0085', '\x7f', '\t', ' ', '%', '"', '\\', 'é', '😀', '\uFEFF');
const nastyString = (maxLength = 40) =>
  fc.string({ unit: fc.oneof({ weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) }, nastyChar, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength });

/** A name the module accepts (see sse-name.ts): what the oracle predicts a 2xx for. */
function acceptableName(value: string): boolean {
  return value.length > 0 && value.length <= 200 && !/[\u0000-\u001f\u007f,]/.test(value);
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

function signed(header: Record<string, unknown>, payload: unknown, secret: string, hash = 'sha256'): string {
  const head = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${head}.${createHmac(hash, secret).update(head).digest('base64url')}`;
}

/** Claims a signer may put in a token, sensible or not. */
const claims = fc.record(
  {
    sub: fc.oneof(nastyString(), fc.constant('fuzz-claims'), fc.integer(), fc.constant(null)),
    roles: fc.oneof(fc.constant(['admin']), fc.array(fc.oneof(fc.string(), fc.integer())), fc.string(), fc.constant(null)),
    exp: fc.oneof(
      fc.constant(Math.floor(Date.now() / 1000) + 3600),
      fc.constant(Math.floor(Date.now() / 1000) - 3600),
      fc.double({ noNaN: true }),
      fc.constant(1e308),
      fc.string(),
    ),
    nbf: fc.oneof(fc.constant(Math.floor(Date.now() / 1000) + 3600), fc.integer()),
    iat: fc.oneof(fc.integer(), fc.string()),
    pad: fc.string({ maxLength: 200 }),
  },
  { requiredKeys: [] },
);

interface FuzzToken {
  kind: string;
  token: string;
}

/** Tokens: truncated, re-signed, alg swapped, huge, non-ASCII, signed with odd claims, garbage. */
function tokens(valid: string): fc.Arbitrary<FuzzToken> {
  const [head, body, signature] = valid.split('.');
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  return fc.oneof(
    fc.nat({ max: valid.length - 1 }).map((n) => ({ kind: 'truncated', token: valid.slice(0, n) })),
    fc.string({ minLength: 1, maxLength: 30 }).map((secret) => ({ kind: 're-signed', token: signed({ alg: 'HS256', typ: 'JWT' }, payload, `${secret}!`) })),
    fc.constantFrom(
      { kind: 'alg none', token: `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${body}.` },
      { kind: 'alg HS512', token: signed({ alg: 'HS512', typ: 'JWT' }, payload, TEST_JWT_SECRET, 'sha512') },
      { kind: 'alg RS256, HMAC signature', token: `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${body}.${signature}` },
      { kind: 'header swapped', token: `${body}.${head}.${signature}` },
    ),
    // Under node's 16 KiB of request headers (past it, node answers 431 itself, before any app code).
    fc.integer({ min: 4000, max: 10_000 }).map((size) => ({
      kind: 'huge, signed',
      token: signed({ alg: 'HS256', typ: 'JWT' }, { ...payload, pad: 'p'.repeat(size) }, TEST_JWT_SECRET),
    })),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).map((text) => ({ kind: 'non-ASCII', token: `${head}.${text}.${signature}` })),
    claims.map((odd) => ({ kind: 'odd claims, signed', token: signed({ alg: 'HS256', typ: 'JWT' }, odd, TEST_JWT_SECRET) })),
    fc.string({ unit: 'binary', maxLength: 80 }).map((text) => ({ kind: 'garbage', token: text })),
  );
}

type Placement = 'bearer' | 'scheme' | 'cookie' | 'query';

function placed(token: string, placement: Placement): { headers: Record<string, string>; query: string } {
  const bytes = asHeaderBytes(token);
  if (placement === 'bearer') return { headers: { Authorization: `Bearer ${bytes}` }, query: '' };
  if (placement === 'scheme') return { headers: { Authorization: `Token ${bytes}` }, query: '' };
  if (placement === 'cookie') return { headers: { Cookie: `sse_token=${bytes}` }, query: '' };
  return { headers: {}, query: `access_token=${encodeURIComponent(wellFormed(token))}` };
}

/** A JSON value nested `depth` arrays and objects deep, written as text (building it as a value would be the recursion under test). */
function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

// ---------------------------------------------------------------------------------------------

async function check<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncProperty<Ts>): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, numRuns: RUNS, timeout: HANG_MS * 2, endOnFailure: false });
  } catch (err) {
    throw new Error(`Replay with FUZZ_SEED=${SEED} (FUZZ_RUNS=${RUNS}).\n${(err as Error).message}`);
  }
}

describe(`fuzzing the demo app · ${TEST_ADAPTER} (seed ${SEED}, ${RUNS} runs per property)`, () => {
  let server: DemoServer;
  let userToken: string;

  beforeAll(async () => {
    // Demo tokens on, so that POST /demo/token is fuzzed too; a high limit, as properties open streams fast.
    server = await startDemoServer({ demoTokens: true, maxConnectionsPerUser: 1000 });
    userToken = await signToken('fuzz-user');
  });

  afterEach(async () => {
    closeOpened();
    // Nothing a property did holds a slot once its clients are gone.
    await eventually(async () => (await server.stats()).streams === 0, 5000, 'every fuzzed stream to free its slot');
    // Nothing reached a prototype (bodies with __proto__ and constructor keys).
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expectStillServing();
  });

  afterAll(async () => {
    await server?.close();
  });

  /** The app still serves a stream: a real EventSource gets sse.ready, then an event published to it. */
  async function expectStillServing(): Promise<void> {
    const userId = `fuzz-alive-${Date.now()}`;
    const stream = track(await TestStream.open(server.url, await signToken(userId), { types: ['alive'] }));
    expect(stream.ofType('sse.ready')).toHaveLength(1);
    const id = await server.publishId({ userId, type: 'alive', data: { ok: true } });
    expect((await stream.waitForType('alive')).map((event) => event.id)).toEqual([id]);
    stream.close();
  }

  function pathOf(route: FuzzRoute, id = 'fuzz-id'): string {
    return route.path.replace(':id', encodeURIComponent(id));
  }

  function bodyOf(route: FuzzRoute): { headers: Record<string, string>; body?: string } {
    return route.body ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(route.body) } : { headers: {} };
  }

  describe('tokens: truncated, re-signed, alg swapped, huge, non-ASCII, odd claims, garbage; in a header, a cookie, the query', () => {
    test.each(AUTH_ROUTES.map((route) => [label(route), route] as const))('%s', async (_, route) => {
      const valid = await signToken('fuzz-user', { roles: ['admin'] });
      await check(
        fc.asyncProperty(tokens(valid), fc.constantFrom<Placement>('bearer', 'scheme', 'cookie', 'query'), async ({ kind, token }, placement) => {
          const { headers, query } = placed(token, placement);
          const { headers: bodyHeaders, body } = bodyOf(route);
          const path = `${pathOf(route)}${query ? `?${query}` : ''}`;
          const answer = await send(server.url, { method: route.method, path, headers: { ...headers, ...bodyHeaders }, body });
          expectHandled(answer, `${kind} token (${placement}) on ${label(route)}`);
          // Only a token signed HS256 with the app's secret can get past the guard; and only from the Authorization
          // header, or the cookie on a GET (the demo reads no token from the query string).
          const mayPass = ['odd claims, signed', 'huge, signed'].includes(kind);
          const readFrom = placement === 'bearer' || (placement === 'cookie' && route.method === 'GET');
          if ((!mayPass || !readFrom) && answer.status !== 401) {
            throw new Error(`${kind} token (${placement}) on ${label(route)} was not refused: ${answer.status} ${answer.body.slice(0, 200)}`);
          }
        }),
      );
    });
  });

  describe('Last-Event-ID, in the header and in ?lastEventId=', () => {
    test('GET /sse: a stream always starts; a cursor that is not an id of ours is reported as malformed, quoted exactly', async () => {
      const cursor = fc.oneof(
        nastyString(60),
        fc.tuple(fc.nat(), fc.nat()).map(([ms, seq]) => `${ms}-${seq}`),
        fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.bigInt({ min: 0n, max: 10n ** 20n })).map(([ms, seq]) => `${ms}-${seq}`),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
      );
      let run = 0;
      await check(
        fc.asyncProperty(cursor, fc.boolean(), async (lastEventId, inHeader) => {
          // A header cannot carry control characters, and node trims its ends: those go in the query.
          const viaHeader = inHeader && !new RegExp(HEADER_UNSAFE.source).test(lastEventId) && lastEventId.trim() === lastEventId && lastEventId !== '';
          const token = await signToken(`fuzz-lei-${run++}`);
          const path = viaHeader ? '/sse' : `/sse?lastEventId=${encodeURIComponent(wellFormed(lastEventId))}`;
          // What the server reads: a header's bytes as latin1, the query decoded as UTF-8.
          const sentId = viaHeader ? asHeaderBytes(lastEventId) : wellFormed(lastEventId);
          const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
          if (viaHeader) headers['Last-Event-ID'] = sentId;
          const malformed = sentId !== '' && !/^\d{1,15}-\d{1,15}$/.test(sentId);
          const answer = await send(server.url, { method: 'GET', path, headers }, (body) =>
            body.includes('event: sse.ready') && (!malformed || body.includes('event: sse.loss')) && body.endsWith('\n\n'),
          );
          expectHandled(answer, `Last-Event-ID ${JSON.stringify(lastEventId)}`);
          expect(answer.status).toBe(200);
          const blocks = answer.body.split('\n\n').filter(Boolean);
          expect(blocks[0]).toMatch(/^event: sse\.ready\nid: \d+-\d+\nretry: \d+\ndata: \{.*\}$/);
          if (malformed) {
            // Exactly two more lines: the client's text cannot add a field or an event.
            const loss = blocks[1].split('\n');
            expect(loss).toHaveLength(3);
            expect(loss[0]).toBe('event: sse.loss');
            expect(JSON.parse(loss[2].slice('data: '.length))).toEqual({ reason: 'malformed', lastEventId: sentId });
          }
        }),
      );
    });
  });

  describe('topic lists', () => {
    test('GET /sse?topics=: 200, 400 or 403 exactly as the rules say, in the order they are checked', async () => {
      const topic = fc.oneof(nastyString(30), fc.constantFrom('news', 'admin-alerts', 'sse.job:someone-else', 'chat:x', 'x'.repeat(201)));
      let run = 0;
      await check(
        fc.asyncProperty(fc.array(topic, { maxLength: 25 }), fc.boolean(), async (topics, repeated) => {
          const given = topics.map(wellFormed);
          const query = repeated
            ? given.map((t) => `topics=${encodeURIComponent(t)}`).join('&')
            : `topics=${encodeURIComponent(given.join(','))}`;
          const token = await signToken(`fuzz-topics-${run++}`);
          const answer = await send(server.url, { method: 'GET', path: `/sse?${query}`, headers: { Authorization: `Bearer ${token}` } });
          expectHandled(answer, `topics ${JSON.stringify(topics)}`);
          // The oracle: the demo splits on commas and drops empty names; then the module's checks, in order.
          const asked = [...new Set(given.flatMap((t) => t.split(',')).filter(Boolean))];
          let expected = 200;
          if (asked.length > 20) expected = 400;
          else {
            // Each name in turn is checked, and refused if it is the module's own; then whether the caller may read them.
            for (const name of asked) {
              if (!acceptableName(name)) {
                expected = 400;
                break;
              }
              if (name.startsWith('sse.')) {
                expected = 403;
                break;
              }
            }
            if (expected === 200 && asked.some((name) => name.startsWith('admin'))) expected = 403;
          }
          expect({ topics: asked, status: answer.status }).toEqual({ topics: asked, status: expected });
        }),
      );
    });
  });

  describe('event types and targets with CR, LF, NUL and other characters', () => {
    test('POST /notifications: 202 exactly when every name is acceptable; what is accepted arrives intact, in order', async () => {
      const name = fc.oneof(nastyString(30), fc.constantFrom('note', 'sse.ready', 'sse.x', ''));
      const target = fc.oneof(
        fc.constant({ userId: WATCHED_USER }),
        name.map((userId) => ({ userId })),
        fc.array(fc.oneof(name, fc.constant(WATCHED_USER)), { maxLength: 4 }).map((userIds) => ({ userIds })),
        name.map((topic) => ({ topic })),
      );
      // Events accepted (202) for the watched user; where its history starts for this test.
      const accepted: Array<{ id: string; type: string; data: unknown }> = [];
      const start = await server.publishId({ userId: WATCHED_USER, type: 'start', data: null });
      await check(
        fc.asyncProperty(target, name, fc.jsonValue({ maxDepth: 4 }), async (to, type, data) => {
          const clean = wellFormed;
          const body = {
            ...('userId' in to ? { userId: clean(to.userId) } : {}),
            ...('userIds' in to ? { userIds: to.userIds.map(clean) } : {}),
            ...('topic' in to ? { topic: clean(to.topic) } : {}),
            type: clean(type),
            data,
          };
          const answer = await send(server.url, {
            method: 'POST',
            path: '/notifications',
            headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
          });
          expectHandled(answer, `publish ${JSON.stringify(body).slice(0, 200)}`);
          const names = [body.type, ...(body.userId !== undefined ? [body.userId] : []), ...(body.userIds ?? []), ...(body.topic !== undefined ? [body.topic] : [])];
          const targetOk = body.userIds === undefined || body.userIds.length > 0;
          const ok = targetOk && names.every(acceptableName) && !body.type.startsWith('sse.');
          expect({ body, status: answer.status }).toEqual({ body, status: ok ? 202 : 400 });
          if (ok && (body.userId === WATCHED_USER || body.userIds?.includes(WATCHED_USER))) {
            accepted.push({ id: (JSON.parse(answer.body) as { id: string }).id, type: body.type, data });
          }
        }),
      );
      // The watched user's stream, resumed from the start, replays exactly the accepted events, as the same bytes a
      // live stream gets, whole and in order: no name broke the framing.
      const replay = await send(
        server.url,
        { method: 'GET', path: '/sse', headers: { Authorization: `Bearer ${await signToken(WATCHED_USER)}`, 'Last-Event-ID': start } },
        (body) => body.endsWith('\n\n') && accepted.every((event) => body.includes(`id: ${event.id}\n`)),
      );
      const received = replay.body
        .split('\n\n')
        .filter(Boolean)
        .map((block) => Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)])))
        .filter((fields) => fields.event !== 'sse.ready')
        .map((fields) => ({ id: fields.id, type: fields.event, data: JSON.parse(fields.data) as unknown }));
      expect(received).toEqual(accepted.map((event) => ({ ...event, data: JSON.parse(JSON.stringify(event.data)) as unknown })));
    });
  });

  describe('path parameters with CR, LF, NUL, unicode and broken percent-encoding', () => {
    test.each(PARAM_ROUTES.map((route) => [label(route), route] as const))('%s', async (_, route) => {
      const encoded = fc.oneof(
        nastyString(40).map((id) => encodeURIComponent(wellFormed(id))),
        fc.constantFrom('%', '%Z', '%E0%A4%A', '%C0%AF', '%00', '%0D%0A', '..%2F..%2Fetc', '%25', '%FF%FE'),
        fc.string({ unit: fc.constantFrom('a', '%', '0', 'D', 'A', 'F', '.'), maxLength: 12 }).filter((id) => id !== '' && id !== '.' && id !== '..'),
      );
      const token = route.who === 'admin' ? server.adminToken : userToken;
      await check(
        fc.asyncProperty(encoded, async (id) => {
          const path = route.path.replace(':id', id);
          const answer = await send(server.url, { method: route.method, path, headers: { Authorization: `Bearer ${token}` } });
          expectHandled(answer, `${route.method} ${path}`);
          expect([200, 204, 400, 404]).toContain(answer.status);
        }),
      );
    });
  });

  describe('request bodies: JSON of every type, deep, large, prototype-pollution keys, not JSON, other content types', () => {
    test.each(BODY_ROUTES.map((route) => [label(route), route] as const))('%s', async (_, route) => {
      const token = route.who === 'admin' ? server.adminToken : userToken;
      const jsonText = fc.oneof(
        fc.jsonValue({ maxDepth: 6 }).map((value) => JSON.stringify(value)),
        fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify({ ...route.body, data: value })),
        fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([depth, kind]) => nested(depth, kind)),
        fc
          .tuple(fc.integer({ min: 1, max: 200 }), fc.constantFrom<'array' | 'object'>('array', 'object'))
          .map(([depth, kind]) => JSON.stringify({ ...route.body, data: 0 }).replace('"data":0', `"data":${nested(depth, kind)}`)),
        fc.integer({ min: 60_000, max: 70_000 }).map((size) => JSON.stringify({ ...route.body, data: 'x'.repeat(size) })),
        fc.constantFrom(
          '{"__proto__":{"polluted":true}}',
          `{"__proto__":{"polluted":true},${JSON.stringify(route.body).slice(1)}`,
          `{"constructor":{"prototype":{"polluted":true}},${JSON.stringify(route.body).slice(1)}`,
          JSON.stringify({ ...route.body, data: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') }),
          '',
          'null',
          '[]',
          '"text"',
          '1e400',
          '{"a":1,"a":2}',
        ),
        fc.string({ unit: 'binary', maxLength: 200 }),
      );
      const contentType = fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=latin1',
        undefined,
      );
      await check(
        fc.asyncProperty(jsonText, contentType, async (text, type) => {
          const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
          if (type) headers['Content-Type'] = type;
          const answer = await send(server.url, { method: route.method, path: route.path, headers, body: text });
          expectHandled(answer, `${label(route)} (${type}) ${JSON.stringify(text.slice(0, 120))}`);
          if (Buffer.byteLength(text) > 64 * 1024 && type?.startsWith('application/json') && !type.includes('latin1')) {
            expect(answer.status).toBe(413);
          }
        }),
      );
    });
  });
});
