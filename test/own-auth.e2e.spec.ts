import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  type MessageEvent,
  Module,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { SignJWT } from 'jose';
import type { Observable } from 'rxjs';
import {
  Authenticated,
  CurrentPrincipal,
  InvalidTokenError,
  NotificationService,
  type Principal,
  SseModule,
  SseRoute,
  TokenVerifier,
} from '../src/sse/index.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { TEST_ADAPTER } from './harness/demo-server.js';
import { listenTestApp, type RunningApp } from './harness/test-app.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * Bringing your own authentication, as the README shows it: (a) a
 * `TokenVerifier` of your own (here @nestjs/jwt's `JwtService`) in place of the
 * module's JWT one; (b) the guard your app already has (here an API-key guard,
 * standing in for a passport guard), with `auth.fromRequest` reading the user
 * it leaves on the request. Each is a small Nest app in this process, on the
 * HTTP platform of the Jest project, on an ephemeral port.
 */

async function stop(running: RunningApp | undefined): Promise<void> {
  await running?.app.close();
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/** One request, bounded in time; the body of an answer that is a stream is not waited for. */
async function call(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 3000);
  try {
    const res = await fetch(url, { headers, signal: controller.signal });
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      controller.abort();
      return { status: res.status, headers: res.headers, body: '' };
    }
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch (err) {
    throw new Error(`GET ${url} did not complete: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

afterEach(closeOpened);

async function open(url: string, token: string | undefined, headers?: Record<string, string>): Promise<TestStream> {
  return track(await TestStream.open(url, token, { headers, types: ['note'] }));
}

// ---------------------------------------------------------------------------------------------
// (a) Plug your verifier: tokens checked by @nestjs/jwt's JwtService.

const SECRET = 'own-auth-e2e-secret';

/** Checks tokens with the app's own JwtService; a token it refuses is a 401. */
@Injectable()
class NestJwtVerifier extends TokenVerifier {
  constructor(private readonly jwt: JwtService) {
    super();
  }

  async verify(token: string): Promise<Principal> {
    try {
      const claims = await this.jwt.verifyAsync<{ sub: string; roles?: string[]; exp: number }>(token);
      return { userId: claims.sub, roles: claims.roles ?? [], expiresAt: claims.exp * 1000, claims };
    } catch {
      throw new InvalidTokenError('The token is not valid');
    }
  }
}

@Controller('sse')
class VerifierStreamController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute()
  stream(@CurrentPrincipal() principal: Principal): Observable<MessageEvent> {
    return this.notifications.stream(principal);
  }

  @Get('stats')
  @Authenticated('admin')
  stats() {
    return this.notifications.stats();
  }
}

@Module({
  imports: [
    SseModule.forRootAsync({
      imports: [JwtModule.register({ secret: SECRET })],
      inject: [JwtService],
      useFactory: (jwt: JwtService) => ({ auth: { verifier: new NestJwtVerifier(jwt) } }),
    }),
  ],
  controllers: [VerifierStreamController],
})
class VerifierAppModule {}

describe(`your own TokenVerifier (@nestjs/jwt) · ${TEST_ADAPTER}`, () => {
  let server: RunningApp | undefined;
  let url: string;

  beforeAll(async () => {
    server = await listenTestApp(VerifierAppModule);
    url = server.url;
  });
  afterAll(() => stop(server));

  test('a token it accepts opens a stream of that user, with the roles it gives', async () => {
    const stream = await open(url, await signToken('alice', { secret: SECRET }));
    const other = await open(url, await signToken('bob', { secret: SECRET }));
    const notifications = server!.app.get<NotificationService>(NotificationService);
    const id = await notifications.publishToUser('alice', 'note', { text: 'hi' });
    const [note] = await stream.waitForType('note');
    expect(note).toEqual({ type: 'note', id, data: '{"text":"hi"}' });
    await sleep(100);
    expect(other.ofType('note')).toEqual([]);

    // The roles come from the verifier too.
    const admin = await call(`${url}/sse/stats`, { Authorization: `Bearer ${await signToken('root', { secret: SECRET, roles: ['admin'] })}` });
    expect(admin.status).toBe(200);
    expect(JSON.parse(admin.body)).toMatchObject({ streams: 2, users: 2 });
    const user = await call(`${url}/sse/stats`, { Authorization: `Bearer ${await signToken('alice', { secret: SECRET })}` });
    expect(user.status).toBe(403);
  });

  test('any other token gets 401 with WWW-Authenticate, and no stream', async () => {
    const refused: Record<string, string> = {
      'signed with another secret': `Bearer ${await signToken('alice', { secret: 'another-secret' })}`,
      expired: `Bearer ${await signToken('alice', { secret: SECRET, expiresInSeconds: -60 })}`,
      'not a JWT': 'Bearer not-a-jwt',
      'a malformed header': 'Bearer',
    };
    for (const [what, authorization] of Object.entries(refused)) {
      const answer = await call(`${url}/sse`, { Authorization: authorization });
      expect({ what, status: answer.status }).toEqual({ what, status: 401 });
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.headers.get('www-authenticate')).toBe(
        `Bearer realm="sse", error="invalid_token", error_description="The token is not valid"`,
      );
    }
    const none = await call(`${url}/sse`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="sse"');
    await expect(open(url, await signToken('alice', { secret: 'another-secret' }))).rejects.toMatchObject({ code: 401 });
  });

  test('a principal without a usable user id (a token it accepts that has no sub) is refused with 401, not streamed', async () => {
    const noSubject = await new SignJWT({ roles: [] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const answer = await call(`${url}/sse`, { Authorization: `Bearer ${noSubject}` });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="sse"/);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) Reuse an existing guard: the app's API-key guard authenticates; `auth.fromRequest` reads its user.

interface AppUser {
  id: string;
  permissions: string[];
}

const API_KEYS: Record<string, AppUser> = {
  'key-alice': { id: 'alice', permissions: ['notes:read'] },
  'key-bob': { id: 'bob', permissions: [] },
};

/**
 * The app's own authentication, standing in for a passport guard: a known
 * `x-api-key` sets `req.user`; an unknown one is refused; none at all is let
 * through as an anonymous caller (as an optional-auth strategy would).
 */
@Injectable()
class ApiKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, unknown>; user?: AppUser }>();
    const key = request.headers['x-api-key'];
    if (key === undefined) return true;
    const user = typeof key === 'string' ? API_KEYS[key] : undefined;
    if (!user) throw new UnauthorizedException('Unknown API key');
    request.user = user;
    return true;
  }
}

@UseGuards(ApiKeyGuard)
@Controller('sse')
class GuardedStreamController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute()
  stream(@CurrentPrincipal() principal: Principal): Observable<MessageEvent> {
    return this.notifications.stream(principal);
  }

  /** What the app's own code sees as `req.user` behind the module's guard. */
  @Get('me')
  @Authenticated()
  me(@Req() request: { user?: unknown }, @CurrentPrincipal() principal: Principal) {
    return { user: request.user, principal };
  }
}

@Module({
  imports: [
    SseModule.forRoot({
      auth: {
        fromRequest: (req) => req.user && { userId: req.user.id, roles: req.user.permissions, claims: {} },
      },
      maxConnectionsPerUser: 2,
    }),
  ],
  controllers: [GuardedStreamController],
})
class GuardedAppModule {}

describe(`the app's own guard, read through auth.fromRequest · ${TEST_ADAPTER}`, () => {
  let server: RunningApp | undefined;
  let url: string;

  beforeAll(async () => {
    server = await listenTestApp(GuardedAppModule);
    url = server.url;
  });
  afterAll(() => stop(server));

  test("a request its guard authenticated gets a stream of that user, with the user's permissions as roles", async () => {
    const stream = await open(url, undefined, { 'x-api-key': 'key-alice' });
    const id = await server!.app.get<NotificationService>(NotificationService).publishToUser('alice', 'note', 1);
    expect(await stream.waitForType('note')).toEqual([{ type: 'note', id, data: '1' }]);

    const me = await call(`${url}/sse/me`, { 'x-api-key': 'key-alice' });
    expect(me.status).toBe(200);
    expect((JSON.parse(me.body) as { principal: Principal }).principal).toEqual({
      userId: 'alice',
      roles: ['notes:read'],
      claims: {},
    });
  });

  test('the connection limit still applies: 429 with Retry-After over maxConnectionsPerUser, a slot again once one closes', async () => {
    const first = await open(url, undefined, { 'x-api-key': 'key-bob' });
    await open(url, undefined, { 'x-api-key': 'key-bob' });
    const over = await call(`${url}/sse`, { 'x-api-key': 'key-bob' });
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('10');
    expect(JSON.parse(over.body)).toMatchObject({ statusCode: 429, scope: 'user', limit: 2 });
    // Another user is not affected.
    await open(url, undefined, { 'x-api-key': 'key-alice' });

    first.close();
    let again: TestStream | undefined;
    await eventually(
      async () => {
        again = await open(url, undefined, { 'x-api-key': 'key-bob' }).catch(() => undefined);
        return again !== undefined;
      },
      5000,
      "bob's freed slot",
    );
  });

  test("a request its guard lets through without a user gets 401 from the module's guard; an unknown key gets the app's own 401", async () => {
    const anonymous = await call(`${url}/sse`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="sse"');
    expect(JSON.parse(anonymous.body)).toMatchObject({ statusCode: 401, message: 'The request is not authenticated' });

    const unknown = await call(`${url}/sse`, { 'x-api-key': 'key-mallory' });
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.body)).toMatchObject({ statusCode: 401, message: 'Unknown API key' });
    // A bearer token means nothing here: the app's guard is the authentication.
    const bearer = await call(`${url}/sse`, { Authorization: `Bearer ${await signToken('alice')}` });
    expect(bearer.status).toBe(401);
  });

  test("the app's req.user is left as its own guard set it", async () => {
    const me = await call(`${url}/sse/me`, { 'x-api-key': 'key-alice' });
    expect(me.status).toBe(200);
    expect((JSON.parse(me.body) as { user: unknown }).user).toEqual(API_KEYS['key-alice']);
  });
});
