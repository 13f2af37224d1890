/** Latency histogram: 0.1 ms buckets up to 30 s, the last bucket for anything later. */
export const HIST_RESOLUTION_MS = 0.1;
export const HIST_SIZE = 300_001;

export function histogramIndex(ms: number): number {
  if (!(ms > 0)) return 0;
  const index = Math.floor(ms / HIST_RESOLUTION_MS);
  return index < HIST_SIZE - 1 ? index : HIST_SIZE - 1;
}

/** Non-empty buckets as [index, count] pairs, for IPC. */
export function sparse(histogram: Uint32Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < histogram.length; i++) if (histogram[i] !== 0) out.push([i, histogram[i]]);
  return out;
}

/** Percentiles (0..100) of merged sparse histograms, in ms (bucket midpoints). */
export function histogramPercentiles(parts: [number, number][][], percentiles: number[]): number[] {
  const merged = new Map<number, number>();
  let total = 0;
  for (const part of parts) {
    for (const [index, count] of part) {
      merged.set(index, (merged.get(index) ?? 0) + count);
      total += count;
    }
  }
  const sorted = [...merged].sort((a, b) => a[0] - b[0]);
  return percentiles.map((p) => {
    if (total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * total));
    let seen = 0;
    for (const [index, count] of sorted) {
      seen += count;
      if (seen >= rank) return (index + 0.5) * HIST_RESOLUTION_MS;
    }
    return (sorted[sorted.length - 1][0] + 0.5) * HIST_RESOLUTION_MS;
  });
}

/** Percentile (0..100) of raw samples, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}
