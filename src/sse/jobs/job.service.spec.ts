import { afterEach } from '@jest/globals';
import { ServiceUnavailableException } from '@nestjs/common';
import { InMemoryRevocationStore } from '../auth/in-memory-revocation.store.js';
import type { Principal } from '../auth/principal.js';
import { InMemoryHistoryStore } from '../delivery/in-memory-history.store.js';
import { LocalBroker } from '../delivery/local.broker.js';
import { InMemoryConnectionLimiter } from '../limits/in-memory-connection.limiter.js';
import { NotificationService } from '../notification.service.js';
import { NoSseMetrics } from '../observability/sse-metrics.js';
import { resolveOptions } from '../sse.options.js';
import { InMemoryJobRegistry } from './in-memory-job.registry.js';
import type { JobRecord } from './job-registry.js';
import { type Job, JobService } from './job.service.js';
import { settle, watch } from '../../../test/harness/watched-stream.js';

const alice: Principal = { userId: 'alice', roles: [], claims: { sub: 'alice' } };
const services: Array<{ notifications: NotificationService; jobs: JobService }> = [];

async function createJobs(registry = new InMemoryJobRegistry(60_000)) {
  const options = resolveOptions({ auth: { jwt: { secret: 'unused' } }, jobs: { detachedGraceMs: 50 } });
  const history = new InMemoryHistoryStore(options.history);
  const broker = new LocalBroker(history);
  const notifications = new NotificationService(
    options,
    history,
    broker,
    new InMemoryConnectionLimiter(5, 100, 'unit'),
    new NoSseMetrics(),
    new InMemoryRevocationStore(options.revocationTtlMs),
  );
  await notifications.onModuleInit();
  const jobs = new JobService(options, notifications, broker, registry, new NoSseMetrics());
  jobs.onModuleInit();
  services.push({ notifications, jobs });
  return { jobs, registry, broker };
}

const url = (id: string) => `/jobs/${id}`;

afterEach(async () => {
  for (const { jobs, notifications } of services.splice(0)) {
    await jobs.beforeApplicationShutdown();
    notifications.beforeApplicationShutdown();
  }
});

describe('JobService', () => {
  it('runs the work once the stream is open: sse.resume, its events, then sse.close; the record says completed', async () => {
    const { jobs, registry } = await createJobs();
    let id = '';
    const stream = watch(
      jobs.start(alice, { url }, async (job) => {
        id = job.id;
        await job.publish('step', 1);
        await job.publish('step', 2);
      }),
    );
    await settle();
    await settle();
    expect(stream.types()).toEqual(['sse.resume', 'step', 'step', 'sse.close']);
    expect(stream.messages[0]).toMatchObject({ data: JSON.stringify({ url: `/jobs/${id}` }) });
    expect(stream.state.completed).toBe(true);
    expect(await registry.get(id)).toMatchObject({ state: 'completed', ownerId: 'alice', url: `/jobs/${id}`, closeEventId: stream.messages[3].id });
  });

  it('records a job whose work throws as failed, and still closes its stream', async () => {
    const { jobs, registry } = await createJobs();
    let id = '';
    const stream = watch(
      jobs.start(alice, { url }, async (job) => {
        id = job.id;
        throw new Error('boom');
      }),
    );
    await settle();
    await settle();
    expect(stream.types()).toEqual(['sse.resume', 'sse.close']);
    expect((await registry.get(id))?.state).toBe('failed');
  });

  it('answers 503 before anything when the registry cannot record the job, and runs nothing', async () => {
    class DownRegistry extends InMemoryJobRegistry {
      override async create(): Promise<void> {
        throw new Error('ECONNREFUSED');
      }
    }
    const { jobs } = await createJobs(new DownRegistry(1000));
    let ran = false;
    const stream = watch(jobs.start(alice, { url }, async () => void (ran = true)));
    await settle();
    expect(stream.state.error).toBeInstanceOf(ServiceUnavailableException);
    expect(stream.messages).toEqual([]);
    expect(ran).toBe(false);
  });

  it('runs nothing for a client that left before the job was recorded', async () => {
    const { jobs } = await createJobs();
    let ran = false;
    const stream = watch(jobs.start(alice, { url }, async () => void (ran = true)));
    stream.subscription.unsubscribe();
    await settle();
    expect(ran).toBe(false);
  });

  it('cancels a job with no reader after the grace period, and its work sees the signal', async () => {
    const { jobs, registry } = await createJobs();
    let running!: Job;
    const stream = watch(jobs.start(alice, { url }, (job) => {
      running = job;
      return new Promise((resolve) => job.signal.addEventListener('abort', () => resolve()));
    }));
    await settle();
    stream.subscription.unsubscribe();
    expect(running.signal.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(running.signal.aborted).toBe(true);
    await settle();
    expect((await registry.get(running.id))?.state).toBe('cancelled');
  });

  it('cancels the jobs running here at shutdown', async () => {
    const { jobs, registry } = await createJobs();
    let running!: Job;
    watch(jobs.start(alice, { url }, (job) => {
      running = job;
      return new Promise((resolve) => job.signal.addEventListener('abort', () => resolve()));
    }));
    await settle();
    await jobs.beforeApplicationShutdown();
    expect(running.signal.aborted).toBe(true);
    expect((await registry.get(running.id) as JobRecord).state).toBe('cancelled');
  });

  it('closes, as failed, a running job whose instance stopped answering for it, so that its reader is not left waiting', async () => {
    const { jobs, registry, broker } = await createJobs();
    const id = '00000000-0000-4000-8000-000000000001';
    // Started on an instance that died: its record says running, but nobody has renewed it.
    const resume = await broker.publish({ topic: `sse.job:${id}` }, 'sse.resume', '{"url":"/jobs/x"}');
    const written = await broker.publish({ topic: `sse.job:${id}` }, 'step', '1');
    await registry.create({ id, ownerId: 'alice', url: '/jobs/x', state: 'running', resumeEventId: resume.message.id, liveUntil: Date.now() - 1 });
    const stream = watch(jobs.resume(alice, id));
    await settle();
    await settle();
    expect(stream.types()).toEqual(['step', 'sse.close']);
    expect(stream.messages[0].id).toBe(written.message.id);
    expect(stream.state.completed).toBe(true);
    expect(await registry.get(id)).toMatchObject({ state: 'failed', closeEventId: stream.messages[1].id });
  });

  it('leaves alone a running job whose instance still answers for it', async () => {
    const { jobs, registry, broker } = await createJobs();
    const id = '00000000-0000-4000-8000-000000000002';
    const resume = await broker.publish({ topic: `sse.job:${id}` }, 'sse.resume', '{"url":"/jobs/y"}');
    await registry.create({ id, ownerId: 'alice', url: '/jobs/y', state: 'running', resumeEventId: resume.message.id, liveUntil: Date.now() + 60_000 });
    const stream = watch(jobs.resume(alice, id));
    await settle();
    await settle();
    expect(stream.state.completed).toBe(false);
    expect((await registry.get(id))?.state).toBe('running');
    stream.subscription.unsubscribe();
  });
});
