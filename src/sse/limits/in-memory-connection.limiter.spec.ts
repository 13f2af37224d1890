import type { AcquireResult, ConnectionLease } from './connection-limiter.js';
import { InMemoryConnectionLimiter } from './in-memory-connection.limiter.js';

function leaseOf(result: AcquireResult): ConnectionLease {
  if (!result.granted) throw new Error(`expected a lease, got a refusal (${result.scope}, ${result.limit})`);
  return result.lease;
}

function limiterOf(maxPerUser: number, maxTotal: number) {
  const limiter = new InMemoryConnectionLimiter(maxPerUser, maxTotal, 'instance-1');
  return {
    limiter,
    /** Slots held by one user. */
    held: (userId: string) => limiter.held(userId),
    /** Slots held on the instance. */
    total: async () => (await limiter.usage()).streams,
  };
}

describe('InMemoryConnectionLimiter', () => {
  it('grants up to the per-user limit, then refuses with scope "user"', async () => {
    const { limiter, held, total } = limiterOf(2, 100);
    leaseOf(await limiter.acquire('alice'));
    leaseOf(await limiter.acquire('alice'));
    expect(await limiter.acquire('alice')).toEqual({ granted: false, scope: 'user', limit: 2 });
    expect(await held('alice')).toBe(2);
    expect(await total()).toBe(2);
  });

  it('counts each user separately', async () => {
    const { limiter, held, total } = limiterOf(1, 100);
    leaseOf(await limiter.acquire('alice'));
    expect((await limiter.acquire('alice')).granted).toBe(false);
    leaseOf(await limiter.acquire('bob'));
    expect(await held('alice')).toBe(1);
    expect(await held('bob')).toBe(1);
    expect(await held('carol')).toBe(0);
    expect(await total()).toBe(2);
  });

  it('refuses past the instance limit with scope "instance", whoever asks', async () => {
    const { limiter, held, total } = limiterOf(5, 3);
    leaseOf(await limiter.acquire('a'));
    leaseOf(await limiter.acquire('b'));
    leaseOf(await limiter.acquire('c'));
    expect(await limiter.acquire('d')).toEqual({ granted: false, scope: 'instance', limit: 3 });
    expect(await limiter.acquire('a')).toEqual({ granted: false, scope: 'instance', limit: 3 });
    // A refusal holds nothing.
    expect(await total()).toBe(3);
    expect(await held('d')).toBe(0);
    expect(await held('a')).toBe(1);
  });

  it('reports its usage as one instance', async () => {
    const { limiter } = limiterOf(5, 10);
    leaseOf(await limiter.acquire('a'));
    leaseOf(await limiter.acquire('a'));
    leaseOf(await limiter.acquire('b'));
    expect(await limiter.usage()).toEqual({
      streams: 3,
      users: 2,
      instances: [{ id: 'instance-1', streams: 3, users: 2 }],
    });
  });

  it('frees a slot on release', async () => {
    const { limiter, held } = limiterOf(1, 100);
    const lease = leaseOf(await limiter.acquire('alice'));
    expect((await limiter.acquire('alice')).granted).toBe(false);
    await lease.release();
    expect(await held('alice')).toBe(0);
    leaseOf(await limiter.acquire('alice'));
    expect(await held('alice')).toBe(1);
  });

  it('frees an instance slot on release', async () => {
    const { limiter } = limiterOf(5, 1);
    const lease = leaseOf(await limiter.acquire('a'));
    expect((await limiter.acquire('b')).granted).toBe(false);
    await lease.release();
    leaseOf(await limiter.acquire('b'));
  });

  it('frees only one slot when a lease is released twice', async () => {
    const { limiter, held, total } = limiterOf(2, 100);
    const first = leaseOf(await limiter.acquire('alice'));
    leaseOf(await limiter.acquire('alice'));
    await first.release();
    await first.release();
    await Promise.all([first.release(), first.release()]);
    expect(await held('alice')).toBe(1);
    expect(await total()).toBe(1);
    leaseOf(await limiter.acquire('alice'));
    expect((await limiter.acquire('alice')).granted).toBe(false);
  });

  it("does not free another user's slot when one lease is released twice", async () => {
    const { limiter, held, total } = limiterOf(1, 2);
    const alice = leaseOf(await limiter.acquire('alice'));
    leaseOf(await limiter.acquire('bob'));
    await alice.release();
    await alice.release();
    expect(await total()).toBe(1);
    expect(await held('bob')).toBe(1);
    leaseOf(await limiter.acquire('carol'));
    expect(await limiter.acquire('dave')).toEqual({ granted: false, scope: 'instance', limit: 2 });
  });

  it('goes back to zero once every lease is released', async () => {
    const { limiter, held, total } = limiterOf(3, 10);
    const leases: ConnectionLease[] = [];
    for (const user of ['a', 'a', 'a', 'b', 'c', 'c']) leases.push(leaseOf(await limiter.acquire(user)));
    expect(await total()).toBe(6);
    expect(await held('a')).toBe(3);
    for (const lease of leases) await lease.release();
    for (const lease of leases) await lease.release();
    expect(await total()).toBe(0);
    expect((await limiter.usage()).users).toBe(0);
    expect(await held('a')).toBe(0);
    expect(await held('b')).toBe(0);
    expect(await held('c')).toBe(0);
    // And the full limits are available again.
    for (let i = 0; i < 3; i++) leaseOf(await limiter.acquire('a'));
    expect((await limiter.acquire('a')).granted).toBe(false);
  });
});
