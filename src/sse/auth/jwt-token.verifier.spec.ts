import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';
import { JwtTokenVerifier } from './jwt-token.verifier.js';
import { InvalidTokenError } from './token-verifier.js';

const SECRET = 'unit-test-secret-that-is-long-enough-for-hs256';
const nowSeconds = () => Math.floor(Date.now() / 1000);

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

interface SignOptions {
  alg?: 'HS256' | 'RS256' | 'ES256';
  key?: Uint8Array | KeyObject;
  sub?: string | null;
  exp?: number | null;
  nbf?: number;
  iss?: string;
  aud?: string;
}

/** A token with `sub` alice, `roles` and an hour to live unless told otherwise. */
async function sign(claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT({ roles: ['reader'], ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub ?? 'alice');
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? nowSeconds() + 3600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  if (options.iss !== undefined) jwt.setIssuer(options.iss);
  if (options.aud !== undefined) jwt.setAudience(options.aud);
  return jwt.sign(options.key ?? new TextEncoder().encode(SECRET));
}

/** Verifies, expecting an InvalidTokenError whose message does not give the token (or any part of it) back. */
async function refusal(verifier: JwtTokenVerifier, token: string): Promise<InvalidTokenError> {
  let caught: unknown;
  try {
    await verifier.verify(token);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidTokenError);
  const err = caught as InvalidTokenError;
  expect(err.name).toBe('InvalidTokenError');
  expect(err.message.length).toBeGreaterThan(0);
  if (token) expect(err.message).not.toContain(token);
  for (const part of token.split('.')) {
    if (part.length >= 8) expect(err.message).not.toContain(part);
  }
  return err;
}

describe('JwtTokenVerifier', () => {
  let rsa: { publicKey: KeyObject; privateKey: KeyObject; pem: string };
  let ec: { publicKey: KeyObject; privateKey: KeyObject; pem: string };

  beforeAll(() => {
    const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rsa = { ...rsaPair, pem: rsaPair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
    const ecPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    ec = { ...ecPair, pem: ecPair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  });

  describe('HS256', () => {
    const verifier = new JwtTokenVerifier({ secret: SECRET });

    it('turns a valid token into a principal', async () => {
      const exp = nowSeconds() + 600;
      const token = await sign({ roles: ['admin', 'reader'], tenant: 't1' }, { exp });
      const principal = await verifier.verify(token);
      expect(principal.userId).toBe('alice');
      expect(principal.roles).toEqual(['admin', 'reader']);
      expect(principal.expiresAt).toBe(exp * 1000);
      expect(principal.claims).toMatchObject({ sub: 'alice', tenant: 't1', exp, roles: ['admin', 'reader'] });
      expect(typeof principal.claims.iat).toBe('number');
    });

    it('keeps only string roles, and gives none when the claim is not an array', async () => {
      expect((await verifier.verify(await sign({ roles: ['a', 1, null, 'b', { x: 1 }] }))).roles).toEqual(['a', 'b']);
      expect((await verifier.verify(await sign({ roles: 'admin' }))).roles).toEqual([]);
      expect((await verifier.verify(await sign({ roles: undefined }))).roles).toEqual([]);
    });

    it('reads the roles from the configured claim', async () => {
      const custom = new JwtTokenVerifier({ secret: SECRET, rolesClaim: 'groups' });
      const principal = await custom.verify(await sign({ groups: ['ops'], roles: ['admin'] }));
      expect(principal.roles).toEqual(['ops']);
    });

    it('has no expiresAt for a token without exp', async () => {
      const principal = await verifier.verify(await sign({}, { exp: null }));
      expect(principal.expiresAt).toBeUndefined();
    });

    it('refuses an expired token', async () => {
      const token = await sign({}, { exp: nowSeconds() - 10 });
      const err = await refusal(verifier, token);
      expect(err.message).toBe('The token has expired');
    });

    it('accepts a just-expired token within the configured clock tolerance', async () => {
      const lenient = new JwtTokenVerifier({ secret: SECRET, clockToleranceSeconds: 60 });
      const token = await sign({}, { exp: nowSeconds() - 10 });
      await expect(lenient.verify(token)).resolves.toMatchObject({ userId: 'alice' });
    });

    it('refuses a token whose nbf is in the future', async () => {
      const token = await sign({}, { nbf: nowSeconds() + 120 });
      const err = await refusal(verifier, token);
      expect(err.message).toBe('The token\'s "nbf" claim is not acceptable');
    });

    it('refuses a token signed with another secret', async () => {
      const token = await sign({}, { key: new TextEncoder().encode('another-secret-another-secret-xx') });
      const err = await refusal(verifier, token);
      expect(err.message).toBe('The token signature is invalid');
    });

    it('refuses a token whose payload was changed after signing', async () => {
      const token = await sign({ roles: ['reader'] });
      const [header, , signature] = token.split('.');
      const forged = `${header}.${b64url({ sub: 'alice', roles: ['admin'], exp: nowSeconds() + 3600 })}.${signature}`;
      const err = await refusal(verifier, forged);
      expect(err.message).toBe('The token signature is invalid');
    });

    it('refuses an unsigned alg:none token', async () => {
      const payload = { sub: 'alice', roles: ['admin'], exp: nowSeconds() + 3600 };
      for (const alg of ['none', 'None', 'NONE']) {
        const token = `${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}.`;
        await refusal(verifier, token);
      }
    });

    it('refuses an alg:none token even with a signature part copied from a valid token', async () => {
      const valid = await sign();
      const token = `${b64url({ alg: 'none' })}.${b64url({ sub: 'mallory', exp: nowSeconds() + 3600 })}.${valid.split('.')[2]}`;
      await refusal(verifier, token);
    });

    it.each([
      ['garbage', 'not-a-jwt'],
      ['two parts', 'abc.def'],
      ['empty', ''],
      ['bad base64 header', '%%%.eyJzdWIiOiJhIn0.sig'],
    ])('refuses a malformed token (%s)', async (_label, token) => {
      const err = await refusal(verifier, token);
      expect(err.message).toBe('The token is malformed');
    });

    it('checks the issuer and audience when configured', async () => {
      const strict = new JwtTokenVerifier({ secret: SECRET, issuer: 'https://issuer.example', audience: 'sse' });
      await expect(strict.verify(await sign({}, { iss: 'https://issuer.example', aud: 'sse' }))).resolves.toMatchObject({
        userId: 'alice',
      });
      const wrongIssuer = await refusal(strict, await sign({}, { iss: 'https://evil.example', aud: 'sse' }));
      expect(wrongIssuer.message).toBe('The token\'s "iss" claim is not acceptable');
      const wrongAudience = await refusal(strict, await sign({}, { iss: 'https://issuer.example', aud: 'other' }));
      expect(wrongAudience.message).toBe('The token\'s "aud" claim is not acceptable');
    });

    it('refuses a token without sub', async () => {
      const err = await refusal(verifier, await sign({}, { sub: null }));
      expect(err.message).toBe('The token has no usable "sub" claim');
    });

    it.each([
      ['a newline', 'alice\nevent: x'],
      ['a CR', 'alice\r'],
      ['a NUL', 'ali\u0000ce'],
      ['a comma', 'alice,bob'],
      ['nothing', ''],
      ['too many characters', 'a'.repeat(201)],
    ])('refuses a token whose sub has %s', async (_label, sub) => {
      // setSubject would refuse an empty sub: put it in the claims.
      const token = await sign({ sub }, { sub: null });
      const err = await refusal(verifier, token);
      expect(err.message).toBe('The token has no usable "sub" claim');
    });

    it('refuses a token whose sub is not a string', async () => {
      await refusal(verifier, await sign({ sub: 42 as unknown as string }, { sub: null }));
    });

    it('refuses RS256 and ES256 tokens', async () => {
      const rs = await sign({}, { alg: 'RS256', key: rsa.privateKey });
      expect((await refusal(verifier, rs)).message).toBe('The token is signed with an algorithm that is not accepted');
      const es = await sign({}, { alg: 'ES256', key: ec.privateKey });
      expect((await refusal(verifier, es)).message).toBe('The token is signed with an algorithm that is not accepted');
    });
  });

  describe('RS256', () => {
    it('accepts a token signed with the private key of the configured public key', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: rsa.pem });
      const exp = nowSeconds() + 300;
      const principal = await verifier.verify(await sign({ roles: ['x'] }, { alg: 'RS256', key: rsa.privateKey, exp }));
      expect(principal).toMatchObject({ userId: 'alice', roles: ['x'], expiresAt: exp * 1000 });
    });

    it('refuses a token signed with another RSA key', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: rsa.pem });
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const err = await refusal(verifier, await sign({}, { alg: 'RS256', key: other.privateKey }));
      expect(err.message).toBe('The token signature is invalid');
    });

    it('refuses an HS256 token whose secret is the public key (algorithm confusion)', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: rsa.pem });
      for (const secret of [rsa.pem, rsa.pem.trim()]) {
        const token = await sign({ roles: ['admin'] }, { alg: 'HS256', key: new TextEncoder().encode(secret) });
        const err = await refusal(verifier, token);
        expect(err.message).toBe('The token is signed with an algorithm that is not accepted');
      }
    });

    it('refuses an ES256 token', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: rsa.pem });
      await refusal(verifier, await sign({}, { alg: 'ES256', key: ec.privateKey }));
    });

    it('refuses an unsigned alg:none token', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: rsa.pem });
      await refusal(verifier, `${b64url({ alg: 'none' })}.${b64url({ sub: 'alice' })}.`);
    });
  });

  describe('ES256', () => {
    it('accepts a token signed with the private key of the configured P-256 key', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: ec.pem });
      const principal = await verifier.verify(await sign({ roles: ['y'] }, { alg: 'ES256', key: ec.privateKey }));
      expect(principal).toMatchObject({ userId: 'alice', roles: ['y'] });
    });

    it('refuses RS256 and HS256 (public key as secret) tokens', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: ec.pem });
      await refusal(verifier, await sign({}, { alg: 'RS256', key: rsa.privateKey }));
      await refusal(verifier, await sign({}, { alg: 'HS256', key: new TextEncoder().encode(ec.pem) }));
    });

    it('refuses a token signed with another P-256 key', async () => {
      const verifier = new JwtTokenVerifier({ publicKey: ec.pem });
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const err = await refusal(verifier, await sign({}, { alg: 'ES256', key: other.privateKey }));
      expect(err.message).toBe('The token signature is invalid');
    });
  });

  describe('remembering verified tokens', () => {
    it('gives the same frozen principal for a token used again, without verifying it again', async () => {
      const verifier = new JwtTokenVerifier({ secret: SECRET });
      const token = await sign({ roles: ['admin'] });
      const first = await verifier.verify(token);
      // The same object: nothing was verified or built anew.
      expect(await verifier.verify(token)).toBe(first);
      expect(Object.isFrozen(first) && Object.isFrozen(first.roles) && Object.isFrozen(first.claims)).toBe(true);
    });

    it('refuses a remembered token once it has expired', async () => {
      const verifier = new JwtTokenVerifier({ secret: SECRET });
      // Expires at the next whole second, at most one second from now.
      const exp = nowSeconds() + 1;
      const token = await sign({}, { exp });
      await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice' });
      await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 20));
      expect((await refusal(verifier, token)).message).toBe('The token has expired');
    });

    it('verifies any other string anew: a tampered copy of a remembered token is refused', async () => {
      const verifier = new JwtTokenVerifier({ secret: SECRET });
      const token = await sign({ roles: ['reader'] });
      await verifier.verify(token);
      const [header, , signature] = token.split('.');
      const forged = `${header}.${b64url({ sub: 'alice', roles: ['admin'], exp: nowSeconds() + 3600 })}.${signature}`;
      expect((await refusal(verifier, forged)).message).toBe('The token signature is invalid');
    });

    it('remembers at most verifiedCacheSize tokens, none with 0, and none without exp', async () => {
      const [a, b] = [await sign({ n: 1 }), await sign({ n: 2 })];
      const one = new JwtTokenVerifier({ secret: SECRET, verifiedCacheSize: 1 });
      const firstA = await one.verify(a);
      await one.verify(b);
      expect(await one.verify(a)).not.toBe(firstA);

      const none = new JwtTokenVerifier({ secret: SECRET, verifiedCacheSize: 0 });
      expect(await none.verify(a)).not.toBe(await none.verify(a));

      const remembering = new JwtTokenVerifier({ secret: SECRET });
      const forever = await sign({}, { exp: null });
      expect(await remembering.verify(forever)).not.toBe(await remembering.verify(forever));
    });

    it('refuses a cache size that is not a whole number, 0 or more', () => {
      expect(() => new JwtTokenVerifier({ secret: SECRET, verifiedCacheSize: -1 })).toThrow(/verifiedCacheSize/);
      expect(() => new JwtTokenVerifier({ secret: SECRET, verifiedCacheSize: 1.5 })).toThrow(/verifiedCacheSize/);
    });
  });

  describe('configuration', () => {
    it('needs a secret or a public key, not both', () => {
      expect(() => new JwtTokenVerifier({})).toThrow(/is required/);
      expect(() => new JwtTokenVerifier({ secret: SECRET, publicKey: rsa.pem })).toThrow(/not both/);
    });

    it('refuses keys it has no algorithm for', () => {
      const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' });
      expect(() => new JwtTokenVerifier({ publicKey: p384.toString() })).toThrow(/P-256/);
      const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
      expect(() => new JwtTokenVerifier({ publicKey: ed.toString() })).toThrow(/ed25519/);
    });
  });
});
