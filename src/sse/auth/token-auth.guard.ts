import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  Optional,
  Logger,
  UnauthorizedException,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { parse as parseCookie } from 'cookie';
import type { Principal } from './principal.js';
import { PRINCIPAL_KEY, REQUIRED_ROLES, SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { InvalidTokenError, TokenVerifier } from './token-verifier.js';
import { assertSseName } from '../events/sse-name.js';
import { requireSseModule } from '../sse-module-required.js';
import { SseUnavailableError } from '../http/sse-unavailable.error.js';
import { isRevoked, RevocationStore } from './revocation.store.js';

interface IncomingRequest {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
  [PRINCIPAL_KEY]?: Principal;
  user?: unknown;
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/**
 * Verifies the caller's bearer token and leaves its principal on the request
 * (`@CurrentPrincipal()`); with `@RequireRoles()`, also checks its roles.
 * The token comes from `Authorization: Bearer`, and from a cookie or the
 * `access_token` query parameter only where the options turn that on. A token
 * whose user's tokens were revoked after it was issued is refused.
 */
@Injectable()
export class TokenAuthGuard implements CanActivate {
  private readonly logger = new Logger(TokenAuthGuard.name);
  private readonly realm: string;
  private readonly options: ResolvedSseOptions;

  constructor(
    // Optional, so that a module that cannot see SseModule fails with a message naming the fix.
    @Optional() @Inject(SSE_OPTIONS) options: ResolvedSseOptions | undefined,
    @Optional() @Inject(TokenVerifier) private readonly verifier: TokenVerifier | null,
    private readonly reflector: Reflector,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly revocations: RevocationStore,
  ) {
    this.options = requireSseModule(options, 'TokenAuthGuard (@SseRoute, @Authenticated)');
    this.realm = this.options.auth.realm ?? 'sse';
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<IncomingRequest>();
    // Another instance of this guard (class and route level) has already verified it. Only a principal
    // verified here is trusted: `req.user` may have been set by something else (a passport session).
    const principal = request[PRINCIPAL_KEY] ?? (await this.authenticate(request, http.getResponse()));
    request[PRINCIPAL_KEY] = principal;
    // With `fromRequest`, `req.user` is the application's own (its passport user): leave it as it is.
    if (!this.options.auth.fromRequest) request.user = principal;
    const required = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, [
      context.getHandler(),
      context.getClass(),
    ]);
    const missing = required?.filter((role) => !principal.roles.includes(role)) ?? [];
    if (missing.length > 0) throw new ForbiddenException(`This requires the role(s): ${missing.join(', ')}`);
    return true;
  }

  private async authenticate(request: IncomingRequest, response: unknown): Promise<Principal> {
    const principal = await this.identify(request, response);
    // Read from the store that every instance writes to, so that a revocation holds on each the moment it is made.
    let revokedAt = this.revocations.revokedAt(principal.userId);
    if (revokedAt instanceof Promise) revokedAt = await revokedAt.catch((err: Error) => this.unavailable(err));
    if (isRevoked(principal, revokedAt)) this.refuse(response, 'The token has been revoked', 'invalid_token');
    return principal;
  }

  private async identify(request: IncomingRequest, response: unknown): Promise<Principal> {
    const { fromRequest } = this.options.auth;
    if (fromRequest) return this.principalFrom(fromRequest(request), response);
    const token = this.tokenOf(request);
    if (token === undefined) this.refuse(response, 'A bearer token is required');
    let principal: Principal;
    try {
      principal = await this.verifier!.verify(token);
    } catch (err) {
      if (err instanceof InvalidTokenError) this.refuse(response, err.message, 'invalid_token');
      throw err;
    }
    // An application's own verifier is held to what the JWT one checks: a usable user id.
    return this.principalFrom(principal, response);
  }

  /** A principal from the application's own authentication, checked like one from a token. */
  private principalFrom(principal: Principal | undefined, response: unknown): Principal {
    if (!principal) this.refuse(response, 'The request is not authenticated');
    try {
      assertSseName('user id', principal.userId);
    } catch {
      this.refuse(response, 'The authenticated user has no usable id');
    }
    return { ...principal, roles: Array.isArray(principal.roles) ? principal.roles : [] };
  }

  private tokenOf(request: IncomingRequest): string | undefined {
    const header = request.headers.authorization;
    if (typeof header === 'string') {
      // A malformed header is an invalid token, not a missing one.
      return BEARER.exec(header)?.[1] ?? '';
    }
    const { cookie: cookieName, queryParameter } = this.options.auth;
    // A browser sends cookies with cross-site requests too: they authenticate reading a stream, never a change.
    const safe = request.method === 'GET' || request.method === 'HEAD';
    if (cookieName && safe && typeof request.headers.cookie === 'string') {
      const fromCookie = parseCookie(request.headers.cookie)[cookieName];
      if (fromCookie) return fromCookie;
    }
    if (queryParameter) {
      const fromQuery = request.query?.access_token;
      if (typeof fromQuery === 'string' && fromQuery) return fromQuery;
    }
    return undefined;
  }

  /**
   * The revocations cannot be read (a store of the application's own that failed; the Redis one falls back to
   * what it has heard of): 503, never a token let through unchecked.
   */
  private unavailable(err: Error): never {
    this.logger.warn(`Revocations cannot be read: ${err.message}`);
    throw new SseUnavailableError('Tokens cannot be checked right now; retry shortly', this.options.retryAfterSeconds);
  }

  /** 401 with a `WWW-Authenticate` challenge (RFC 6750), set through Nest's adapter. */
  private refuse(response: unknown, message: string, error?: 'invalid_token'): never {
    const challenge = error
      ? `Bearer realm="${this.realm}", error="${error}", error_description="${message.replace(/"/g, "'")}"`
      : `Bearer realm="${this.realm}"`;
    this.adapterHost.httpAdapter.setHeader(response, 'WWW-Authenticate', challenge);
    throw new UnauthorizedException(message);
  }
}
