import { createPublicKey, type KeyObject } from 'node:crypto';
import { createVerifier, TokenError } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import type { Principal } from './principal.js';
import { InvalidSseInputError, assertSseName } from '../events/sse-name.js';
import { InvalidTokenError, TokenVerifier } from './token-verifier.js';

export interface JwtOptions {
  /** Shared secret for HS256. */
  secret?: string;
  /** PEM public key (SPKI) for RS256 or ES256; the algorithm follows the key. */
  publicKey?: string;
  issuer?: string | string[];
  audience?: string | string[];
  /** Leeway for `exp` and `nbf`, in seconds (default 0). */
  clockToleranceSeconds?: number;
  /** The claim holding the role names (default `roles`). */
  rolesClaim?: string;
  /**
   * Verified tokens remembered, each until its `exp`, so that a token used again
   * (a reconnect, a publisher's every request) is not verified again (default
   * 10,000; 0 turns it off). Tokens without `exp` are not remembered.
   */
  verifiedCacheSize?: number;
}

type Algorithm = 'HS256' | 'RS256' | 'ES256';

/** The claims of a verified token. */
type Claims = Record<string, unknown> & { sub?: unknown; exp?: unknown };

/**
 * Verifies JWTs with fast-jwt, synchronously with node:crypto: a connect needs
 * no round trip through the thread pool, as WebCrypto's verify does (about 7×
 * the CPU per token here). Exactly one algorithm is accepted, the one the key
 * is for, so `alg: none` and algorithm confusion are refused.
 */
export class JwtTokenVerifier extends TokenVerifier {
  private readonly verifyToken: (token: string) => Claims;
  private readonly toleranceSeconds: number;
  private readonly verified?: LRUCache<string, Principal>;

  constructor(private readonly options: JwtOptions) {
    super();
    this.toleranceSeconds = options.clockToleranceSeconds ?? 0;
    const cacheSize = options.verifiedCacheSize ?? 10_000;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
      throw new Error(`JWT options: verifiedCacheSize must be a whole number, 0 or more, not ${cacheSize}`);
    }
    if (cacheSize > 0) this.verified = new LRUCache({ max: cacheSize });
    if (options.secret && options.publicKey) {
      throw new Error('JWT options: give either a secret (HS256) or a publicKey (RS256/ES256), not both');
    }
    let key: string;
    let algorithm: Algorithm;
    if (options.secret) {
      key = options.secret;
      algorithm = 'HS256';
    } else if (options.publicKey) {
      const publicKey = createPublicKey(options.publicKey);
      algorithm = algorithmOf(publicKey);
      key = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    } else {
      throw new Error('JWT options: a secret (HS256) or a publicKey (RS256/ES256) is required');
    }
    this.verifyToken = createVerifier({
      key,
      algorithms: [algorithm],
      allowedIss: options.issuer,
      allowedAud: options.audience,
      clockTolerance: this.toleranceSeconds * 1000,
      // Remembered here instead, with the principal (see `verifiedCacheSize`).
      cache: false,
    }) as (token: string) => Claims;
  }

  async verify(token: string): Promise<Principal> {
    const known = this.verified?.get(token);
    if (known) return known;
    const principal = this.verifyAnew(token);
    const { expiresAt } = principal;
    if (this.verified && expiresAt !== undefined) {
      // Valid, as the verifier judges `exp`, while the clock is short of exp + tolerance.
      const validMs = expiresAt + this.toleranceSeconds * 1000 - Date.now();
      if (validMs > 0) this.verified.set(token, principal, { ttl: validMs });
    }
    return principal;
  }

  private verifyAnew(token: string): Principal {
    let claims: Claims;
    try {
      claims = this.verifyToken(token);
    } catch (err) {
      throw new InvalidTokenError(describe(err));
    }
    return this.toPrincipal(claims);
  }

  private toPrincipal(claims: Claims): Principal {
    try {
      assertSseName('user id', claims.sub);
    } catch (err) {
      if (err instanceof InvalidSseInputError) throw new InvalidTokenError('The token has no usable "sub" claim');
      throw err;
    }
    const roles = claims[this.options.rolesClaim ?? 'roles'];
    // Frozen: a remembered principal is handed to every request that brings the same token.
    return Object.freeze({
      userId: claims.sub as string,
      roles: Object.freeze(Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : []),
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
      claims: Object.freeze(claims),
    });
  }
}

function algorithmOf(key: KeyObject): Algorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`JWT options: an RSA or P-256 EC public key is required, not ${key.asymmetricKeyType}`);
}

/** What went wrong, for the client; never the token itself. */
function describe(err: unknown): string {
  if (!(err instanceof TokenError)) return 'The token is malformed';
  switch (err.code) {
    case TokenError.codes.expired:
      return 'The token has expired';
    case TokenError.codes.inactive:
      return 'The token\'s "nbf" claim is not acceptable';
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.invalidClaimType: {
      // fast-jwt names the claim only in its message ("The iss claim value is not allowed.").
      const claim = /\b(iss|aud|sub|jti|nonce|exp|nbf|iat)\b/.exec(err.message)?.[1];
      return claim ? `The token's "${claim}" claim is not acceptable` : 'A claim of the token is not acceptable';
    }
    case TokenError.codes.invalidAlgorithm:
      return 'The token is signed with an algorithm that is not accepted';
    case TokenError.codes.invalidSignature:
      return 'The token signature is invalid';
    default:
      return 'The token is malformed';
  }
}
