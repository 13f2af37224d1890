import type { Principal } from './principal.js';

/**
 * Where "the tokens of this user issued until then are revoked" is kept, for
 * every instance to read; and what this instance has heard of them, for the
 * moments when that cannot be read. It is both the injection token and the type.
 */
export abstract class RevocationStore {
  /**
   * Records that the user's tokens issued at or before `at` (epoch ms) are revoked. A later revocation
   * replaces an earlier one; an earlier one never replaces a later one.
   */
  abstract revoke(userId: string, at: number): Promise<void>;

  /**
   * When the user's tokens were last revoked (epoch ms), or undefined. The in-memory store answers at once;
   * the guard awaits only what is a promise, so that a connect pays nothing it need not.
   */
  abstract revokedAt(userId: string): number | undefined | Promise<number | undefined>;

  /** Keeps, on this instance, a revocation it has heard of (through the broker, in its order). */
  abstract remember(userId: string, at: number): void;

  /** The user's latest revocation this instance has heard of: answered at once, from this process. */
  abstract remembered(userId: string): number | undefined;
}

/**
 * Whether a revocation at `revokedAt` covers the principal's token. Only a token that proves it was issued
 * later, by an `iat` (seconds, possibly fractional) after the revocation, escapes it: one without `iat` is
 * covered. A whole-second `iat` equal to the revocation's second is covered too, since it cannot tell.
 */
export function isRevoked(principal: Principal, revokedAt: number | undefined): boolean {
  if (revokedAt === undefined) return false;
  const issuedAt = principal.claims.iat;
  return !(typeof issuedAt === 'number' && issuedAt * 1000 > revokedAt);
}
