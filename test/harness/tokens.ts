import { SignJWT } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-for-the-e2e-suites-only';

export interface TokenOptions {
  roles?: string[];
  /** Seconds from now until `exp` (default one hour); negative for an expired token. */
  expiresInSeconds?: number;
  secret?: string;
}

/** An HS256 token as the demo app expects: `sub` is the user, `roles` its roles. */
export async function signToken(userId: string, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: options.roles ?? [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600))
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
