/** Event types the orchestrator publishes and the load generators count. */
export const BROADCAST_TYPE = 'bcast';
export const TARGETED_TYPE = 'target';

/** The data of every bench event (one line of JSON). */
export interface BenchEventData {
  /** Phase: events of an earlier phase are ignored. */
  p: number;
  /** Send time: performance.timeOrigin + performance.now() of the publisher, just before the POST. */
  t: number;
  /** Sequence number within the phase. */
  k: number;
  /** The user a targeted event was sent to. */
  u?: string;
}

/** The clock every process of the run shares (same machine). */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

/** The event type of the reconnect storm's events, broadcast and targeted. */
export const STORM_TYPE = 'storm';

/**
 * The data of a storm event: a broadcast carries its index among the broadcasts
 * (`b`), a targeted event its user and its index among that user's events (`u`, `i`).
 */
export type StormEventData = { b: number } | { u: string; i: number };
