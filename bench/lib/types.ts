import type { ServerKind } from './cluster.js';

export interface ConnectResult {
  /** Streams asked for. */
  wanted: number;
  opened: number;
  failed: number;
  /** Status codes (or `none`) of the refused ones. */
  statuses: Record<string, number>;
  errors: Record<string, number>;
  ms: number;
  perSecond: number;
}

export interface MemoryResult {
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  /** (RSS after connecting − RSS before) / streams, in KB. */
  rssPerStreamKB: number;
  heapPerStreamKB: number;
}

export interface BroadcastResult {
  events: number;
  streams: number;
  /** streams × events. */
  expected: number;
  delivered: number;
  /** Streams that got every event. */
  complete: number;
  incomplete: number;
  missing: number;
  duplicates: number;
  /** Events delivered per second at the clients: delivered / (last receive − first publish). */
  deliveriesPerSecond: number;
  /** From the first publish to the last event received. */
  ms: number;
  publishMs: number;
  publishErrors: Record<string, number>;
  /** Publish-to-receive latency of every delivery, from the clients' histograms (ms). */
  latencyP50: number;
  latencyP99: number;
  serverCpuMs: number;
  /** CPU of the load generators over the phase, as a share of one core each (max over them). */
  loadCpuShare: number;
}

export interface TargetedResult {
  sends: number;
  /** Sends per second as issued (paced), or as completed (burst). */
  ratePerSecond: number;
  streamsPerUser: number;
  expected: number;
  received: number;
  lost: number;
  misdelivered: number;
  publishErrors: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Server CPU (user + system) over the phase / sends, in µs. */
  cpuPerSendUs: number;
  /** Over Redis: latencies at streams on the publishing instance, and on the others. */
  sameInstance?: { count: number; p50: number; p99: number };
  crossInstance?: { count: number; p50: number; p99: number };
  /** For a burst: deliveries per second (first send to last receive). */
  deliveriesPerSecond?: number;
}

export interface ChurnResult {
  churnedPerRound: number;
  rounds: number;
  reconnectFailed: number;
  streamsBefore: number;
  streamsAfter: number;
  countsBefore: Record<string, number>;
  countsAfter: Record<string, number>;
  /** Counts (streams, users, map sizes) that differ after the churn. */
  countsChanged: string[];
  /** GET /sse/stats after the churn (our server). */
  httpStats?: unknown;
  heapBefore: number;
  heapAfterRounds: number[];
  /** heapUsed after gc: last round − first round, in KB (growth once warmed up). */
  heapGrowthKB: number;
  /** heapUsed after gc: after − before, in KB. */
  heapDeltaKB: number;
}

export interface ScenarioResult {
  server: ServerKind;
  n: number;
  streamsPerUser: number;
  users: number;
  streams: number;
  connect?: ConnectResult;
  memory?: MemoryResult;
  broadcast?: BroadcastResult;
  targeted?: TargetedResult;
  churn?: ChurnResult;
  ready?: Record<string, unknown>;
  error?: string;
  ms?: number;
}

export interface RedisResult {
  prefix: string;
  instances: number;
  streams: number;
  connect?: ConnectResult;
  targeted?: TargetedResult;
  burst?: TargetedResult;
  broadcast?: BroadcastResult;
  hold?: {
    wanted: number;
    connect: ConnectResult;
    perInstance: number[];
    rssPerInstanceMB: number[];
    rssPerStreamKB: number;
    clusterStats?: unknown;
    allOpen: boolean;
    broadcast?: BroadcastResult;
  };
  keysCleaned?: number;
  error?: string;
  ms?: number;
}
