// Streams at scale: instances of our server over Redis, holding a growing number of authenticated
// streams (10,000, then 100,000), user i on instance i mod instances.
// At each size: RSS per stream, a broadcast that must reach every stream, and targeted latency across
// instances. The load generators are several processes (one holds at most ~19,900 sockets here), each
// with a source address of its own (127.0.0.2, 127.0.0.3, …): loopback gives about 28,000 ephemeral
// ports per source address.
import type { LoadPool } from './lib/cluster.js';
import type { Instances } from './lib/instances.js';
import { BENCH_JWT_SECRET } from './lib/jwt.js';
import { broadcastPhase, connectStreams, targetedPhase, waitForStreams } from './lib/phases.js';
import { clock } from './lib/protocol.js';
import type { ScaleResult, ScaleStage } from './lib/types.js';

export interface ScaleOptions {
  /** The numbers of streams held, growing: the first is the reference of the ratios. */
  stages: number[];
  /** Streams per load generator process. */
  perWorker: number;
  broadcastEvents: number;
  targetedSends: number;
  targetedRate: number;
  /** Sends of the burst (at the first size), as fast as 32 in flight allow. */
  burst: number;
  concurrency: number;
  idleMs: number;
}

/** Users of the scale scenario: a set of their own. */
const SCALE_OFFSET = 3_000_000;

/** The source address of load generator `i`: one per process, so that none runs out of ephemeral ports. */
export function sourceAddressOf(worker: number): string {
  if (worker > 250) throw new Error('at most 251 load generators, one source address each (127.0.0.2 … 127.0.0.252)');
  return `127.0.0.${2 + worker}`;
}

/** On `instances` (warm, holding no streams); leaves them holding none. */
export async function runScale(
  options: ScaleOptions,
  pool: LoadPool,
  instances: Instances,
  log: (message: string) => void,
): Promise<ScaleResult> {
  const { servers, apis } = instances;
  const result: ScaleResult = { instances: servers.length, prefix: instances.prefix, stages: [] };
  const started = clock();
  const stages = [...options.stages].sort((a, b) => a - b);
  const workers = await pool.forStreams(stages[stages.length - 1], options.perWorker);
  result.loadWorkers = result.sourceAddresses = workers.length;
  try {
    const ports = servers.map((server) => server.port);
    const publisher = apis[0];
    const baseline = await Promise.all(servers.map(async (server) => (await server.stats()).rss));
    // User u streams to instance u mod instances.
    const perInstance = (users: number) =>
      ports.map((_, i) => {
        let count = 0;
        for (let u = SCALE_OFFSET; u < SCALE_OFFSET + users; u++) if (u % ports.length === i) count++;
        return count;
      });
    let held = 0;
    for (const [index, n] of stages.entries()) {
      const connect = await connectStreams(
        workers,
        {
          ports,
          path: '/sse',
          secret: BENCH_JWT_SECRET,
          users: n - held,
          userOffset: SCALE_OFFSET + held,
          streamsPerUser: 1,
          concurrency: options.concurrency,
          timeoutMs: 120_000,
          localAddresses: (worker) => [sourceAddressOf(worker)],
        },
        servers,
      );
      held = n;
      const counts = await waitForStreams(servers, perInstance(n), 120_000);
      const after = await Promise.all(servers.map((server) => server.stats()));
      const cluster = await publisher.get('/sse/stats');
      const clusterStreams = cluster.status === 200 ? (JSON.parse(cluster.body) as { streams: number }).streams : undefined;
      const total = counts.reduce((sum, value) => sum + value, 0);
      const stage: ScaleStage = {
        n,
        connect,
        perInstance: counts,
        clusterStreams,
        allOpen: total === n && clusterStreams === n,
        rssPerInstanceMB: after.map((stats) => stats.rss / 1024 / 1024),
        rssPerStreamKB: after.reduce((sum, stats, i) => sum + stats.rss - baseline[i], 0) / Math.max(1, total) / 1024,
      };
      result.stages.push(stage);
      log(
        `scale: ${total}/${n} streams over ${servers.length} instances (${counts.join(' + ')}); ` +
          `${connect.failed} failed; opened at ${Math.round(connect.perSecond)}/s; ${stage.rssPerStreamKB.toFixed(1)} KB RSS per stream`,
      );
      stage.broadcast = await broadcastPhase(publisher, workers, servers, {
        events: options.broadcastEvents,
        streams: n,
        idleMs: options.idleMs,
      });
      log(`scale: broadcast to ${n}: ${stage.broadcast.complete} streams got all ${options.broadcastEvents}, ${stage.broadcast.missing} missing`);
      stage.targeted = await targetedPhase(publisher, workers, servers, {
        sends: options.targetedSends,
        rate: options.targetedRate,
        users: n,
        userOffset: SCALE_OFFSET,
        streamsPerUser: 1,
        seed: 7 + index,
        publishingPort: ports[0],
      });
      const t = stage.targeted;
      log(
        `scale: at ${n}, targeted across instances p50 ${t.crossInstance?.p50.toFixed(2)} ms, p99 ${t.crossInstance?.p99.toFixed(2)} ms ` +
          `(same instance p99 ${t.sameInstance?.p99.toFixed(2)} ms), ${t.lost} lost`,
      );
      if (index === 0 && options.burst > 0) {
        stage.burst = await targetedPhase(publisher, workers, servers, {
          sends: options.burst,
          rate: 0,
          concurrency: 32,
          users: n,
          userOffset: SCALE_OFFSET,
          streamsPerUser: 1,
          seed: 8,
          publishingPort: ports[0],
        });
        log(`scale: burst of ${options.burst} sends: ${Math.round(stage.burst.deliveriesPerSecond ?? 0)} deliveries/s, ${stage.burst.lost} lost`);
      }
    }
  } catch (err) {
    result.error = (err as Error).message;
    log(`scale: ${result.error}`);
  } finally {
    await Promise.all(workers.map((worker) => worker.request('closeAll', {}, 120_000).catch(() => undefined)));
    await waitForStreams(servers, servers.map(() => 0), 60_000);
  }
  result.ms = clock() - started;
  return result;
}
