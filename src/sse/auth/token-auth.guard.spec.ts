import { ForbiddenException, SetMetadata, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { type HttpAdapterHost, Reflector } from '@nestjs/core';
import { SignJWT } from 'jose';
import { JwtTokenVerifier } from './jwt-token.verifier.js';
import type { Principal } from './principal.js';
import { REQUIRED_ROLES } from '../sse.constants.js';
import { resolveOptions, type SseAuthOptions } from '../sse.options.js';
import { TokenAuthGuard } from './token-auth.guard.js';
import { InvalidTokenError, TokenVerifier } from './token-verifier.js';
import { SseUnavailableError } from '../http/sse-unavailable.error.js';
import { rejection } from '../../../test/harness/rejection.js';
import { InMemoryRevocationStore } from './in-memory-revocation.store.js';
import { RevocationStore } from './revocation.store.js';

const SECRET = 'token-auth-guard-unit-test-secret';

async function token(sub = 'alice', roles: string[] = [], secret = SECRET): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

interface FakeRequest {
  method?: string;
  headers: Record<string, string | undefined>;
  query?: Record<string, unknown>;
  user?: Principal;
}

/** Records the headers the guard sets through the adapter: the only edge faked here. */
function adapterHost() {
  const calls: { response: unknown; name: string; value: string }[] = [];
  const host = {
    httpAdapter: {
      setHeader: (response: unknown, name: string, value: string) => calls.push({ response, name, value }),
    },
  } as unknown as HttpAdapterHost;
  return { host, calls };
}

function contextOf(request: FakeRequest, response: object, handler: () => void = () => {}, cls: object = class Controller {}) {
  return {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response, getNext: () => undefined }),
    getHandler: () => handler,
    getClass: () => cls,
    getType: () => 'http',
    getArgs: () => [request, response],
  } as unknown as ExecutionContext;
}

function setup(
  auth: Partial<SseAuthOptions> = {},
  verifier: TokenVerifier = new JwtTokenVerifier({ secret: SECRET }),
  revocations: RevocationStore = new InMemoryRevocationStore(3_600_000),
) {
  const options = resolveOptions({ auth: { jwt: { secret: SECRET }, ...auth } });
  const { host, calls } = adapterHost();
  const guard = new TokenAuthGuard(options, verifier, new Reflector(), host, revocations);
  return { guard, calls, revocations };
}

describe('TokenAuthGuard', () => {
  it('does not trust a req.user that something else set (e.g. a passport session)', async () => {
    const { guard } = setup();
    const request: FakeRequest = {
      method: 'GET',
      headers: {},
      user: { userId: 'mallory', roles: ['admin'], claims: {} },
    };
    expect(await rejection(guard.canActivate(contextOf(request, {})))).toBeInstanceOf(UnauthorizedException);
  });

  it('lets a valid bearer token in and leaves its principal on the request', async () => {
    const { guard, calls } = setup();
    const request: FakeRequest = { headers: { authorization: `Bearer ${await token('alice', ['reader'])}` } };
    await expect(guard.canActivate(contextOf(request, {}))).resolves.toBe(true);
    expect(request.user).toMatchObject({ userId: 'alice', roles: ['reader'] });
    expect(calls).toEqual([]);
  });

  it('accepts the scheme in any case and tabs or spaces around the token', async () => {
    const { guard } = setup();
    const jwt = await token();
    for (const header of [`bearer ${jwt}`, `BEARER ${jwt}`, `Bearer\t${jwt}`, `Bearer   ${jwt}  `]) {
      const request: FakeRequest = { headers: { authorization: header } };
      await expect(guard.canActivate(contextOf(request, {}))).resolves.toBe(true);
      expect(request.user?.userId).toBe('alice');
    }
  });

  it('refuses a request without a token with 401 and a bare challenge', async () => {
    const { guard, calls } = setup();
    const response = { marker: 'response' };
    const request: FakeRequest = { headers: {} };
    const err = await rejection(guard.canActivate(contextOf(request, response)));
    expect(err).toBeInstanceOf(UnauthorizedException);
    expect((err as UnauthorizedException).getStatus()).toBe(401);
    expect(calls).toEqual([{ response, name: 'WWW-Authenticate', value: 'Bearer realm="sse"' }]);
    expect(request.user).toBeUndefined();
  });

  it('names the configured realm', async () => {
    const { guard, calls } = setup({ realm: 'notifications' });
    await rejection(guard.canActivate(contextOf({ headers: {} }, {})));
    expect(calls[0].value).toBe('Bearer realm="notifications"');
  });

  it('refuses an invalid token with error="invalid_token", without echoing the token', async () => {
    const { guard, calls } = setup();
    const forged = await token('alice', ['admin'], 'some-other-secret-some-other-secret');
    const request: FakeRequest = { headers: { authorization: `Bearer ${forged}` } };
    const err = await rejection(guard.canActivate(contextOf(request, {})));
    expect(err).toBeInstanceOf(UnauthorizedException);
    expect((err as Error).message).toBe('The token signature is invalid');
    expect(calls).toHaveLength(1);
    expect(calls[0].name).toBe('WWW-Authenticate');
    expect(calls[0].value).toBe(
      'Bearer realm="sse", error="invalid_token", error_description="The token signature is invalid"',
    );
    expect(calls[0].value).not.toContain(forged);
    expect(request.user).toBeUndefined();
  });

  it('refuses an expired token as invalid_token', async () => {
    const { guard, calls } = setup();
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    const err = await rejection(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${expired}` } }, {})));
    expect(err).toBeInstanceOf(UnauthorizedException);
    expect(calls[0].value).toContain('error="invalid_token"');
    expect(calls[0].value).toContain('The token has expired');
  });

  it.each([
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
    ['no token', 'Bearer'],
    ['no token after the space', 'Bearer '],
    ['two tokens', 'Bearer abc.def.ghi jkl.mno.pqr'],
    ['a token with a comma', 'Bearer abc,def'],
    ['the token alone', 'eyJhbGciOiJIUzI1NiJ9.e30.sig'],
    ['an empty header', ''],
  ])('refuses a malformed Authorization header (%s) as an invalid token', async (_label, header) => {
    const { guard, calls } = setup();
    const err = await rejection(guard.canActivate(contextOf({ headers: { authorization: header } }, {})));
    expect(err).toBeInstanceOf(UnauthorizedException);
    expect(calls).toHaveLength(1);
    expect(calls[0].value).toContain('error="invalid_token"');
  });

  it('does not fall back to an enabled cookie or query token when the Authorization header is malformed', async () => {
    const { guard } = setup({ cookie: 'sse_token', queryParameter: true });
    const jwt = await token();
    const request: FakeRequest = {
      method: 'GET',
      headers: { authorization: 'Basic abc', cookie: `sse_token=${jwt}` },
      query: { access_token: jwt },
    };
    await expect(guard.canActivate(contextOf(request, {}))).rejects.toBeInstanceOf(UnauthorizedException);
    expect(request.user).toBeUndefined();
  });

  describe('cookie', () => {
    it('is ignored unless enabled', async () => {
      const { guard, calls } = setup();
      const request: FakeRequest = { method: 'GET', headers: { cookie: `sse_token=${await token()}` } };
      await expect(guard.canActivate(contextOf(request, {}))).rejects.toBeInstanceOf(UnauthorizedException);
      expect(calls[0].value).toBe('Bearer realm="sse"');
      expect(request.user).toBeUndefined();
    });

    it('is used when enabled, by its name only', async () => {
      const { guard } = setup({ cookie: 'sse_token' });
      const jwt = await token('bob');
      const request: FakeRequest = { method: 'GET', headers: { cookie: `theme=dark; sse_token=${jwt}; other=1` } };
      await expect(guard.canActivate(contextOf(request, {}))).resolves.toBe(true);
      expect(request.user?.userId).toBe('bob');

      const head: FakeRequest = { method: 'HEAD', headers: { cookie: `sse_token=${jwt}` } };
      await expect(guard.canActivate(contextOf(head, {}))).resolves.toBe(true);

      const wrongName: FakeRequest = { method: 'GET', headers: { cookie: `session=${jwt}` } };
      await expect(guard.canActivate(contextOf(wrongName, {}))).rejects.toBeInstanceOf(UnauthorizedException);
    });

    it('refuses an invalid cookie token as invalid_token', async () => {
      const { guard, calls } = setup({ cookie: 'sse_token' });
      const request: FakeRequest = { method: 'GET', headers: { cookie: 'sse_token=not-a-jwt' } };
      await expect(guard.canActivate(contextOf(request, {}))).rejects.toBeInstanceOf(UnauthorizedException);
      expect(calls[0].value).toContain('error="invalid_token"');
    });

    it('is ignored on requests that are not GET or HEAD (a cross-site form could send it)', async () => {
      const { guard, calls } = setup({ cookie: 'sse_token' });
      const jwt = await token('bob');
      for (const method of ['POST', 'DELETE', 'PUT', undefined]) {
        const request: FakeRequest = { method, headers: { cookie: `sse_token=${jwt}` } };
        await expect(guard.canActivate(contextOf(request, {}))).rejects.toBeInstanceOf(UnauthorizedException);
        expect(request.user).toBeUndefined();
      }
      expect(calls.map((c) => c.value)).toEqual(Array(4).fill('Bearer realm="sse"'));
    });

    it('gives way to the Authorization header', async () => {
      const { guard } = setup({ cookie: 'sse_token' });
      const request: FakeRequest = {
        method: 'GET',
        headers: { authorization: `Bearer ${await token('header-user')}`, cookie: `sse_token=${await token('cookie-user')}` },
      };
      await guard.canActivate(contextOf(request, {}));
      expect(request.user?.userId).toBe('header-user');
    });
  });

  describe('query parameter', () => {
    it('is ignored unless enabled', async () => {
      const { guard, calls } = setup();
      const request: FakeRequest = { headers: {}, query: { access_token: await token() } };
      await expect(guard.canActivate(contextOf(request, {}))).rejects.toBeInstanceOf(UnauthorizedException);
      expect(calls[0].value).toBe('Bearer realm="sse"');
    });

    it('is used when enabled', async () => {
      const { guard } = setup({ queryParameter: true });
      const request: FakeRequest = { headers: {}, query: { access_token: await token('carol') } };
      await expect(guard.canActivate(contextOf(request, {}))).resolves.toBe(true);
      expect(request.user?.userId).toBe('carol');
    });

    it('ignores a repeated (array) parameter and an empty one', async () => {
      const { guard } = setup({ queryParameter: true });
      const jwt = await token();
      for (const query of [{ access_token: [jwt, jwt] }, { access_token: '' }, {}]) {
        await expect(guard.canActivate(contextOf({ headers: {}, query }, {}))).rejects.toBeInstanceOf(
          UnauthorizedException,
        );
      }
    });
  });

  describe('roles', () => {
    it('refuses with 403 a principal missing a role required on the handler', async () => {
      const { guard } = setup();
      const handler = () => {};
      SetMetadata(REQUIRED_ROLES, ['admin', 'ops'])(handler);
      const request: FakeRequest = { headers: { authorization: `Bearer ${await token('alice', ['ops'])}` } };
      const err = await rejection(guard.canActivate(contextOf(request, {}, handler)));
      expect(err).toBeInstanceOf(ForbiddenException);
      expect((err as ForbiddenException).getStatus()).toBe(403);
      expect((err as Error).message).toBe('This requires the role(s): admin');
    });

    it('lets in a principal with every required role', async () => {
      const { guard } = setup();
      const handler = () => {};
      SetMetadata(REQUIRED_ROLES, ['admin', 'ops'])(handler);
      const request: FakeRequest = { headers: { authorization: `Bearer ${await token('root', ['ops', 'admin'])}` } };
      await expect(guard.canActivate(contextOf(request, {}, handler))).resolves.toBe(true);
    });

    it('reads roles required on the class, the handler overriding them', async () => {
      const { guard } = setup();
      class AdminController {}
      SetMetadata(REQUIRED_ROLES, ['admin'])(AdminController);
      const plain = () => {};
      const open = () => {};
      SetMetadata(REQUIRED_ROLES, [])(open);
      const jwt = await token('alice', []);
      await expect(
        guard.canActivate(contextOf({ headers: { authorization: `Bearer ${jwt}` } }, {}, plain, AdminController)),
      ).rejects.toBeInstanceOf(ForbiddenException);
      await expect(
        guard.canActivate(contextOf({ headers: { authorization: `Bearer ${jwt}` } }, {}, open, AdminController)),
      ).resolves.toBe(true);
    });

    it('still checks roles when the principal was put on the request by an earlier instance of the guard', async () => {
      const { guard } = setup();
      const handler = () => {};
      SetMetadata(REQUIRED_ROLES, ['admin'])(handler);
      const request: FakeRequest = { headers: { authorization: `Bearer ${await token('alice', [])}` } };
      await expect(guard.canActivate(contextOf(request, {}))).resolves.toBe(true);
      await expect(guard.canActivate(contextOf(request, {}, handler))).rejects.toBeInstanceOf(ForbiddenException);
    });
  });

  it('does not answer 401 for a verifier failure that is not about the token', async () => {
    class BrokenVerifier extends TokenVerifier {
      async verify(): Promise<Principal> {
        throw new Error('key server unreachable');
      }
    }
    const { guard, calls } = setup({}, new BrokenVerifier());
    const err = await rejection(guard.canActivate(contextOf({ headers: { authorization: 'Bearer abc' } }, {})));
    expect(err).not.toBeInstanceOf(UnauthorizedException);
    expect((err as Error).message).toBe('key server unreachable');
    expect(calls).toEqual([]);
  });

  it('turns any InvalidTokenError of a custom verifier into a 401, with quotes made safe', async () => {
    class PickyVerifier extends TokenVerifier {
      async verify(): Promise<Principal> {
        throw new InvalidTokenError('The "kid" is unknown');
      }
    }
    const { guard, calls } = setup({}, new PickyVerifier());
    await expect(guard.canActivate(contextOf({ headers: { authorization: 'Bearer abc' } }, {}))).rejects.toBeInstanceOf(
      UnauthorizedException,
    );
    expect(calls[0].value).toBe('Bearer realm="sse", error="invalid_token", error_description="The \'kid\' is unknown"');
  });

  describe('revocation', () => {
    /** A token of alice issued at `iat` seconds (fractional allowed), or now. */
    async function tokenIssuedAt(iat = Date.now() / 1000): Promise<string> {
      return new SignJWT({ roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setIssuedAt(iat)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
    }

    it('refuses a token issued before its user was revoked, as invalid_token, even one the verifier remembers', async () => {
      const { guard, calls, revocations } = setup();
      const jwt = await tokenIssuedAt();
      // Verified, and remembered by the JWT verifier.
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${jwt}` } }, {}))).resolves.toBe(true);
      await revocations.revoke('alice', Date.now() + 1);
      const err = await rejection(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${jwt}` } }, {})));
      expect(err).toBeInstanceOf(UnauthorizedException);
      expect((err as Error).message).toBe('The token has been revoked');
      expect(calls.at(-1)?.value).toBe('Bearer realm="sse", error="invalid_token", error_description="The token has been revoked"');
    });

    it('refuses a token without iat for a revoked user, and lets in one issued after the revocation and other users', async () => {
      const { guard, revocations } = setup();
      const at = Date.now();
      await revocations.revoke('alice', at);
      const withoutIat = await token('alice');
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${withoutIat}` } }, {}))).rejects.toBeInstanceOf(
        UnauthorizedException,
      );
      const later = await tokenIssuedAt((at + 1) / 1000);
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${later}` } }, {}))).resolves.toBe(true);
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${await token('bob')}` } }, {}))).resolves.toBe(true);
    });

    it("holds a principal of the application's own (fromRequest) to the same rule, by its claims' iat", async () => {
      const revocations = new InMemoryRevocationStore(60_000);
      const issued = Date.now() / 1000;
      const { guard } = setup({ fromRequest: (req: { session: Principal }) => req.session, jwt: undefined }, undefined, revocations);
      const session = (iat?: number): FakeRequest & { session: Principal } => ({
        headers: {},
        session: { userId: 'alice', roles: [], claims: iat === undefined ? {} : { iat } },
      });
      await revocations.revoke('alice', issued * 1000 + 10);
      await expect(guard.canActivate(contextOf(session(issued), {}))).rejects.toBeInstanceOf(UnauthorizedException);
      await expect(guard.canActivate(contextOf(session(), {}))).rejects.toBeInstanceOf(UnauthorizedException);
      await expect(guard.canActivate(contextOf(session(issued + 1), {}))).resolves.toBe(true);
    });

    it('answers 503 with Retry-After, never lets the token through, when a store of its own cannot be read', async () => {
      class DownStore extends RevocationStore {
        async revoke(): Promise<void> {}
        remember(): void {}
        remembered(): undefined {
          return undefined;
        }
        async revokedAt(): Promise<number | undefined> {
          throw new Error('ECONNREFUSED');
        }
      }
      const { guard } = setup({}, undefined, new DownStore());
      const request: FakeRequest = { headers: { authorization: `Bearer ${await token('alice')}` } };
      const err = await rejection(guard.canActivate(contextOf(request, {})));
      // The module's filter (or the writer) sets Retry-After from the error.
      expect(err).toBeInstanceOf(SseUnavailableError);
      expect((err as SseUnavailableError).retryAfterSeconds).toBe(10);
      expect((err as Error).message).not.toContain('ECONNREFUSED');
      expect(request.user).toBeUndefined();
    });

    it('awaits a store that answers with a promise', async () => {
      class RemoteStore extends RevocationStore {
        async revoke(): Promise<void> {}
        remember(): void {}
        remembered(): undefined {
          return undefined;
        }
        async revokedAt(userId: string): Promise<number | undefined> {
          return userId === 'alice' ? Date.now() + 1000 : undefined;
        }
      }
      const { guard } = setup({}, undefined, new RemoteStore());
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${await tokenIssuedAt()}` } }, {}))).rejects.toBeInstanceOf(
        UnauthorizedException,
      );
      await expect(guard.canActivate(contextOf({ headers: { authorization: `Bearer ${await token('bob')}` } }, {}))).resolves.toBe(true);
    });
  });
});
