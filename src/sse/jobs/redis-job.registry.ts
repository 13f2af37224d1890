import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { JobRegistry, type JobRecord, type JobState } from './job-registry.js';

// A record that has expired stays gone: finishing it must not bring back half of it.
// KEYS: the job   ARGV: state, close event id, keepMs
const FINISH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'close', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

// KEYS: jobs   ARGV: live until, keepMs
const KEEP = `
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], 'live', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return 1
`;

/** Job records in Redis, one hash per job, expiring with the job's history. */
export class RedisJobRegistry extends JobRegistry {
  private readonly finishScript: RedisScript;
  private readonly keepScript: RedisScript;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly keepMs: number,
  ) {
    super();
    this.finishScript = backplane.script('sseFinishJob', FINISH);
    this.keepScript = backplane.script('sseKeepJobs', KEEP);
  }

  async create(job: JobRecord): Promise<void> {
    const key = this.backplane.keys.job(job.id);
    const fields = { owner: job.ownerId, url: job.url, state: job.state, resume: job.resumeEventId, live: job.liveUntil };
    await this.backplane.client.multi().hset(key, fields).pexpire(key, this.keepMs).exec();
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const fields = await this.backplane.client.hgetall(this.backplane.keys.job(id));
    if (!fields.owner) return undefined;
    return {
      id,
      ownerId: fields.owner,
      url: fields.url,
      state: fields.state as JobState,
      resumeEventId: fields.resume,
      closeEventId: fields.close,
      liveUntil: Number(fields.live),
    };
  }

  async finish(id: string, state: Exclude<JobState, 'running'>, closeEventId: string): Promise<void> {
    await this.finishScript([this.backplane.keys.job(id)], [state, closeEventId, this.keepMs]);
  }

  async keep(ids: readonly string[], liveUntil: number): Promise<void> {
    if (ids.length === 0) return;
    const keys = ids.map((id) => this.backplane.keys.job(id));
    // On a Redis Cluster, a script's keys must share a slot: one job a script there.
    const batches = this.backplane.isCluster ? keys.map((key) => [key]) : [keys];
    await Promise.all(batches.map((batch) => this.keepScript(batch, [liveUntil, this.keepMs])));
  }
}
