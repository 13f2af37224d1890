import { Body, Controller, Delete, HttpCode, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HttpAdapterHost } from '@nestjs/core';
import { serialize } from 'cookie';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { DEMO_CONFIG } from './demo.constants.js';
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
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(new TextEncoder().encode(this.config.jwtSecret));
    const cookie = serialize(TOKEN_COOKIE, token, { ...COOKIE_OPTIONS, maxAge: TOKEN_TTL_SECONDS });
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', cookie);
    return { token, expiresAt: expiresAt * 1000 };
  }

  /** Signs out: clears the cookie, which the page cannot reach (HttpOnly). */
  @Delete('token')
  @HttpCode(HttpStatus.NO_CONTENT)
  clear(@Res({ passthrough: true }) response: unknown): void {
    const expired = serialize(TOKEN_COOKIE, '', { ...COOKIE_OPTIONS, maxAge: 0 });
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', expired);
  }
}
