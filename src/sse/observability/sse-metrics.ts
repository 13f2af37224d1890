import type { LossReason } from '../../protocol/reserved-events.js';

/**
 * Where the module registers its metrics: a prom-client `Registry`, declared by its shape so that
 * the package's declarations do not need prom-client, an optional peer dependency.
 */
export interface SseMetricsRegistry {
  registerMetric(metric: never): void;
  removeSingleMetric(name: string): void;
}

export interface SsePrometheusOptions {
  /** The application's registry (default: prom-client's global one). */
  registry?: SseMetricsRegistry;
  /** Prefix of every metric name (default `sse_`). */
  prefix?: string;
}

export type PublishKind = 'users' | 'topic' | 'broadcast';
export type RejectionReason = 'user' | 'instance' | 'unavailable';
/** What failed against the shared store: the `operation` label of `sse_backplane_errors_total`. */
export type BackplaneOperation = 'publish' | 'close_user' | 'stats' | 'read_log' | 'inbox_read' | 'inbox_write' | 'jobs';

/** What the metrics read when they are collected: this instance's open streams and users. */
export type StreamCounts = () => { streams: number; users: number };

/**
 * What the module counts. It is both the injection token and the type; unless
 * metrics are turned on (`metrics` option), nothing is counted.
 */
export abstract class SseMetrics {
  abstract published(kind: PublishKind): void;
  abstract delivered(streams: number): void;
  abstract replayed(events: number): void;
  abstract lost(reason: LossReason): void;
  /** A history read for a resume: sent to the store, or merged into an identical one in flight. */
  abstract historyRead(merged: boolean): void;
  abstract rejected(reason: RejectionReason): void;
  abstract slowClientDropped(): void;
  abstract backplaneError(operation: BackplaneOperation): void;
  abstract watch(counts: StreamCounts): void;
}

export class NoSseMetrics extends SseMetrics {
  published(): void {}
  delivered(): void {}
  replayed(): void {}
  lost(): void {}
  historyRead(): void {}
  rejected(): void {}
  slowClientDropped(): void {}
  backplaneError(): void {}
  watch(): void {}
}
