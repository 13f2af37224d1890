/** Where a job is: running, or finished one way or another. */
export type JobState = 'running' | 'completed' | 'failed' | 'cancelled';

/** What every instance knows of a job: whose it is, where to resume it, and whether it still runs. */
export interface JobRecord {
  readonly id: string;
  /** The user who started it: the only one who may resume or cancel it. */
  readonly ownerId: string;
  /** Where to resume it (GET with `Last-Event-ID`) and cancel it (DELETE): the data of its `sse.resume`. */
  readonly url: string;
  readonly state: JobState;
  /** The id of its `sse.resume`, the first event of its topic: a resume without a cursor starts after it. */
  readonly resumeEventId: string;
  /** The id of the `sse.close` that ends its topic, once it has finished. */
  readonly closeEventId?: string;
  /**
   * Until when the instance running it answers for it (epoch ms), renewed while it runs. A job still running
   * past it has lost its instance (it died), and is closed by the next instance asked about it.
   */
  readonly liveUntil: number;
}

/**
 * The records of the jobs of every instance, each kept as long as the history
 * keeps the job's events. It is both the injection token and the type.
 */
export abstract class JobRegistry {
  abstract create(job: JobRecord): Promise<void>;
  /** The job's record, or undefined for one that is unknown or forgotten. */
  abstract get(id: string): Promise<JobRecord | undefined>;
  /** Records how a job ended and the id of its `sse.close`; kept from now on for as long as its events are. */
  abstract finish(id: string, state: Exclude<JobState, 'running'>, closeEventId: string): Promise<void>;
  /** Keeps the records of jobs that are still running here, answering for them until `liveUntil`. */
  abstract keep(ids: readonly string[], liveUntil: number): Promise<void>;
}
