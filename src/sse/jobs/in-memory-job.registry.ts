import { JobRegistry, type JobRecord, type JobState } from './job-registry.js';

/** The embedded job registry: one process; each record is forgotten `keepMs` after it was last written. */
export class InMemoryJobRegistry extends JobRegistry {
  private readonly jobs = new Map<string, { record: JobRecord; until: number }>();
  private nextSweepAt: number;

  constructor(
    private readonly keepMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.nextSweepAt = now() + keepMs;
  }

  async create(job: JobRecord): Promise<void> {
    const now = this.now();
    this.jobs.set(job.id, { record: job, until: now + this.keepMs });
    if (now >= this.nextSweepAt) this.sweep(now);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const known = this.jobs.get(id);
    if (!known || known.until > this.now()) return known?.record;
    this.jobs.delete(id);
    return undefined;
  }

  async finish(id: string, state: Exclude<JobState, 'running'>, closeEventId: string): Promise<void> {
    const known = await this.get(id);
    if (known) this.jobs.set(id, { record: { ...known, state, closeEventId }, until: this.now() + this.keepMs });
  }

  async keep(ids: readonly string[], liveUntil: number): Promise<void> {
    const until = this.now() + this.keepMs;
    for (const id of ids) {
      const known = this.jobs.get(id);
      if (known) this.jobs.set(id, { record: { ...known.record, liveUntil }, until });
    }
  }

  private sweep(now: number): void {
    for (const [id, known] of this.jobs) if (known.until <= now) this.jobs.delete(id);
    this.nextSweepAt = now + Math.min(this.keepMs, 60_000);
  }
}
