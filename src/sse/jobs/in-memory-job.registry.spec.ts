import { InMemoryJobRegistry } from './in-memory-job.registry.js';
import type { JobRecord } from './job-registry.js';

const job: JobRecord = { id: 'j1', ownerId: 'alice', url: '/chat/j1', state: 'running', resumeEventId: '5-0', liveUntil: 1_030_000 };

describe('InMemoryJobRegistry', () => {
  it('gives back a created job, and nothing for an unknown one', async () => {
    const registry = new InMemoryJobRegistry(60_000);
    await registry.create(job);
    expect(await registry.get('j1')).toEqual(job);
    expect(await registry.get('j2')).toBeUndefined();
  });

  it('records how a job ended and its close event, and keeps it keepMs from then', async () => {
    let now = 1_000_000;
    const registry = new InMemoryJobRegistry(10_000, () => now);
    await registry.create(job);
    now += 9_000;
    await registry.finish('j1', 'cancelled', '9-0');
    now += 9_000;
    expect(await registry.get('j1')).toEqual({ ...job, state: 'cancelled', closeEventId: '9-0' });
    now += 1_000;
    expect(await registry.get('j1')).toBeUndefined();
  });

  it('does not bring back a forgotten job when it finishes', async () => {
    let now = 1_000_000;
    const registry = new InMemoryJobRegistry(1000, () => now);
    await registry.create(job);
    now += 1000;
    await registry.finish('j1', 'completed', '9-0');
    expect(await registry.get('j1')).toBeUndefined();
  });

  it('keeps the records of running jobs while they run, with when their instance answers for them until', async () => {
    let now = 1_000_000;
    const registry = new InMemoryJobRegistry(1000, () => now);
    await registry.create(job);
    await registry.create({ ...job, id: 'j2' });
    now += 900;
    await registry.keep(['j1', 'unknown'], 2_000_000);
    now += 900;
    expect(await registry.get('j1')).toEqual({ ...job, liveUntil: 2_000_000 });
    expect(await registry.get('j2')).toBeUndefined();
    expect(await registry.get('unknown')).toBeUndefined();
  });
});
