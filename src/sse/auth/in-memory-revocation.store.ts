import { RevocationStore } from './revocation.store.js';

interface Revocation {
  readonly at: number;
  /** When the record may be forgotten (epoch ms): no token it covers is valid any more. */
  readonly until: number;
}

/**
 * The embedded revocation store: one process. Each record is kept for
 * `ttlMs`, then forgotten; one entry per user revoked within that time.
 */
export class InMemoryRevocationStore extends RevocationStore {
  private readonly revocations = new Map<string, Revocation>();
  private nextSweepAt: number;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.nextSweepAt = now() + ttlMs;
  }

  async revoke(userId: string, at: number): Promise<void> {
    this.remember(userId, at);
  }

  /** One process: what it has heard of is all there is. */
  remember(userId: string, at: number): void {
    const now = this.now();
    const known = this.revocations.get(userId);
    if (!known || known.until <= now || known.at < at) this.revocations.set(userId, { at, until: now + this.ttlMs });
    if (now >= this.nextSweepAt) this.sweep(now);
  }

  remembered(userId: string): number | undefined {
    return this.revokedAt(userId);
  }

  revokedAt(userId: string): number | undefined {
    const known = this.revocations.get(userId);
    if (!known) return undefined;
    if (known.until > this.now()) return known.at;
    this.revocations.delete(userId);
    return undefined;
  }

  /** Records kept now. */
  get size(): number {
    return this.revocations.size;
  }

  /** Forgets the records past their time, so that users revoked long ago cost nothing. */
  private sweep(now: number): void {
    for (const [userId, known] of this.revocations) if (known.until <= now) this.revocations.delete(userId);
    this.nextSweepAt = now + Math.min(this.ttlMs, 60_000);
  }
}
