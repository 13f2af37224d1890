import { type AcquireResult, ConnectionLimiter, type ConnectionUsage } from './connection-limiter.js';

/** The embedded limiter: the limits hold for this process. */
export class InMemoryConnectionLimiter extends ConnectionLimiter {
  private readonly perUser = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerUser: number,
    private readonly maxTotal: number,
    private readonly instanceId: string,
  ) {
    super();
  }

  async acquire(userId: string): Promise<AcquireResult> {
    if (this.total >= this.maxTotal) return { granted: false, scope: 'instance', limit: this.maxTotal };
    const held = this.perUser.get(userId) ?? 0;
    if (held >= this.maxPerUser) return { granted: false, scope: 'user', limit: this.maxPerUser };
    this.perUser.set(userId, held + 1);
    this.total++;
    let released = false;
    return {
      granted: true,
      lease: {
        release: async () => {
          if (released) return;
          released = true;
          this.total--;
          const left = this.perUser.get(userId)! - 1;
          if (left === 0) this.perUser.delete(userId);
          else this.perUser.set(userId, left);
        },
      },
    };
  }

  async held(userId: string): Promise<number> {
    return this.perUser.get(userId) ?? 0;
  }

  async usage(): Promise<ConnectionUsage> {
    const here = { id: this.instanceId, streams: this.total, users: this.perUser.size };
    return { streams: here.streams, users: here.users, instances: [here] };
  }
}
