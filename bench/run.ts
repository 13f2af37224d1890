// npm run bench: our module against a raw node:http SSE server and plain NestJS,
// each in its own process, driven by load generator processes over IPC.
// Prints one table (absolute figures and ratios to raw), writes results JSON and an SVG chart.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { renderChart } from './chart.js';
import {
  BENCH_DIST,
  DEFAULT_OURS,
  LoadPool,
  SERVERS,
  type ServerHandle,
  type ServerKind,
  serverEnv,
  startServer,
} from './lib/cluster.js';
import type { IpcClient } from './lib/ipc.js';
import { BENCH_ADMIN_TOKEN, BENCH_JWT_SECRET } from './lib/jwt.js';
import {
  broadcastPhase,
  connectStreams,
  inProcessPublishPhase,
  sleep,
  targetedPhase,
  teardown,
  waitForStreams,
  warmUp,
} from './lib/phases.js';
import { clock } from './lib/protocol.js';
import { Publisher } from './lib/publisher.js';
import { type Instances, withInstances } from './lib/instances.js';
import { cleanRedis, findRedis, type RedisSource, withBenchRedis } from './lib/redis.js';
import type { ChurnResult, MemoryResult, ScenarioResult } from './lib/types.js';
import { formatProfileRuns, type ProfileRuns, summarizeProfileFile } from './profile-summary.js';
import { buildReport, type BenchResults } from './report.js';
import { runScale } from './scale.js';
import { runStorm } from './storm.js';

const ROOT = resolve(BENCH_DIST, '..');

/**
 * The parts of a run: `single` is every server alone at each N (connects, broadcast, targeted, churn);
 * `profile` (our server under --cpu-prof) runs only when asked for.
 */
export type Scenario = 'single' | 'storm' | 'scale' | 'profile' | 'inbox';
const SCENARIOS: readonly Scenario[] = ['single', 'storm', 'scale', 'profile', 'inbox'];

export interface BenchOptions {
  smoke: boolean;
  /**
   * How many parts run side by side (1: one after the other). The smoke run runs 2, each part with load
   * generators of its own: its figures mean nothing.
   */
  parallel: number;
  scenarios: Scenario[];
  ns: number[];
  servers: ServerKind[];
  broadcastEvents: number;
  targetedSends: number;
  targetedRate: number;
  /** publishToUser calls in the server's own process (ours), after the targeted phase. */
  inProcessCalls: number;
  churnStreams: number;
  churnRounds: number;
  /** Streams per user of the several-streams variant (0: skip it). */
  multi: number;
  /** The Ns the several-streams variant runs at, and on which servers. */
  multiNs: number[];
  multiServers: ServerKind[];
  perWorker: number;
  concurrency: number;
  /** Streams (and targeted sends) of the unmeasured warm-up of each server. */
  warmUp: number;
  redis: boolean;
  /** A Redis to use instead of starting one (--redis-url). */
  redisUrl?: string;
  stormInstances: number;
  stormStreams: number;
  stormTargetedRate: number;
  stormBroadcastRate: number;
  stormLeadMs: number;
  stormTailMs: number;
  scaleInstances: number;
  scaleNs: number[];
  scalePerWorker: number;
  scaleSends: number;
  scaleBroadcasts: number;
  scaleBurst: number;
  profileN: number;
  profileEvents: number;
  outDir: string;
  /** Broadcast phase: give up after this long without an event. */
  idleMs: number;
  inboxSends: number;
  inboxRounds: number;
  inboxUsers: number;
  inboxBig: number;
  databaseUrl?: string;
}

function parseArgs(argv: string[]): BenchOptions {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2);
    if (inline !== undefined) flags.set(name, inline);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) flags.set(name, argv[++i]);
    else flags.set(name, true);
  }
  const known = new Set([
    'smoke', 'parallel', 'only', 'n', 'servers', 'broadcast-events', 'targeted-sends', 'targeted-rate', 'in-process-calls', 'churn',
    'churn-rounds', 'multi', 'multi-n', 'multi-servers', 'per-worker', 'concurrency', 'warm-up', 'no-redis', 'redis-url',
    'no-storm', 'storm-instances', 'storm-streams', 'storm-rate', 'storm-broadcast-rate', 'storm-lead-ms', 'storm-tail-ms',
    'no-scale', 'scale-instances', 'scale-n', 'scale-per-worker', 'scale-sends', 'scale-broadcasts', 'scale-burst',
    'profile', 'profile-n', 'profile-events', 'out-dir', 'idle-ms',
    'no-inbox', 'inbox-only', 'inbox-sends', 'inbox-rounds', 'inbox-users', 'inbox-big',
  ]);
  if (flags.has('help')) {
    console.log(`usage: node dist-bench/run.js [--smoke] [--profile] [--only single,storm,scale,profile,inbox] [--no-storm] [--no-scale] [--parallel 1]
  [--no-inbox | --inbox-only] [--no-redis | --redis-url redis://…]
  [--n 1000,10000,19900] [--servers raw,express,module,fastify,redis,plain] [--concurrency 256] [--per-worker 9000] [--warm-up 200]
  [--broadcast-events 20] [--targeted-sends 1500] [--targeted-rate 200] [--in-process-calls 1500] [--churn 3000]
  [--churn-rounds 3] [--multi 3] [--multi-n 10000] [--multi-servers raw,…]
  [--storm-instances 3] [--storm-streams 10000] [--storm-rate 50] [--storm-broadcast-rate 2] [--storm-lead-ms 3000] [--storm-tail-ms 2000]
  [--scale-instances 6] [--scale-n 10000,100000] [--scale-per-worker 9000] [--scale-sends 1500] [--scale-broadcasts 3] [--scale-burst 3000]
  [--profile-n 10000] [--out-dir dir] [--inbox-sends 2000] [--inbox-rounds 3] [--inbox-users 100] [--inbox-big 10000]
See bench/README.md.`);
    process.exit(0);
  }
  const unknown = [...flags.keys()].filter((name) => !known.has(name));
  if (unknown.length) throw new Error(`unknown option(s): ${unknown.map((name) => `--${name}`).join(', ')} (see --help)`);
  const smoke = flags.has('smoke');
  const num = (name: string, fallback: number) => (flags.has(name) ? Number(flags.get(name)) : fallback);
  const list = (name: string, fallback: number[]) =>
    flags.has(name) ? String(flags.get(name)).split(',').map(Number) : fallback;
  const kinds = (name: string, fallback: ServerKind[]) =>
    (flags.has(name) ? String(flags.get(name)).split(',') : fallback) as ServerKind[];
  const ns = list('n', smoke ? [200] : [1000, 10_000, 19_900]);
  const profile = flags.has('profile') || process.env.BENCH_PROFILE === '1';
  let scenarios: Scenario[] = flags.has('only')
    ? (String(flags.get('only')).split(',') as Scenario[])
    : SCENARIOS.filter((name) => name !== 'profile' || profile);
  if (flags.has('inbox-only')) scenarios = ['inbox'];
  for (const name of ['storm', 'scale', 'inbox'] as const) if (flags.has(`no-${name}`)) scenarios = scenarios.filter((s) => s !== name);
  const unknownScenarios = scenarios.filter((name) => !SCENARIOS.includes(name));
  if (unknownScenarios.length) throw new Error(`unknown scenario(s) ${unknownScenarios.join(', ')}: pick from ${SCENARIOS.join(', ')}`);
  const perWorker = num('per-worker', 9000);
  const options: BenchOptions = {
    smoke,
    parallel: num('parallel', smoke ? 2 : 1),
    scenarios,
    ns,
    // The smoke run leaves out ours on Express: it runs the same server script as ours on Fastify
    // (the demo, HTTP_ADAPTER=express), and the e2e suites run every route over both adapters.
    servers: kinds('servers', smoke ? ['raw', 'express', 'fastify', 'redis', 'plain'] : ['raw', 'express', 'module', 'fastify', 'redis', 'plain']),
    broadcastEvents: num('broadcast-events', smoke ? 5 : 20),
    targetedSends: num('targeted-sends', smoke ? 60 : 1500),
    targetedRate: num('targeted-rate', 200),
    inProcessCalls: num('in-process-calls', smoke ? 60 : 1500),
    churnStreams: num('churn', smoke ? 100 : 3000),
    churnRounds: num('churn-rounds', smoke ? 1 : 3),
    multi: num('multi', 3),
    // The several-streams variant at the N of the targets (10,000), to keep the full run short.
    multiNs: list('multi-n', [ns.includes(10_000) ? 10_000 : ns[Math.floor((ns.length - 1) / 2)]]),
    // In the smoke run, on raw alone: what it checks is the load generators' side.
    multiServers: kinds('multi-servers', smoke ? ['raw'] : ['raw', 'express', 'module', 'fastify', 'plain']),
    perWorker,
    concurrency: num('concurrency', 256),
    warmUp: num('warm-up', smoke ? 50 : 200),
    redis: !flags.has('no-redis'),
    redisUrl: flags.has('redis-url') ? String(flags.get('redis-url')) : undefined,
    stormInstances: Math.max(2, num('storm-instances', smoke ? 2 : 3)),
    stormStreams: num('storm-streams', smoke ? 200 : 10_000),
    stormTargetedRate: num('storm-rate', 50),
    stormBroadcastRate: num('storm-broadcast-rate', smoke ? 5 : 2),
    stormLeadMs: num('storm-lead-ms', smoke ? 500 : 3000),
    stormTailMs: num('storm-tail-ms', smoke ? 300 : 2000),
    scaleInstances: num('scale-instances', smoke ? 2 : 6),
    scaleNs: list('scale-n', smoke ? [100, 300] : [10_000, 100_000]),
    // Small in the smoke run, so that it still uses several load generators and source addresses.
    scalePerWorker: num('scale-per-worker', smoke ? 100 : perWorker),
    scaleSends: num('scale-sends', smoke ? 60 : 1500),
    scaleBroadcasts: num('scale-broadcasts', smoke ? 2 : 3),
    scaleBurst: num('scale-burst', smoke ? 100 : 3000),
    profileN: num('profile-n', smoke ? 200 : 10_000),
    profileEvents: num('profile-events', smoke ? 10 : 60),
    outDir: resolve(String(flags.get('out-dir') ?? join(ROOT, smoke ? 'dist-bench/results-smoke' : 'bench/results'))),
    idleMs: num('idle-ms', 5000),
    inboxSends: num('inbox-sends', smoke ? 100 : 2000),
    inboxRounds: num('inbox-rounds', smoke ? 1 : 3),
    inboxUsers: num('inbox-users', smoke ? 20 : 100),
    inboxBig: num('inbox-big', smoke ? 200 : 10_000),
    databaseUrl: process.env.DATABASE_URL || undefined,
  };
  for (const kind of [...options.servers, ...options.multiServers]) if (!SERVERS[kind]) throw new Error(`unknown server ${kind}`);
  return options;
}

const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

function memoryOf(before: { rss: number; heapUsed: number }, after: { rss: number; heapUsed: number }, streams: number): MemoryResult {
  return {
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    rssPerStreamKB: (after.rss - before.rss) / streams / 1024,
    heapPerStreamKB: (after.heapUsed - before.heapUsed) / streams / 1024,
  };
}

async function churnPhase(
  server: ServerHandle,
  workers: readonly IpcClient[],
  publisher: Publisher,
  streams: number,
  perRound: number,
  rounds: number,
  concurrency: number,
): Promise<ChurnResult> {
  const before = await server.stats();
  const heapAfterRounds: number[] = [];
  let reconnectFailed = 0;
  for (let round = 0; round < rounds; round++) {
    const share = Math.floor(perRound / workers.length);
    await Promise.all(
      workers.map((worker, i) =>
        worker.request('disconnect', { count: i === 0 ? perRound - share * (workers.length - 1) : share }, 120_000),
      ),
    );
    await waitForStreams([server], [streams - perRound], 30_000);
    const answers = await Promise.all(
      workers.map((worker) =>
        worker.request<{ failed: number }>(
          'reconnect',
          { concurrency: Math.max(16, Math.ceil(concurrency / workers.length)), timeoutMs: 60_000 },
          300_000,
        ),
      ),
    );
    reconnectFailed += answers.reduce((sum, a) => sum + a.failed, 0);
    await waitForStreams([server], [streams], 30_000);
    heapAfterRounds.push((await server.stats()).heapUsed);
  }
  const after = await server.stats();
  const countsChanged = Object.keys({ ...before.counts, ...after.counts }).filter(
    (key) => before.counts[key] !== after.counts[key],
  );
  let httpStats: unknown;
  if (server.definition.ours) {
    const answer = await publisher.get('/sse/stats');
    httpStats = answer.status === 200 ? JSON.parse(answer.body) : { status: answer.status };
  }
  return {
    churnedPerRound: perRound,
    rounds,
    reconnectFailed,
    streamsBefore: before.counts.streams,
    streamsAfter: after.counts.streams,
    countsBefore: before.counts,
    countsAfter: after.counts,
    countsChanged,
    httpStats,
    heapBefore: before.heapUsed,
    heapAfterRounds,
    heapGrowthKB: (heapAfterRounds[heapAfterRounds.length - 1] - heapAfterRounds[0]) / 1024,
    heapDeltaKB: (after.heapUsed - before.heapUsed) / 1024,
  };
}

interface ScenarioPlan {
  broadcast: boolean;
  targeted: boolean;
  churn: boolean;
}

async function runScenario(
  options: BenchOptions,
  pool: LoadPool,
  redisSource: RedisSource | undefined,
  kind: ServerKind,
  n: number,
  streamsPerUser: number,
  plan: ScenarioPlan,
): Promise<ScenarioResult> {
  const definition = SERVERS[kind];
  const users = Math.floor(n / streamsPerUser);
  const streams = users * streamsPerUser;
  const result: ScenarioResult = { server: kind, n, streamsPerUser, users, streams };
  const started = clock();
  if (definition.redis && !redisSource) {
    result.error = 'no Redis (--no-redis, or neither redis-server nor --redis-url)';
    log(`${definition.label} N=${n}: skipped: ${result.error}`);
    return result;
  }
  const redis = definition.redis ? await redisSource!.open() : undefined;
  const prefix = `sse-bench-${kind}-${process.pid}-${Date.now()}:`;
  try {
    const workers = await pool.forStreams(streams, options.perWorker);
    const server = await startServer(definition, {
      env: serverEnv(kind, definition.redis ? { REDIS_URL: redis!.url, SSE_REDIS_PREFIX: prefix } : {}),
    });
    result.ready = server.ready;
    const publisher = new Publisher(server.port, definition.publishPath, BENCH_ADMIN_TOKEN);
    try {
      await warmUp(server, workers[0], publisher, options.idleMs, options.warmUp);
      const base = await server.stats();
      // The same for every server: the same load generators, tokens signed beforehand, the same handshakes in flight.
      result.connect = await connectStreams(
        workers,
        {
          ports: [server.port],
          path: '/sse',
          secret: BENCH_JWT_SECRET,
          users,
          streamsPerUser,
          concurrency: options.concurrency,
        },
        [server],
      );
      const [held] = await waitForStreams([server], [streams]);
      if (held !== streams) throw new Error(`the server holds ${held} of ${streams} streams after connecting`);
      const connected = await server.stats();
      result.memory = memoryOf(base, connected, streams);
      const label = `${definition.label} N=${n}${streamsPerUser > 1 ? ` (${users} users × ${streamsPerUser})` : ''}`;
      const c = result.connect;
      log(
        `${label}: ${c.opened} streams in ${(c.ms / 1000).toFixed(2)} s (${Math.round(c.perSecond)}/s; server CPU ` +
          `${c.serverCpuPerConnectUs!.toFixed(0)} µs per connect, ${(c.serverCpuShare! * 100).toFixed(0)}% of a core; load generators ` +
          `${(c.loadCpuShare * 100).toFixed(0)}% of a core at most), ${result.memory.rssPerStreamKB.toFixed(1)} KB RSS per stream`,
      );
      if (plan.broadcast) {
        result.broadcast = await broadcastPhase(publisher, workers, [server], {
          events: options.broadcastEvents,
          streams,
          idleMs: options.idleMs,
        });
        const b = result.broadcast;
        log(
          `${label}: broadcast ${Math.round(b.deliveriesPerSecond).toLocaleString('en-US')} deliveries/s, ` +
            `${b.complete}/${streams} streams complete${b.missing ? `, ${b.missing} events missing` : ''}`,
        );
      }
      if (plan.targeted) {
        result.targeted = await targetedPhase(publisher, workers, [server], {
          sends: streamsPerUser > 1 ? Math.ceil(options.targetedSends / 2) : options.targetedSends,
          rate: options.targetedRate,
          users,
          streamsPerUser,
          seed: n,
        });
        const t = result.targeted;
        log(
          `${label}: targeted p50 ${t.p50.toFixed(2)} ms, p99 ${t.p99.toFixed(2)} ms, ` +
            `${t.cpuPerSendUs.toFixed(0)} µs server CPU per send${t.lost ? `, ${t.lost} lost` : ''}`,
        );
        if (definition.ours && options.inProcessCalls > 0) {
          result.inProcess = await inProcessPublishPhase(server, workers, {
            calls: options.inProcessCalls,
            users,
            streamsPerUser,
            seed: n + 1,
          });
          const p = result.inProcess;
          log(
            `${label}: publishToUser in process: ${p.cpuPerCallUs.toFixed(0)} µs CPU per call (${p.wallPerCallUs.toFixed(0)} µs each, ` +
              `one after the other)${p.lost ? `, ${p.lost} lost` : ''}`,
          );
        }
      }
      if (plan.churn && options.churnRounds > 0) {
        const perRound = Math.min(streams, options.churnStreams);
        result.churn = await churnPhase(server, workers, publisher, streams, perRound, options.churnRounds, options.concurrency);
        const churn = result.churn;
        log(
          `${label}: churn ${churn.rounds}×${churn.churnedPerRound}: streams ${churn.streamsBefore} → ${churn.streamsAfter}, ` +
            `heap growth ${churn.heapGrowthKB.toFixed(0)} KB${churn.countsChanged.length ? `, changed: ${churn.countsChanged.join(', ')}` : ''}`,
        );
      }
    } catch (err) {
      result.error = (err as Error).message;
      log(`${definition.label} N=${n}: ${result.error}`);
    } finally {
      publisher.close();
      await teardown(workers, [server]);
    }
  } finally {
    if (redis) {
      await cleanRedis(redis.url, prefix).catch((err: Error) => log(`could not clean ${prefix}*: ${err.message}`));
      await redis.stop();
    }
  }
  result.ms = clock() - started;
  return result;
}

/**
 * Our server (as the demo ships, on Fastify) under --cpu-prof: after a warm-up, N streams open
 * (as the connect phase opens them), take broadcasts, then targeted sends arrive back to back (8 at
 * a time, so that the window is busy). Each phase is summarized over its own window.
 */
async function runProfile(options: BenchOptions, pool: LoadPool): Promise<ProfileRuns> {
  const dir = join(options.outDir, 'profile');
  mkdirSync(dir, { recursive: true });
  const name = `${DEFAULT_OURS}.cpuprofile`;
  const n = options.profileN;
  const workers = await pool.forStreams(n, options.perWorker);
  const server = await startServer(SERVERS[DEFAULT_OURS], {
    env: serverEnv(DEFAULT_OURS),
    execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`],
    name: `${DEFAULT_OURS}-profiled`,
  });
  const publisher = new Publisher(server.port, SERVERS[DEFAULT_OURS].publishPath, BENCH_ADMIN_TOKEN);
  const windows: Record<string, { fromUs: number; toUs: number }> = {};
  try {
    await warmUp(server, workers[0], publisher, options.idleMs, options.warmUp);
    let fromUs = await server.mark();
    const connect = await connectStreams(workers, {
      ports: [server.port],
      path: '/sse',
      secret: BENCH_JWT_SECRET,
      users: n,
      streamsPerUser: 1,
      concurrency: options.concurrency,
    });
    windows.connect = { fromUs, toUs: await server.mark() };
    log(`profile: ${n} streams opened under --cpu-prof, ${Math.round(connect.perSecond)}/s`);
    await waitForStreams([server], [n]);
    fromUs = await server.mark();
    const broadcast = await broadcastPhase(publisher, workers, [server], { events: options.profileEvents, streams: n, idleMs: options.idleMs });
    windows.broadcast = { fromUs, toUs: await server.mark() };
    log(`profile: ${options.profileEvents} broadcasts to ${n} streams under --cpu-prof, ${Math.round(broadcast.deliveriesPerSecond)} deliveries/s`);
    fromUs = await server.mark();
    const sends = options.profileEvents * 50;
    const targeted = await targetedPhase(publisher, workers, [server], { sends, rate: 0, concurrency: 8, users: n, streamsPerUser: 1, seed: 7 });
    windows.targeted = { fromUs, toUs: await server.mark() };
    log(`profile: ${sends} targeted sends, 8 at a time, under --cpu-prof; p50 ${targeted.p50.toFixed(2)} ms`);
  } finally {
    publisher.close();
    await teardown(workers, [server]);
  }
  const file = join(dir, name);
  for (let i = 0; i < 50 && !existsSync(file); i++) await sleep(100);
  if (!existsSync(file)) return { error: `no profile written at ${file}` };
  return {
    connect: summarizeProfileFile(file, { ...windows.connect, top: 25, busyOnly: true }),
    broadcast: summarizeProfileFile(file, { ...windows.broadcast, top: 25 }),
    targeted: summarizeProfileFile(file, { ...windows.targeted, top: 25, busyOnly: true }),
  };
}

function meta(options: BenchOptions): Record<string, unknown> {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    commit = undefined;
  }
  const built = (path: string) => {
    try {
      return statSync(join(ROOT, path)).mtime.toISOString();
    } catch {
      return undefined;
    }
  };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGB: Math.round(totalmem() / 1024 ** 3),
    loadAverageAtStart: loadavg(),
    commit,
    packageVersion: pkg.version,
    distBuiltAt: built('dist/sse/notification.service.js'),
    options: { ...options, redisUrl: options.redisUrl ? '(given)' : undefined, databaseUrl: options.databaseUrl ? '(set)' : undefined },
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(options.outDir, { recursive: true });
  const started = clock();
  const results: BenchResults = { meta: meta(options), runs: [] };
  const parts: Record<string, number> = {};
  const timed = async <T>(part: string, work: () => Promise<T>): Promise<T> => {
    const from = clock();
    try {
      return await work();
    } finally {
      parts[part] = (clock() - from) / 1000;
      log(`${part}: ${parts[part].toFixed(0)} s`);
    }
  };
  const has = (scenario: Scenario) => options.scenarios.includes(scenario);
  const needsRedis = has('storm') || has('scale') || has('inbox') || (has('single') && options.servers.some((kind) => SERVERS[kind].redis));
  const found = needsRedis && options.redis ? await findRedis(options.redisUrl, process.env.REDIS_URL || undefined) : undefined;
  const redis = found && 'open' in found ? found : undefined;
  (results.meta as Record<string, unknown>).redis = redis?.describe ?? (found && 'none' in found ? `none: ${found.none}` : 'none');
  log(
    `scenarios: ${options.scenarios.join(', ')}${options.parallel > 1 ? `, ${options.parallel} side by side` : ''}` +
      `${has('single') ? `; N = ${options.ns.join(', ')}; servers: ${options.servers.join(', ')}` : ''}` +
      `; Redis: ${(results.meta as Record<string, unknown>).redis}`,
  );
  // One lane runs its parts one after the other, with load generators of its own; side by side (the smoke
  // run), there are several lanes.
  const pools = Array.from({ length: Math.max(1, options.parallel) }, () => new LoadPool());
  const stop = async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    process.exit(130);
  };
  process.once('SIGINT', () => void stop());
  const tasks: Array<(pool: LoadPool) => Promise<unknown>> = [];
  if (has('single')) {
    const runs: Array<[ServerKind, number, number]> = [];
    for (const n of options.ns) {
      for (const kind of options.servers) runs.push([kind, n, 1]);
      if (options.multi > 1 && options.multiNs.includes(n)) for (const kind of options.multiServers) runs.push([kind, n, options.multi]);
    }
    const single = (pool: LoadPool, [kind, n, streamsPerUser]: [ServerKind, number, number]) =>
      runScenario(options, pool, redis, kind, n, streamsPerUser, { broadcast: true, targeted: true, churn: streamsPerUser === 1 });
    if (options.parallel > 1) {
      // Each server is a part of its own, after the longer scenarios (queued below).
      for (const run of runs) tasks.push(async (pool) => results.runs.push(await single(pool, run)));
    } else {
      tasks.push((pool) =>
        timed('single servers', async () => {
          for (const run of runs) results.runs.push(await single(pool, run));
        }),
      );
    }
  }
  const storm = {
    streams: options.stormStreams,
    targetedRate: options.stormTargetedRate,
    broadcastRate: options.stormBroadcastRate,
    leadMs: options.stormLeadMs,
    tailMs: options.stormTailMs,
    perWorker: options.perWorker,
    concurrency: options.concurrency,
    idleMs: options.idleMs,
  };
  const scale = {
    stages: options.scaleNs,
    perWorker: options.scalePerWorker,
    broadcastEvents: options.scaleBroadcasts,
    targetedSends: options.scaleSends,
    targetedRate: options.targetedRate,
    burst: options.scaleBurst,
    concurrency: options.concurrency,
    idleMs: options.idleMs,
  };
  const onInstances = <T>(pool: LoadPool, count: number, name: string, work: (instances: Instances) => Promise<T>) =>
    withBenchRedis(redis!, (r) => withInstances({ count, name, warmUp: options.warmUp, idleMs: options.idleMs }, r, pool, work));
  const stormFailed = (err: unknown) => {
    results.storm ??= { instances: options.stormInstances, streams: options.stormStreams, prefix: '', error: (err as Error).message };
    log(`storm: ${(err as Error).message}`);
  };
  const scaleFailed = (err: unknown) => {
    results.scale ??= { instances: options.scaleInstances, prefix: '', stages: [], error: (err as Error).message };
    log(`scale: ${(err as Error).message}`);
  };
  if (redis && options.smoke && has('storm') && has('scale')) {
    // The smoke run starts fewer servers: the storm runs on the scale scenario's instances, after it.
    tasks.push((pool) =>
      timed('scale, then the reconnect storm', () =>
        onInstances(pool, Math.max(options.scaleInstances, options.stormInstances), 'cluster', async (instances) => {
          results.scale = await runScale(scale, pool, instances, log);
          results.storm = await runStorm(storm, pool, instances, log);
        }).catch((err) => {
          scaleFailed(err);
          stormFailed(err);
        }),
      ),
    );
  } else {
    if (has('storm') && redis) {
      tasks.push((pool) =>
        timed('reconnect storm', () =>
          onInstances(pool, options.stormInstances, 'storm', async (instances) => {
            results.storm = await runStorm(storm, pool, instances, log);
          }).catch(stormFailed),
        ),
      );
    }
    if (has('scale') && redis) {
      tasks.push((pool) =>
        timed('scale', () =>
          onInstances(pool, options.scaleInstances, 'scale', async (instances) => {
            results.scale = await runScale(scale, pool, instances, log);
          }).catch(scaleFailed),
        ),
      );
    }
  }
  if (has('profile')) {
    tasks.push(async (pool) => {
      results.profile = await timed('profile', () => runProfile(options, pool));
    });
  }
  if (has('inbox')) {
    // Loaded when it starts: it loads the library (and Nest) into this process, which the rest has no need of.
    const inbox = async (redisUrl?: string) =>
      (await import('./inbox.js')).runInboxBench(
        {
          sends: options.inboxSends,
          rounds: options.inboxRounds,
          users: options.inboxUsers,
          big: options.inboxBig,
          countReads: options.smoke ? 50 : 200,
          redisUrl,
          databaseUrl: options.databaseUrl,
          serverEnv: (extra) => serverEnv(DEFAULT_OURS, extra),
        },
        log,
      );
    tasks.push(async () => {
      results.inbox = await timed('inbox', () => (redis ? withBenchRedis(redis, (r) => inbox(r.url)) : inbox()));
    });
  }
  try {
    // Longest first: the servers alone were queued first, so they go last.
    const queue = options.parallel > 1 ? [...tasks].reverse() : tasks;
    const lane = async (pool: LoadPool) => {
      for (let task = queue.shift(); task; task = queue.shift()) await task(pool);
    };
    await Promise.all(pools.map(lane));
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
  (results.meta as Record<string, unknown>).secondsPerPart = parts;
  (results.meta as Record<string, unknown>).loadAverageAtEnd = loadavg();
  (results.meta as Record<string, unknown>).totalSeconds = (clock() - started) / 1000;

  const report = buildReport(results);
  results.table = report.rows;
  results.targets = report.targets;
  console.log(`\n${report.text}`);
  const profileText = results.profile && formatProfileRuns(results.profile);
  if (profileText) console.log(`\n${profileText}`);
  if (results.inbox) console.log(`\n${(await import('./inbox.js')).formatInbox(results.inbox)}`);
  const jsonPath = join(options.outDir, options.smoke ? 'smoke.json' : 'latest.json');
  const chartPath = join(options.outDir, options.smoke ? 'smoke-chart.svg' : 'chart.svg');
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(chartPath, renderChart(results));
  if (profileText) writeFileSync(join(options.outDir, 'profile-summary.txt'), `${profileText}\n`);
  log(`results: ${jsonPath}; chart: ${chartPath}; ${((clock() - started) / 1000).toFixed(0)} s in all`);
}

await main();
