import { Body, Controller, Delete, Headers, HttpCode, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HttpAdapterHost } from '@nestjs/core';
import { parse as parseCookie, serialize } from 'cookie';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { DEMO_CONFIG } from './demo.constants.js';
import { InvalidTokenError, NotificationService, TokenVerifier } from '../sse/index.js';
import { ZodBodyPipe } from './zod-body.pipe.js';
import { type DemoConfig, TOKEN_COOKIE } from './demo.config.js';

const TOKEN_TTL_SECONDS = 3600;

// For a native EventSource, which cannot send headers: HttpOnly, and same-site requests only.
const COOKIE_OPTIONS = { httpOnly: true, sameSite: 'strict', path: '/' } as const;

/** Body of `POST /demo/token`. */
const demoTokenRequestSchema = z.strictObject({
  userId: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\w.@-]+$/, { message: 'userId may hold letters, digits and . _ @ - only' }),
  admin: z.boolean().optional(),
});

/**
 * Signs a short-lived token for any user name, so that the demo page can sign
 * in without an identity provider. Registered only when `DEMO_TOKENS` allows it.
 */
@ApiExcludeController()
@Controller('demo')
export class DemoTokenController {
  constructor(
    @Inject(DEMO_CONFIG) private readonly config: DemoConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly verifier: TokenVerifier,
    private readonly notifications: NotificationService,
  ) {}

  @Post('token')
  @HttpCode(HttpStatus.OK)
  async issue(
    @Body(new ZodBodyPipe(demoTokenRequestSchema)) body: z.output<typeof demoTokenRequestSchema>,
    @Res({ passthrough: true }) response: unknown,
  ): Promise<{ token: string; expiresAt: number }> {
    const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
    const token = await new SignJWT({ roles: body.admin ? ['admin'] : [] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(body.userId)
      // To the millisecond (RFC 7519 allows it), so that a token signed just after a sign-out is newer than it.
      .setIssuedAt(Date.now() / 1000)
      .setExpirationTime(expiresAt)
      .sign(new TextEncoder().encode(this.config.jwtSecret));
    const cookie = serialize(TOKEN_COOKIE, token, { ...COOKIE_OPTIONS, maxAge: TOKEN_TTL_SECONDS });
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', cookie);
    return { token, expiresAt: expiresAt * 1000 };
  }

  /**
   * Signs out: revokes every token the caller holds (the one in the bearer header, else the cookie's), which
   * closes their streams on every instance, and clears the cookie, which the page cannot reach (HttpOnly). A
   * request with no valid token only clears the cookie: there is no one to sign out.
   */
  @Delete('token')
  @HttpCode(HttpStatus.NO_CONTENT)
  async clear(
    @Headers('authorization') authorization: string | undefined,
    @Headers('cookie') cookie: string | undefined,
    @Res({ passthrough: true }) response: unknown,
  ): Promise<void> {
    const expired = serialize(TOKEN_COOKIE, '', { ...COOKIE_OPTIONS, maxAge: 0 });
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', expired);
    // The cookie is SameSite=Strict, so another site cannot sign anyone out with it.
    const token = /^Bearer[ \t]+(\S+)$/i.exec(authorization ?? '')?.[1] ?? parseCookie(cookie ?? '')[TOKEN_COOKIE];
    const principal = token ? await this.verifier.verify(token).catch(signedOutAlready) : undefined;
    if (principal) await this.notifications.closeUser(principal.userId, { revokeTokens: true });
  }
}

/** A token that is no longer valid (expired, malformed) signs no one out; any other failure is one. */
function signedOutAlready(err: unknown): undefined {
  if (err instanceof InvalidTokenError) return undefined;
  throw err;
}
