// The reconnect storm: several instances of our server over Redis. The first holds every stream, each a
// client that keeps its last event id; events are published all along (broadcasts and targeted sends,
// through another instance). The first is SIGKILLed, and its clients reconnect at once to the others
// with their Last-Event-ID, and resume. Measured: the time until every client streams again, whether
// any event was lost (each client checks its own), and how many history reads reached Redis, against
// Redis's own count of script calls.
import type { LoadPool } from './lib/cluster.js';
import { BENCH_JWT_SECRET } from './lib/jwt.js';
import type { Instances } from './lib/instances.js';
import { counterDelta, metricDelta, summedMetrics } from './lib/metrics.js';
import { connectStreams, rng, sleep, waitForStreams } from './lib/phases.js';
import { clock } from './lib/protocol.js';
import { scriptCalls } from './lib/redis.js';
import { percentile } from './lib/histogram.js';
import type { IpcClient } from './lib/ipc.js';
import { type StormPublished, StormPublisher } from './lib/storm-publisher.js';
import type { StormDelivery, StormResult } from './lib/types.js';

export interface StormOptions {
  streams: number;
  /** Targeted sends and broadcasts per second, before and during the kill. */
  targetedRate: number;
  broadcastRate: number;
  /** Publishing before the kill, and after every client streams again. */
  leadMs: number;
  tailMs: number;
  perWorker: number;
  concurrency: number;
  idleMs: number;
}

/** Users of the storm: a set of their own. */
const STORM_OFFSET = 2_000_000;
/** Give up waiting for the clients to stream again, or to catch up, after this long. */
const RECOVERY_TIMEOUT_MS = 180_000;

interface FailoverStatus {
  resumable: number;
  failedOver: number;
  streaming: number;
  attempts: number;
  retries: number;
  statuses: Record<string, number>;
  lastStreamingAt: number;
}

/** On `instances` (warm, holding no streams): the first is the one killed. */
export async function runStorm(
  options: StormOptions,
  pool: LoadPool,
  instances: Instances,
  log: (message: string) => void,
): Promise<StormResult> {
  const result: StormResult = { instances: instances.servers.length, streams: options.streams, prefix: instances.prefix };
  const started = clock();
  const n = options.streams;
  const [victim, ...survivors] = instances.servers;
  const survivorApis = instances.apis.slice(1);
  const { redis } = instances;
  const workers = await pool.forStreams(n, options.perWorker);
  let stormPublisher: StormPublisher | undefined;
  try {
    if (survivors.length === 0) throw new Error('the storm needs two instances at least');
    result.connect = await connectStreams(
      workers,
      {
        ports: [victim.port],
        path: '/sse',
        secret: BENCH_JWT_SECRET,
        users: n,
        userOffset: STORM_OFFSET,
        streamsPerUser: 1,
        concurrency: options.concurrency,
        timeoutMs: 120_000,
        resumable: true,
      },
      [victim],
    );
    const [held] = await waitForStreams([victim], [n], 60_000);
    if (held !== n) throw new Error(`the first instance holds ${held} of ${n} streams`);
    log(`storm: ${n} resumable streams on one instance of ${instances.servers.length}, opened in ${(result.connect.ms / 1000).toFixed(1)} s`);

    stormPublisher = new StormPublisher(survivorApis[0], {
      users: n,
      offset: STORM_OFFSET,
      targetedRate: options.targetedRate,
      broadcastRate: options.broadcastRate,
      random: rng(12),
    });
    stormPublisher.start();
    await sleep(options.leadMs);

    const metricsBefore = await summedMetrics(survivorApis);
    const scriptsBefore = await scriptCalls(redis.url);
    const publishedBefore = stormPublisher.accepted;
    const ports = survivors.map((survivor) => survivor.port);
    await Promise.all(workers.map((worker) => worker.request('failover', { ports, timeoutMs: 60_000, retryMs: 250 })));
    const killedAt = clock();
    await victim.kill();
    log(`storm: instance 1 SIGKILLed with ${n} streams; its clients reconnect to the other ${survivors.length}`);

    let status = await failoverStatus(workers);
    while (status.streaming < n && clock() - killedAt < RECOVERY_TIMEOUT_MS) {
      await sleep(50);
      status = await failoverStatus(workers);
    }
    const windowEnd = clock();
    const metricsAfter = await summedMetrics(survivorApis);
    const scriptsAfter = await scriptCalls(redis.url);
    const publishedInWindow = stormPublisher.accepted - publishedBefore;
    const times = (await Promise.all(workers.map((worker) => worker.request<{ streamingAt: number[] }>('failoverTimes'))))
      .flatMap((answer) => answer.streamingAt.map((at) => at - killedAt))
      .sort((a, b) => a - b);
    result.recovery = {
      allStreamingMs: status.streaming >= n ? status.lastStreamingAt - killedAt : NaN,
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
      failedOver: status.failedOver,
      streaming: status.streaming,
      attempts: status.attempts,
      retries: status.retries,
      statuses: status.statuses,
    };
    result.window = {
      ms: windowEnd - killedAt,
      historyReadsSent: counterDelta(metricsBefore, metricsAfter, 'sse_history_reads_total{result="sent"}'),
      historyReadsMerged: counterDelta(metricsBefore, metricsAfter, 'sse_history_reads_total{result="merged"}'),
      replayedEvents: metricDelta(metricsBefore, metricsAfter, 'sse_replayed_events_total'),
      lossEvents: metricDelta(metricsBefore, metricsAfter, 'sse_loss_events_total'),
      scriptCalls: scriptsAfter - scriptsBefore,
      redisOwn: redis.own,
      reconnectAttempts: status.attempts,
      publishes: publishedInWindow,
    };
    const w = result.window;
    log(
      `storm: ${status.streaming}/${n} streaming again ${(result.recovery.allStreamingMs / 1000).toFixed(2)} s after the kill ` +
        `(p50 ${(result.recovery.p50Ms / 1000).toFixed(2)} s, ${status.retries} retries); history reads ${w.historyReadsSent} sent, ` +
        `${w.historyReadsMerged} merged; Redis ran ${w.scriptCalls} scripts meanwhile`,
    );

    await sleep(options.tailMs);
    const published = await stormPublisher.stop();
    const refused = published.refusedBroadcasts.length + Object.values(published.refusedOwn).reduce((sum, list) => sum + list.length, 0);
    result.published = { broadcasts: published.broadcasts, targeted: published.targeted, refused, inWindow: publishedInWindow };
    result.delivery = await awaitDelivery(workers, published, n, options.idleMs);
    const d = result.delivery;
    log(
      `storm: ${published.broadcasts} broadcasts and ${published.targeted} targeted sends (${refused} refused); ` +
        `${d.caughtUp}/${n} clients got everything: ${d.missed} missed, ${d.duplicates} duplicates, ` +
        `${d.outOfOrder} out of order, ${d.losses} sse.loss`,
    );
  } catch (err) {
    result.error = (err as Error).message;
    log(`storm: ${result.error}`);
  } finally {
    await stormPublisher?.stop();
    // Nothing reconnects any more; the survivors hold no stream of the storm.
    await Promise.all(workers.map((worker) => worker.request('closeAll', {}, 60_000).catch(() => undefined)));
    await Promise.all(workers.map((worker) => worker.request('forgetChecks').catch(() => undefined)));
  }
  result.ms = clock() - started;
  return result;
}

async function failoverStatus(workers: readonly IpcClient[]): Promise<FailoverStatus> {
  const answers = await Promise.all(workers.map((worker) => worker.request<FailoverStatus>('failoverStatus')));
  const sum: FailoverStatus = { resumable: 0, failedOver: 0, streaming: 0, attempts: 0, retries: 0, statuses: {}, lastStreamingAt: 0 };
  for (const answer of answers) {
    sum.resumable += answer.resumable;
    sum.failedOver += answer.failedOver;
    sum.streaming += answer.streaming;
    sum.attempts += answer.attempts;
    sum.retries += answer.retries;
    sum.lastStreamingAt = Math.max(sum.lastStreamingAt, answer.lastStreamingAt);
    for (const [key, value] of Object.entries(answer.statuses)) sum.statuses[key] = (sum.statuses[key] ?? 0) + value;
  }
  return sum;
}

/** Until every client has everything published, or nothing more arrives for `idleMs`; then their verdict. */
async function awaitDelivery(
  workers: readonly IpcClient[],
  published: StormPublished,
  users: number,
  idleMs: number,
): Promise<StormDelivery> {
  await Promise.all(workers.map((worker) => worker.request('expectDelivery', { ...published })));
  const ask = async () => {
    const answers = await Promise.all(workers.map((worker) => worker.request<StormDelivery>('deliveryCheck')));
    const sum: StormDelivery = { users: 0, caughtUp: 0, received: 0, missed: 0, duplicates: 0, outOfOrder: 0, misdelivered: 0, losses: 0 };
    for (const answer of answers) for (const key of Object.keys(sum) as (keyof StormDelivery)[]) sum[key] += answer[key];
    return sum;
  };
  const started = clock();
  let answer = await ask();
  let lastChange = clock();
  while (answer.caughtUp < users && clock() - lastChange < idleMs && clock() - started < RECOVERY_TIMEOUT_MS) {
    await sleep(100);
    const next = await ask();
    if (next.received !== answer.received) lastChange = clock();
    answer = next;
  }
  return answer;
}
