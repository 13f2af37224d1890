// Our servers' Prometheus counters (GET /metrics, as an operator reads them), summed over instances.
import type { Publisher } from './publisher.js';

/** Every sample of a Prometheus text exposition, by `name{labels}` as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (space > 0 && Number.isFinite(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

/** The samples of every instance, added up. */
export async function summedMetrics(instances: readonly Publisher[]): Promise<Map<string, number>> {
  const sum = new Map<string, number>();
  for (const answer of await Promise.all(instances.map((instance) => instance.get('/metrics')))) {
    if (answer.status !== 200) throw new Error(`GET /metrics answered ${answer.status}`);
    for (const [key, value] of samples(answer.body)) sum.set(key, (sum.get(key) ?? 0) + value);
  }
  return sum;
}

/** after − before of one sample (`name{labels}`), 0 where absent. */
export function counterDelta(before: Map<string, number>, after: Map<string, number>, sample: string): number {
  return (after.get(sample) ?? 0) - (before.get(sample) ?? 0);
}

/** after − before of every sample of a metric whatever its labels (e.g. every reason of a loss). */
export function metricDelta(before: Map<string, number>, after: Map<string, number>, name: string): number {
  let delta = 0;
  for (const [key, value] of after) {
    if (key === name || key.startsWith(`${name}{`)) delta += value - (before.get(key) ?? 0);
  }
  return delta;
}
