// The measured phases, shared by the single-instance runs, the Redis cluster and the profile.
import { histogramPercentiles, percentile } from './histogram.js';
import { BENCH_JWT_SECRET } from './jwt.js';
import type { IpcClient } from './ipc.js';
import type { ServerHandle } from './cluster.js';
import { BROADCAST_TYPE, clock, TARGETED_TYPE } from './protocol.js';
import type { Publisher } from './publisher.js';
import type { BroadcastResult, ConnectResult, InProcessPublishResult, OpenAnswer, TargetedResult } from './types.js';

let phaseSeq = 0;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded PRNG, so that runs pick the same "random" users. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cpuMs(a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number {
  return (b.user - a.user + b.system - a.system) / 1000;
}

async function serversCpu(servers: readonly ServerHandle[]): Promise<NodeJS.CpuUsage[]> {
  return Promise.all(servers.map(async (server) => (await server.stats(false)).cpu));
}

function cpuDeltaMs(before: NodeJS.CpuUsage[], after: NodeJS.CpuUsage[]): number {
  return before.reduce((sum, cpu, i) => sum + cpuMs(cpu, after[i]), 0);
}

function count(into: Record<string, number>, key: string | number): void {
  into[key] = (into[key] ?? 0) + 1;
}

export interface ConnectPlan {
  ports: number[];
  path: string;
  secret: string;
  users: number;
  streamsPerUser: number;
  /** First user index (users are `u<index>`). */
  userOffset?: number;
  /** Handshakes in flight, over all workers. */
  concurrency: number;
  timeoutMs?: number;
  /** The source addresses of each worker's sockets (by the worker's index), past the ephemeral ports of one. */
  localAddresses?: (worker: number) => string[] | undefined;
  /** Streams that check their storm events, and reconnect elsewhere once failover is armed. */
  resumable?: boolean;
}

/**
 * Splits the users evenly over the workers. Each makes its streams ready first (tokens signed, untimed),
 * then all open theirs at once, `concurrency` handshakes in flight over all of them: the time is from the
 * first connect to the last handshake, on the clock the processes share. With `servers`, their CPU over
 * the opening too.
 */
export async function connectStreams(
  workers: readonly IpcClient[],
  plan: ConnectPlan,
  servers: readonly ServerHandle[] = [],
): Promise<ConnectResult> {
  const offset = plan.userOffset ?? 0;
  const per = Math.ceil(plan.users / workers.length);
  await Promise.all(
    workers.map((worker, i) =>
      worker.request(
        'prepare',
        {
          userStart: offset + Math.min(plan.users, i * per),
          userEnd: offset + Math.min(plan.users, (i + 1) * per),
          streamsPerUser: plan.streamsPerUser,
          ports: plan.ports,
          host: '127.0.0.1',
          path: plan.path,
          secret: plan.secret,
          localAddresses: plan.localAddresses?.(i),
          resumable: plan.resumable ?? false,
        },
        120_000,
      ),
    ),
  );
  const concurrency = Math.max(16, Math.ceil(plan.concurrency / workers.length));
  const cpu0 = await serversCpu(servers);
  const answers = await Promise.all(
    workers.map((worker) =>
      worker.request<OpenAnswer>('open', { concurrency, timeoutMs: plan.timeoutMs ?? 60_000 }, 600_000),
    ),
  );
  const cpu1 = await serversCpu(servers);
  const ms = Math.max(...answers.map((a) => a.doneAt)) - Math.min(...answers.map((a) => a.startedAt));
  const result: ConnectResult = {
    wanted: plan.users * plan.streamsPerUser,
    opened: 0,
    failed: 0,
    statuses: {},
    errors: {},
    ms,
    perSecond: 0,
    workers: workers.length,
    concurrency: concurrency * workers.length,
    loadCpuPerConnectUs: 0,
    loadCpuShare: Math.max(...answers.map((a) => cpuMs({ user: 0, system: 0 }, a.cpu) / Math.max(1, a.doneAt - a.startedAt))),
  };
  let loadCpuMs = 0;
  for (const answer of answers) {
    result.opened += answer.opened;
    result.failed += answer.failed;
    loadCpuMs += cpuMs({ user: 0, system: 0 }, answer.cpu);
    for (const [key, value] of Object.entries(answer.statuses)) result.statuses[key] = (result.statuses[key] ?? 0) + value;
    for (const [key, value] of Object.entries(answer.errors)) result.errors[key] = (result.errors[key] ?? 0) + value;
  }
  result.perSecond = result.opened / (ms / 1000);
  result.loadCpuPerConnectUs = (loadCpuMs * 1000) / Math.max(1, result.opened);
  if (servers.length > 0) {
    const serverMs = cpuDeltaMs(cpu0, cpu1);
    result.serverCpuPerConnectUs = (serverMs * 1000) / Math.max(1, result.opened);
    result.serverCpuShare = serverMs / ms;
  }
  return result;
}

/** Polls the servers' own counts until their streams are `expected` (each), or the time is up. */
export async function waitForStreams(
  servers: readonly ServerHandle[],
  expected: readonly number[],
  timeoutMs = 30_000,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(servers.map(async (server) => (await server.stats(false)).counts.streams));
    if (counts.every((value, i) => value === expected[i])) return counts;
    if (Date.now() > deadline) {
      console.warn(`[bench] the servers hold ${counts.join(' + ')} streams, not ${expected.join(' + ')}, after ${timeoutMs} ms`);
      return counts;
    }
    await sleep(100);
  }
}

export interface BroadcastPlan {
  events: number;
  /** Open streams that should get every event. */
  streams: number;
  idleMs: number;
}

interface BroadcastAnswer {
  streams: number;
  complete: number;
  incomplete: number;
  missing: number;
  delivered: number;
  duplicates: number;
  firstRecv: number;
  lastRecv: number;
  histogram: [number, number][];
  cpu: NodeJS.CpuUsage;
}

/**
 * Publishes `events` broadcasts one after the other (each once the previous
 * one was accepted), and waits until every stream has them all, or nothing
 * more arrives.
 */
export async function broadcastPhase(
  publisher: Publisher,
  workers: readonly IpcClient[],
  servers: readonly ServerHandle[],
  plan: BroadcastPlan,
): Promise<BroadcastResult> {
  const phase = ++phaseSeq;
  await Promise.all(workers.map((worker) => worker.request('reset', { phase, m: plan.events })));
  const loadCpu0 = await Promise.all(workers.map(async (w) => (await w.request<{ cpu: NodeJS.CpuUsage }>('status')).cpu));
  const cpu0 = await serversCpu(servers);
  const publishErrors: Record<string, number> = {};
  const started = clock();
  for (let k = 0; k < plan.events; k++) {
    const answer = await publisher.post({ broadcast: true, type: BROADCAST_TYPE, data: { p: phase, t: clock(), k } });
    if (answer.status !== 202) count(publishErrors, answer.status);
  }
  const publishMs = clock() - started;
  const answers = await Promise.all(
    workers.map((worker) =>
      worker.request<BroadcastAnswer>('waitBroadcast', { idleMs: plan.idleMs, maxMs: 300_000 }, 330_000),
    ),
  );
  const cpu1 = await serversCpu(servers);
  const lastRecv = Math.max(...answers.map((a) => a.lastRecv));
  const ms = lastRecv > 0 ? lastRecv - started : NaN;
  const delivered = answers.reduce((sum, a) => sum + a.delivered, 0);
  const [latencyP50, latencyP99] = histogramPercentiles(
    answers.map((a) => a.histogram),
    [50, 99],
  );
  const wall = clock() - started;
  return {
    events: plan.events,
    streams: answers.reduce((sum, a) => sum + a.streams, 0),
    expected: plan.streams * plan.events,
    delivered,
    complete: answers.reduce((sum, a) => sum + a.complete, 0),
    incomplete: answers.reduce((sum, a) => sum + a.incomplete, 0),
    missing: answers.reduce((sum, a) => sum + a.missing, 0) + Math.max(0, plan.streams - answers.reduce((s, a) => s + a.streams, 0)) * plan.events,
    duplicates: answers.reduce((sum, a) => sum + a.duplicates, 0),
    deliveriesPerSecond: delivered / (ms / 1000),
    ms,
    publishMs,
    publishErrors,
    latencyP50,
    latencyP99,
    serverCpuMs: cpuDeltaMs(cpu0, cpu1),
    loadCpuShare: Math.max(...answers.map((a, i) => cpuMs(loadCpu0[i], a.cpu) / wall)),
  };
}

export interface TargetedPlan {
  sends: number;
  /** Sends per second, paced (open loop); 0 for a burst with `concurrency` in flight. */
  rate: number;
  concurrency?: number;
  users: number;
  userOffset?: number;
  streamsPerUser: number;
  seed: number;
  /** Over Redis: the port of the publishing instance, to split same- and cross-instance latencies. */
  publishingPort?: number;
}

interface TargetedAnswer {
  count: number;
  misdelivered: number;
  byPort: Record<string, number[]>;
  lastRecv: number;
}

/** Until every targeted event of the phase is in, or nothing more came for 3 s; then what each worker got. */
async function awaitTargeted(workers: readonly IpcClient[], expected: number): Promise<TargetedAnswer[]> {
  let received = 0;
  let lastChange = Date.now();
  while (received < expected && Date.now() - lastChange < 3000) {
    await sleep(50);
    const counts = await Promise.all(workers.map((w) => w.request<{ count: number }>('targetedCount')));
    const now = counts.reduce((sum, c) => sum + c.count, 0);
    if (now !== received) lastChange = Date.now();
    received = now;
  }
  return Promise.all(workers.map((w) => w.request<TargetedAnswer>('targetedResult')));
}

function summarize(latencies: number[]): { count: number; p50: number; p99: number } {
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Publishes to random users (paced, or as a burst); latency measured where each event lands. */
export async function targetedPhase(
  publisher: Publisher,
  workers: readonly IpcClient[],
  servers: readonly ServerHandle[],
  plan: TargetedPlan,
): Promise<TargetedResult> {
  const phase = ++phaseSeq;
  const random = rng(plan.seed);
  const offset = plan.userOffset ?? 0;
  await Promise.all(workers.map((worker) => worker.request('reset', { phase })));
  const cpu0 = await serversCpu(servers);
  const publishErrors: Record<string, number> = {};
  const send = async (k: number) => {
    const u = `u${offset + Math.floor(random() * plan.users)}`;
    const answer = await publisher.post({ userId: u, type: TARGETED_TYPE, data: { p: phase, t: clock(), k, u } });
    if (answer.status !== 202) count(publishErrors, answer.status);
  };
  const started = clock();
  let issuedMs = 0;
  if (plan.rate > 0) {
    const interval = 1000 / plan.rate;
    const inflight: Promise<void>[] = [];
    for (let k = 0; k < plan.sends; k++) {
      const due = started + k * interval;
      const wait = due - clock();
      if (wait > 1) await sleep(wait);
      inflight.push(send(k));
    }
    issuedMs = clock() - started;
    await Promise.all(inflight);
  } else {
    let next = 0;
    const lane = async () => {
      while (next < plan.sends) await send(next++);
    };
    await Promise.all(Array.from({ length: plan.concurrency ?? 16 }, lane));
  }
  const sendMs = issuedMs || clock() - started;
  const expected = plan.sends * plan.streamsPerUser;
  const answers = await awaitTargeted(workers, expected);
  const cpu1 = await serversCpu(servers);
  const all: number[] = [];
  const same: number[] = [];
  const cross: number[] = [];
  for (const answer of answers) {
    for (const [port, latencies] of Object.entries(answer.byPort)) {
      all.push(...latencies);
      if (plan.publishingPort !== undefined) (Number(port) === plan.publishingPort ? same : cross).push(...latencies);
    }
  }
  all.sort((a, b) => a - b);
  const lastRecv = Math.max(...answers.map((a) => a.lastRecv));
  const result: TargetedResult = {
    sends: plan.sends,
    ratePerSecond: plan.sends / (sendMs / 1000),
    streamsPerUser: plan.streamsPerUser,
    expected,
    received: all.length,
    lost: Math.max(0, expected - all.length),
    misdelivered: answers.reduce((sum, a) => sum + a.misdelivered, 0),
    publishErrors,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    p99: percentile(all, 99),
    max: all.length ? all[all.length - 1] : NaN,
    mean: all.reduce((sum, v) => sum + v, 0) / (all.length || 1),
    cpuPerSendUs: (cpuDeltaMs(cpu0, cpu1) * 1000) / plan.sends,
  };
  if (plan.publishingPort !== undefined) {
    result.sameInstance = summarize(same);
    result.crossInstance = summarize(cross);
  }
  if (plan.rate === 0 && lastRecv > 0) result.deliveriesPerSecond = all.length / ((lastRecv - started) / 1000);
  return result;
}

export interface InProcessPlan {
  calls: number;
  users: number;
  userOffset?: number;
  streamsPerUser: number;
  seed: number;
}

/**
 * `NotificationService.publishToUser` called in our server's own process (no HTTP), to random users
 * with a stream, each call awaited before the next: the server's CPU per call, measured around the
 * loop. Every event must reach its user's streams.
 */
export async function inProcessPublishPhase(
  server: ServerHandle,
  workers: readonly IpcClient[],
  plan: InProcessPlan,
): Promise<InProcessPublishResult> {
  const phase = ++phaseSeq;
  const random = rng(plan.seed);
  const offset = plan.userOffset ?? 0;
  const userIds = Array.from({ length: plan.calls }, () => `u${offset + Math.floor(random() * plan.users)}`);
  await Promise.all(workers.map((worker) => worker.request('reset', { phase })));
  const answer = await server.ipc.request<{ cpu: NodeJS.CpuUsage; ms: number }>(
    'publishInProcess',
    { phase, eventType: TARGETED_TYPE, userIds },
    300_000,
  );
  const expected = plan.calls * plan.streamsPerUser;
  const answers = await awaitTargeted(workers, expected);
  const received = answers.reduce((sum, a) => sum + a.count, 0);
  return {
    calls: plan.calls,
    cpuPerCallUs: cpuMs({ user: 0, system: 0 }, answer.cpu) * 1000 / plan.calls,
    wallPerCallUs: (answer.ms * 1000) / plan.calls,
    expected,
    received,
    lost: Math.max(0, expected - received),
    misdelivered: answers.reduce((sum, a) => sum + a.misdelivered, 0),
  };
}

/** Users of the warm-up: a set of their own, far from any scenario's. */
const WARM_UP_OFFSET = 9_000_000;

/**
 * Unmeasured: `users` streams (200 unless told), 5 broadcasts and as many targeted sends as streams,
 * then closed, so that the code paths are compiled and the pools allocated before the baseline.
 */
export async function warmUp(server: ServerHandle, worker: IpcClient, publisher: Publisher, idleMs: number, users = 200): Promise<void> {
  await connectStreams([worker], {
    ports: [server.port],
    path: '/sse',
    secret: BENCH_JWT_SECRET,
    users,
    userOffset: WARM_UP_OFFSET,
    streamsPerUser: 1,
    concurrency: 64,
  });
  await waitForStreams([server], [users]);
  await broadcastPhase(publisher, [worker], [server], { events: 5, streams: users, idleMs });
  await targetedPhase(publisher, [worker], [server], {
    sends: users,
    rate: 0,
    concurrency: 8,
    users,
    userOffset: WARM_UP_OFFSET,
    streamsPerUser: 1,
    seed: 1,
  });
  await worker.request('closeAll', {}, 60_000);
  await waitForStreams([server], [0]);
}

/** Workers close their streams as the server goes away, then the server exits. */
export async function teardown(workers: readonly IpcClient[], servers: readonly ServerHandle[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.request('expectClose').catch(() => undefined)));
  await Promise.all(servers.map((server) => server.stop()));
  await Promise.all(workers.map((worker) => worker.request('waitClosed', { timeoutMs: 30_000 }, 40_000).catch(() => undefined)));
}
