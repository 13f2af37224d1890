import { createHmac, timingSafeEqual } from 'node:crypto';

/** The secret every server of a run verifies with (HS256), handed to them in JWT_SECRET. */
export const BENCH_JWT_SECRET = 'bench-secret-not-for-production-use-0123456789';

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

function base64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url');
}

/** An HS256 JWT as the demo app expects it: `sub` is the user id, `roles` its roles. */
export function signJwt(secret: string, sub: string, roles: string[] = [], ttlSeconds = 4 * 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = base64url(JSON.stringify({ sub, roles, iat: now, exp: now + ttlSeconds }));
  const signature = createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}

/** The publisher's token: an admin, as POST /notifications (and /publish) require. */
export const BENCH_ADMIN_TOKEN = signJwt(BENCH_JWT_SECRET, 'bench-admin', ['admin']);

export interface JwtClaims {
  sub: string;
  roles: string[];
  exp?: number;
}

/**
 * Verifies an HS256 JWT with node:crypto only (the raw server's lean path):
 * the header must say HS256, the signature must match, `exp` must be ahead.
 */
export function verifyJwt(secret: string, token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts;
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') return undefined;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Partial<JwtClaims>;
    if (typeof claims.sub !== 'string' || !claims.sub) return undefined;
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return undefined;
    return { sub: claims.sub, roles: Array.isArray(claims.roles) ? claims.roles : [], exp: claims.exp };
  } catch {
    return undefined;
  }
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined;
  return header.slice(7).trim();
}
