import { randomUUID } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  type OnModuleInit,
} from '@nestjs/common';
import { CLOSE_EVENT, COMPLETED, RESUME_EVENT, type CloseData, type ResumeData } from '../../protocol/reserved-events.js';
import type { Principal } from '../auth/principal.js';
import { Broker } from '../delivery/broker.js';
import { type FailureReport, unlessUnavailable } from '../http/sse-unavailable.error.js';
import { SseMetrics } from '../observability/sse-metrics.js';
import type { AnyEvents, EventMap, EventType } from '../events/event-map.js';
import { comparePositions, formatEventId, parseEventId } from '../events/event-position.js';
import { NotificationService } from '../notification.service.js';
import { SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { NotificationStream } from '../streams/notification-stream.js';
import { JobRegistry, type JobRecord, type JobState } from './job-registry.js';

/** What a job's work is handed: where it writes its events, and when to stop. */
export interface Job<Events extends EventMap = AnyEvents> {
  readonly id: string;
  /** Its resume location, as its `sse.resume` names it. */
  readonly url: string;
  /** Aborts when the job is cancelled (a DELETE on any instance, no reader left after the grace period, shutdown). */
  readonly signal: AbortSignal;
  /** Publishes an event of the job: to its readers now, and to any that resume later. Resolves to its id. */
  publish<Type extends EventType<Events>>(type: Type, data: Events[Type]): Promise<string>;
}

export interface JobStart {
  /** The job's resume location, from its id: a path (or absolute URL) where GET resumes it and DELETE cancels it. */
  url(id: string): string;
}

/** A job running on this instance. */
interface RunningJob {
  readonly controller: AbortController;
  /** Its readers, on every instance. */
  readers: number;
  idleTimer?: NodeJS.Timeout;
  /** Settles once the job has ended and its topic is closed. */
  finished: Promise<void>;
}

/** The signal that reaches the instance running a job: `[op, id]`. */
const JOB_SIGNAL = 'sse.jobs';
type JobSignal = 'cancel' | 'attach' | 'detach';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TOPIC_PREFIX = 'sse.job:';
const COMPLETED_DATA = JSON.stringify({ reason: COMPLETED } satisfies CloseData);
/** The largest sequence an event id may have (see event-position.ts): what comes just before `<ms>-0`. */
const LAST_SEQ = 999_999_999_999_999;
/** How long shutdown waits for cancelled jobs to write their last events. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * Resumable POST streams. A job is started by a request (a chat message) and
 * writes its events to a topic of its own, kept in the history. Its stream
 * begins with `sse.resume`, which names where a broken stream is resumed (GET
 * with `Last-Event-ID`) or the job cancelled (DELETE), on any instance, by its
 * owner only, and ends with `sse.close` `completed` once the job is over. The
 * job runs on the instance that started it; a cancel reaches it through the
 * broker's signals, and so do the comings and goings of its readers: a job
 * that has had none for `jobs.detachedGraceMs` is cancelled.
 */
@Injectable()
export class JobService<Events extends EventMap = AnyEvents> implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(JobService.name);
  /** Where a failure of the registry is told (see `unlessUnavailable`). */
  private readonly failures: FailureReport;
  private readonly running = new Map<string, RunningJob>();
  private keeping?: NodeJS.Timeout;
  /** How long this instance answers for its running jobs without renewing: as long as it does for its connection slots. */
  private readonly leaseMs: number;

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly notifications: NotificationService<Events>,
    private readonly broker: Broker,
    private readonly registry: JobRegistry,
    metrics: SseMetrics,
  ) {
    this.failures = { logger: this.logger, metrics, retryAfterSeconds: options.retryAfterSeconds };
    broker.onSignal(JOB_SIGNAL, (data) => this.heard(data));
    this.leaseMs = options.redis?.leaseTtlMs ?? 30_000;
  }

  onModuleInit(): void {
    // Says that this instance still runs its jobs; and a job that runs longer than the history keeps events keeps its record.
    this.keeping = setInterval(() => {
      this.registry
        .keep([...this.running.keys()], Date.now() + this.leaseMs)
        .catch((err: Error) => this.logger.debug(`Jobs not kept: ${err.message}`));
    }, Math.min(this.leaseMs, this.options.history.ttlMs) / 3);
    this.keeping.unref();
  }

  /**
   * Starts a job for the principal and gives its stream: `sse.resume`, the events `work` publishes, then
   * `sse.close` `completed`. `work` runs once the stream is open, so that it misses nothing; it should stop
   * when `job.signal` aborts, and end with an event of the application's own that says how it ended.
   */
  start(principal: Principal, start: JobStart, work: (job: Job<Events>) => Promise<void>): NotificationStream {
    const id = randomUUID();
    const topic = topicOf(id);
    let record!: JobRecord;
    const admission = unlessUnavailable(this.failures, 'jobs', 'A job cannot be started', async () => {
      const url = start.url(id);
      const resume = JSON.stringify({ url } satisfies ResumeData);
      // The job's first event, so that its topic begins with a position that a resume can start after.
      const resumeEvent = await this.broker.publish({ topic }, RESUME_EVENT, resume);
      const resumeEventId = resumeEvent.id;
      record = { id, ownerId: principal.userId, url, state: 'running', resumeEventId, liveUntil: Date.now() + this.leaseMs };
      await this.registry.create(record);
    });
    return new NotificationStream((sink) => {
      const { resumeEventId, url } = record;
      const close = this.notifications.reservedTopicStream(principal, topic, { lastEventId: resumeEventId, resumeUrl: url }).serve(sink);
      if (sink.closed) return close;
      const detach = this.attach(this.run(record, work), id);
      return () => {
        close();
        detach();
      };
    }, admission);
  }

  /**
   * The rest of one of the principal's jobs after `lastEventId` (without it, from its first event), to its
   * `sse.close`; a finished job's stream replays what is left and ends the same way. 404 for a job that is
   * unknown or someone else's.
   */
  resume(principal: Principal, id: string, lastEventId?: string): NotificationStream {
    let record!: JobRecord;
    const admission = this.ownJob(principal, id).then((found) => void (record = found));
    return new NotificationStream((sink) => {
      const close = this.notifications
        .reservedTopicStream(principal, topicOf(id), { lastEventId: this.resumePoint(record, lastEventId) })
        .serve(sink);
      if (sink.closed || record.state !== 'running') return close;
      const detach = this.attach(this.running.get(id), id);
      return () => {
        close();
        detach();
      };
    }, admission);
  }

  /** Cancels one of the principal's jobs, on whichever instance runs it. 404 for a job that is unknown or someone else's. */
  async cancel(principal: Principal, id: string): Promise<void> {
    const record = await this.ownJob(principal, id);
    if (record.state !== 'running') return;
    const here = this.running.get(id);
    if (here) here.controller.abort();
    else await unlessUnavailable(this.failures, 'jobs', 'The job cannot be cancelled', () => this.signal('cancel', id));
  }

  /** Cancels the jobs running here, and gives them a moment to write how they ended. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.keeping);
    const finishing = [...this.running.values()].map((job) => {
      job.controller.abort();
      return job.finished;
    });
    if (finishing.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(finishing), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
  }

  private run(record: JobRecord, work: (job: Job<Events>) => Promise<void>): RunningJob {
    const controller = new AbortController();
    const topic = topicOf(record.id);
    const job: Job<Events> = {
      id: record.id,
      url: record.url,
      signal: controller.signal,
      publish: (type, data) => this.notifications.publishToTopic(topic, type, data),
    };
    const running: RunningJob = { controller, readers: 0, finished: Promise.resolve() };
    this.running.set(record.id, running);
    running.finished = this.execute(job, work).then((state) => this.finish(running, record.id, state));
    return running;
  }

  private async execute(job: Job<Events>, work: (job: Job<Events>) => Promise<void>): Promise<Exclude<JobState, 'running'>> {
    try {
      await work(job);
      return job.signal.aborted ? 'cancelled' : 'completed';
    } catch (err) {
      if (job.signal.aborted) return 'cancelled';
      this.logger.error(`Job ${job.id} failed: ${(err as Error)?.message ?? String(err)}`);
      return 'failed';
    }
  }

  private async finish(running: RunningJob, id: string, state: Exclude<JobState, 'running'>): Promise<void> {
    this.running.delete(id);
    clearTimeout(running.idleTimer);
    await this.close(id, state).catch((err: Error) =>
      this.logger.warn(`Job ${id} ended (${state}) but could not be closed: ${err.message}`),
    );
  }

  /** Ends the job's topic with `sse.close`, which ends every stream reading it, then records how it ended. */
  private async close(id: string, state: Exclude<JobState, 'running'>): Promise<string> {
    const closed = await this.broker.publish({ topic: topicOf(id) }, CLOSE_EVENT, COMPLETED_DATA);
    await this.registry.finish(id, state, closed.id);
    return closed.id;
  }

  /**
   * A job still running past its `liveUntil` has lost its instance: it is closed here (as failed), so that
   * whoever reads it is not left waiting for events that will never come.
   */
  private async unlessLost(record: JobRecord): Promise<JobRecord> {
    if (record.state !== 'running' || record.liveUntil >= Date.now() || this.running.has(record.id)) return record;
    this.logger.warn(`Job ${record.id} lost the instance that ran it; closing it`);
    const closeEventId = await unlessUnavailable(this.failures, 'jobs', 'The job cannot be closed', () => this.close(record.id, 'failed'));
    return { ...record, state: 'failed', closeEventId };
  }

  /** Counts a reader of a job, where the job runs; returns what uncounts it. */
  private attach(running: RunningJob | undefined, id: string): () => void {
    if (running) this.readerCame(running);
    else void this.signal('attach', id).catch(() => undefined);
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (running) this.readerLeft(running);
      else void this.signal('detach', id).catch(() => undefined);
    };
  }

  private readerCame(running: RunningJob): void {
    running.readers++;
    clearTimeout(running.idleTimer);
  }

  /** With no reader left, a job waits a while for one to resume it, then stops. */
  private readerLeft(running: RunningJob): void {
    if (--running.readers > 0 || running.controller.signal.aborted) return;
    running.idleTimer = setTimeout(() => running.controller.abort(), this.options.jobs.detachedGraceMs);
    running.idleTimer.unref();
  }

  private signal(op: JobSignal, id: string): Promise<void> {
    return this.broker.signal(JOB_SIGNAL, JSON.stringify([op, id]));
  }

  private heard(data: string): void {
    const [op, id] = JSON.parse(data) as [JobSignal, string];
    const running = this.running.get(id);
    if (!running) return;
    if (op === 'cancel') running.controller.abort();
    else if (op === 'attach') this.readerCame(running);
    else this.readerLeft(running);
  }

  private async ownJob(principal: Principal, id: string): Promise<JobRecord> {
    // Not one of our ids: nothing to look up.
    const record = JOB_ID.test(id) ? await unlessUnavailable(this.failures, 'jobs', 'The job cannot be read', () => this.registry.get(id)) : undefined;
    if (!record || record.ownerId !== principal.userId) throw new NotFoundException(`No job ${id} of yours`);
    return this.unlessLost(record);
  }

  /**
   * Where a resume starts. A client that already has the job's `sse.close` (one that reconnects whatever it is
   * told) gets it again, from just before it: nothing else is after it, and its stream ends at once.
   */
  private resumePoint(record: JobRecord, lastEventId: string | undefined): string {
    const cursor = lastEventId || record.resumeEventId;
    const close = record.closeEventId === undefined ? undefined : parseEventId(record.closeEventId);
    const after = parseEventId(cursor);
    if (!close || !after || comparePositions(after, close) < 0) return cursor;
    return formatEventId(close.seq > 0 ? { ms: close.ms, seq: close.seq - 1 } : { ms: close.ms - 1, seq: LAST_SEQ });
  }

}

function topicOf(id: string): string {
  return `${TOPIC_PREFIX}${id}`;
}
