import type { ServerKind } from './cluster.js';

/** How a batch of handshakes went. */
export interface Handshakes {
  opened: number;
  failed: number;
  /** Status codes (or `none`) of the refused ones. */
  statuses: Record<string, number>;
  errors: Record<string, number>;
}

/** One load generator's answer to `open`. */
export interface OpenAnswer extends Handshakes {
  ms: number;
  /** The shared clock when the first connect started, and when the last handshake ended. */
  startedAt: number;
  doneAt: number;
  /** The load generator's CPU over the opening. */
  cpu: NodeJS.CpuUsage;
}

export interface ConnectResult extends Handshakes {
  /** Streams asked for. */
  wanted: number;
  /** From the first connect to the last handshake. */
  ms: number;
  perSecond: number;
  /** Load generator processes, and handshakes in flight over all of them. */
  workers: number;
  concurrency: number;
  /** CPU of the load generators per stream opened (µs), and the busiest one's share of a core. */
  loadCpuPerConnectUs: number;
  loadCpuShare: number;
  /** Server CPU per stream opened (µs), and as a share of one core over the opening (one server). */
  serverCpuPerConnectUs?: number;
  serverCpuShare?: number;
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

/** `NotificationService.publishToUser` called in the server's own process, one call after the other. */
export interface InProcessPublishResult {
  calls: number;
  /** The server's CPU per call (µs), measured around the loop in the server. */
  cpuPerCallUs: number;
  /** Wall time per call (µs). */
  wallPerCallUs: number;
  expected: number;
  received: number;
  lost: number;
  misdelivered: number;
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
  /** Ours: publishToUser in the server's process. */
  inProcess?: InProcessPublishResult;
  churn?: ChurnResult;
  ready?: Record<string, unknown>;
  error?: string;
  ms?: number;
}

/** The reconnect storm: an instance holding resumable streams is killed; its clients resume on the others. */
export interface StormResult {
  instances: number;
  streams: number;
  prefix: string;
  /** Opening the streams on the instance that is then killed. */
  connect?: ConnectResult;
  recovery?: {
    /** From the SIGKILL until every stream is streaming again (its first event on another instance), in ms. */
    allStreamingMs: number;
    p50Ms: number;
    p99Ms: number;
    /** Streams that closed with the kill and reconnected; those streaming again. */
    failedOver: number;
    streaming: number;
    /** Reconnections tried, and retried after a refusal or a failed socket (by status or error). */
    attempts: number;
    retries: number;
    statuses: Record<string, number>;
  };
  published?: { broadcasts: number; targeted: number; refused: number; inWindow: number };
  delivery?: StormDelivery;
  /** From the surviving instances' /metrics, from the kill until every stream streamed again. */
  window?: {
    ms: number;
    historyReadsSent: number;
    historyReadsMerged: number;
    replayedEvents: number;
    lossEvents: number;
    /** Redis's own count of Lua script calls (INFO commandstats), and what the bench can account for. */
    scriptCalls: number;
    /** Whether the Redis was the bench's own, so that its counts are the bench's alone. */
    redisOwn: boolean;
    reconnectAttempts: number;
    publishes: number;
  };
  error?: string;
  ms?: number;
}

/** The storm's clients' own verdict: every broadcast and every event of their user, once each, in id order. */
export interface StormDelivery {
  users: number;
  /** Users that got everything published. */
  caughtUp: number;
  received: number;
  missed: number;
  duplicates: number;
  outOfOrder: number;
  misdelivered: number;
  /** `sse.loss` events the clients got. */
  losses: number;
}

/** One size of the scale scenario: streams held over the instances, a broadcast to all, targeted latency. */
export interface ScaleStage {
  n: number;
  connect: ConnectResult;
  /** Streams each instance holds, and whether the cluster's GET /sse/stats counts them all. */
  perInstance: number[];
  clusterStreams?: number;
  allOpen: boolean;
  rssPerInstanceMB: number[];
  /** (RSS of every instance − RSS before any stream) / streams, in KB. */
  rssPerStreamKB: number;
  broadcast?: BroadcastResult;
  targeted?: TargetedResult;
  burst?: TargetedResult;
}

/** Our server (as the demo ships) on several instances over Redis, at growing numbers of streams. */
export interface ScaleResult {
  instances: number;
  prefix: string;
  loadWorkers?: number;
  sourceAddresses?: number;
  stages: ScaleStage[];
  error?: string;
  ms?: number;
}
