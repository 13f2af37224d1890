import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { Principal } from './principal.js';
import { InvalidSseInputError, assertSseName } from './sse-name.js';
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

  constructor(private readonly options: JwtOptions) {
    super();
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
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.key, {
        algorithms: [this.algorithm],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSeconds ?? 0,
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
    return {
      userId: payload.sub,
      roles: Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : [],
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      claims: payload,
    };
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
