import type { Principal } from './principal.js';

/**
 * Turns a bearer token into a principal. It is both the injection token and
 * the type: provide another implementation to plug in your own auth.
 */
export abstract class TokenVerifier {
  /** Rejects with `InvalidTokenError` when the token is not acceptable. */
  abstract verify(token: string): Promise<Principal>;
}

/** A token that is malformed, expired, not yet valid or wrongly signed: answered with 401. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}
