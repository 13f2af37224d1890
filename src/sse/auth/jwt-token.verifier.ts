import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
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

const HMAC_SHA256: HmacImportParams = { name: 'HMAC', hash: 'SHA-256' };

/**
 * Verifies JWTs with jose. Exactly one algorithm is accepted, the one the key
 * is for, so `alg: none` and algorithm confusion are refused.
 */
export class JwtTokenVerifier extends TokenVerifier {
  // jose imports a raw secret anew on every verify (a WebCrypto import per request); a CryptoKey is imported once.
  private readonly key: Promise<CryptoKey> | KeyObject;
  private readonly algorithm: Algorithm;
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
    if (options.secret) {
      this.key = crypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), HMAC_SHA256, false, ['verify']);
      this.algorithm = 'HS256';
    } else if (options.publicKey) {
      const key = createPublicKey(options.publicKey);
      this.key = key;
      this.algorithm = algorithmOf(key);
    } else {
      throw new Error('JWT options: a secret (HS256) or a publicKey (RS256/ES256) is required');
    }
  }

  async verify(token: string): Promise<Principal> {
    const known = this.verified?.get(token);
    if (known) return known;
    const principal = await this.verifyAnew(token);
    const { expiresAt } = principal;
    if (this.verified && expiresAt !== undefined) {
      // Valid, as jose judges `exp`, while the clock is short of exp + tolerance.
      const validMs = expiresAt + this.toleranceSeconds * 1000 - Date.now();
      if (validMs > 0) this.verified.set(token, principal, { ttl: validMs });
    }
    return principal;
  }

  private async verifyAnew(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.key, {
        algorithms: [this.algorithm],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.toleranceSeconds,
      }));
    } catch (err) {
      throw new InvalidTokenError(describe(err));
    }
    return this.toPrincipal(payload);
  }

  private toPrincipal(payload: JWTPayload): Principal {
    try {
      assertSseName('user id', payload.sub);
    } catch (err) {
      if (err instanceof InvalidSseInputError) throw new InvalidTokenError('The token has no usable "sub" claim');
      throw err;
    }
    const roles = payload[this.options.rolesClaim ?? 'roles'];
    // Frozen: a remembered principal is handed to every request that brings the same token.
    return Object.freeze({
      userId: payload.sub,
      roles: Object.freeze(Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : []),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      claims: Object.freeze(payload),
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
  if (err instanceof errors.JWTExpired) return 'The token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `The token's "${err.claim}" claim is not acceptable`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'The token is signed with an algorithm that is not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  return 'The token is malformed';
}
