import { InMemoryRevocationStore } from './in-memory-revocation.store.js';
import type { Principal } from './principal.js';
import { isRevoked } from './revocation.store.js';

function principal(claims: Record<string, unknown>): Principal {
  return { userId: 'alice', roles: [], claims: { sub: 'alice', ...claims } };
}

describe('InMemoryRevocationStore', () => {
  it('answers when a user was revoked, and nothing for a user who never was', async () => {
    const store = new InMemoryRevocationStore(60_000);
    expect(store.revokedAt('alice')).toBeUndefined();
    await store.revoke('alice', 1_000_500);
    expect(store.revokedAt('alice')).toBe(1_000_500);
    expect(store.revokedAt('bob')).toBeUndefined();
  });

  it('keeps the later of two revocations, in whichever order they come', () => {
    const store = new InMemoryRevocationStore(60_000);
    store.remember('alice', 2000);
    store.remember('alice', 1000);
    expect(store.revokedAt('alice')).toBe(2000);
    store.remember('alice', 3000);
    expect(store.revokedAt('alice')).toBe(3000);
  });

  it('forgets a record ttlMs after it was made, and sweeps forgotten ones away', () => {
    let now = 1_000_000;
    const store = new InMemoryRevocationStore(10_000, () => now);
    store.remember('alice', now);
    store.remember('bob', now);
    now += 9_999;
    expect(store.revokedAt('alice')).toBe(1_000_000);
    now += 1;
    expect(store.revokedAt('alice')).toBeUndefined();
    expect(store.size).toBe(1);
    // The next record past the sweep time drops bob's, which nobody asked about.
    store.remember('carol', now);
    expect(store.size).toBe(1);
  });

  it('replaces a forgotten record with an earlier revocation', () => {
    let now = 5_000_000;
    const store = new InMemoryRevocationStore(1000, () => now);
    store.remember('alice', 5_000_000);
    now += 2000;
    store.remember('alice', 4_000_000);
    expect(store.revokedAt('alice')).toBe(4_000_000);
  });
});

describe('isRevoked', () => {
  const at = 1_700_000_000_300; // a revocation 300 ms into a second

  it('covers nothing without a revocation', () => {
    expect(isRevoked(principal({}), undefined)).toBe(false);
    expect(isRevoked(principal({ iat: 1 }), undefined)).toBe(false);
  });

  it('covers a token issued before, and one without a usable iat', () => {
    expect(isRevoked(principal({ iat: 1_699_999_999 }), at)).toBe(true);
    expect(isRevoked(principal({}), at)).toBe(true);
    expect(isRevoked(principal({ iat: '1800000000' }), at)).toBe(true);
    expect(isRevoked(principal({ iat: null }), at)).toBe(true);
  });

  it('covers a whole-second iat of the revocation\'s own second, which cannot tell before from after', () => {
    expect(isRevoked(principal({ iat: 1_700_000_000 }), at)).toBe(true);
    expect(isRevoked(principal({ iat: 1_700_000_001 }), at)).toBe(false);
  });

  it('tells a fractional iat (to the millisecond) before the revocation from one after it', () => {
    expect(isRevoked(principal({ iat: 1_700_000_000.299 }), at)).toBe(true);
    expect(isRevoked(principal({ iat: 1_700_000_000.3 }), at)).toBe(true);
    expect(isRevoked(principal({ iat: 1_700_000_000.301 }), at)).toBe(false);
  });
});
