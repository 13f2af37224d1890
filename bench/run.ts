// npm run bench: our module against a raw node:http SSE server and plain NestJS,
// each in its own process, driven by load generator processes over IPC.
// Prints one table (absolute figures and ratios to raw), writes results JSON and an SVG chart.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { renderChart } from './chart.js';
import { BENCH_DIST, DEFAULT_OURS, LoadPool, SERVERS, type ServerHandle, type ServerKind, startServer } from './lib/cluster.js';
import type { IpcClient } from './lib/ipc.js';
import { BENCH_JWT_SECRET, signJwt } from './lib/jwt.js';
import {
  broadcastPhase,
  connectStreams,
  sleep,
  targetedPhase,
  teardown,
  waitForStreams,
} from './lib/phases.js';
import { clock } from './lib/protocol.js';
import { Publisher } from './lib/publisher.js';
import type { ChurnResult, MemoryResult, RedisResult, ScenarioResult } from './lib/types.js';
import { formatInbox, runInboxBench } from './inbox.js';
import { formatProfileRuns, type ProfileRuns, summarizeProfileFile } from './profile-summary.js';
import { buildReport, type BenchResults } from './report.js';

const ROOT = resolve(BENCH_DIST, '..');

export interface BenchOptions {
  smoke: boolean;
  ns: number[];
  servers: ServerKind[];
  broadcastEvents: number;
  targetedSends: number;
  targetedRate: number;
  churnStreams: number;
  churnRounds: number;
  /** Streams per user of the several-streams variant (0: skip it). */
  multi: number;
  /** The Ns the several-streams variant runs at. */
  multiNs: number[];
  perWorker: number;
  concurrency: number;
  redis: boolean;
  redisUrl?: string;
  redisStreams: number;
  redisSends: number;
  redisBurst: number;
  redisHold: number;
  profile: boolean;
  profileN: number;
  profileEvents: number;
  outDir: string;
  /** Broadcast phase: give up after this long without an event. */
  idleMs: number;
  /** The inbox scenario (PostgreSQL too when DATABASE_URL is set), and whether it is all that runs. */
  inbox: boolean;
  inboxOnly: boolean;
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
    'smoke', 'n', 'servers', 'broadcast-events', 'targeted-sends', 'targeted-rate', 'churn', 'churn-rounds',
    'multi', 'multi-n', 'per-worker', 'concurrency', 'no-redis', 'redis-streams', 'redis-sends', 'redis-burst',
    'redis-hold', 'profile', 'profile-n', 'profile-events', 'out-dir', 'idle-ms',
    'no-inbox', 'inbox-only', 'inbox-sends', 'inbox-rounds', 'inbox-users', 'inbox-big',
  ]);
  if (flags.has('help')) {
    console.log(`usage: node dist-bench/run.js [--smoke] [--profile] [--no-redis] [--n 1000,10000,19900] [--servers raw,express,module,fastify,plain]
  [--broadcast-events 20] [--targeted-sends 1500] [--targeted-rate 200] [--churn 3000] [--churn-rounds 3]
  [--multi 3] [--multi-n 10000] [--redis-streams 9000] [--redis-hold 50000] [--profile-n 10000] [--out-dir dir]
  [--no-inbox | --inbox-only] [--inbox-sends 2000] [--inbox-rounds 3] [--inbox-users 100] [--inbox-big 10000]
See bench/README.md.`);
    process.exit(0);
  }
  const unknown = [...flags.keys()].filter((name) => !known.has(name));
  if (unknown.length) throw new Error(`unknown option(s): ${unknown.map((name) => `--${name}`).join(', ')} (see --help)`);
  const smoke = flags.has('smoke');
  const num = (name: string, fallback: number) => (flags.has(name) ? Number(flags.get(name)) : fallback);
  const list = (name: string, fallback: number[]) =>
    flags.has(name) ? String(flags.get(name)).split(',').map(Number) : fallback;
  const ns = list('n', smoke ? [200] : [1000, 10_000, 19_900]);
  const redisUrl = process.env.REDIS_URL || undefined;
  const options: BenchOptions = {
    smoke,
    ns,
    servers: (flags.has('servers') ? String(flags.get('servers')).split(',') : ['raw', 'express', 'module', 'fastify', 'plain']) as ServerKind[],
    broadcastEvents: num('broadcast-events', smoke ? 5 : 20),
    targetedSends: num('targeted-sends', smoke ? 60 : 1500),
    targetedRate: num('targeted-rate', 200),
    churnStreams: num('churn', smoke ? 100 : 3000),
    churnRounds: num('churn-rounds', smoke ? 2 : 3),
    multi: num('multi', 3),
    // The several-streams variant at the N of the targets (10,000), to keep the full run short.
    multiNs: list('multi-n', [ns.includes(10_000) ? 10_000 : ns[Math.floor((ns.length - 1) / 2)]]),
    perWorker: num('per-worker', 9000),
    concurrency: num('concurrency', 256),
    redis: Boolean(redisUrl) && !flags.has('no-redis'),
    redisUrl,
    redisStreams: num('redis-streams', smoke ? 150 : 9000),
    redisSends: num('redis-sends', smoke ? 60 : 500),
    redisBurst: num('redis-burst', smoke ? 100 : 3000),
    redisHold: num('redis-hold', smoke ? 600 : 50_000),
    profile: flags.has('profile') || process.env.BENCH_PROFILE === '1',
    profileN: num('profile-n', smoke ? 200 : 10_000),
    profileEvents: num('profile-events', smoke ? 10 : 60),
    outDir: resolve(String(flags.get('out-dir') ?? join(ROOT, smoke ? 'dist-bench/results-smoke' : 'bench/results'))),
    idleMs: num('idle-ms', 5000),
    inbox: !flags.has('no-inbox'),
    inboxOnly: flags.has('inbox-only'),
    inboxSends: num('inbox-sends', smoke ? 100 : 2000),
    inboxRounds: num('inbox-rounds', smoke ? 1 : 3),
    inboxUsers: num('inbox-users', smoke ? 20 : 100),
    inboxBig: num('inbox-big', smoke ? 1000 : 10_000),
    databaseUrl: process.env.DATABASE_URL || undefined,
  };
  for (const kind of options.servers) if (!SERVERS[kind]) throw new Error(`unknown server ${kind}`);
  return options;
}

const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

function serverEnv(kind: ServerKind, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { JWT_SECRET: BENCH_JWT_SECRET, ...SERVERS[kind].env };
  if (SERVERS[kind].ours) {
    // Heartbeats off: the other two servers have none. The per-instance cap above
    // the default 10,000 (SSE_MAX_CONNECTIONS; see module-server.ts).
    Object.assign(env, {
      SSE_HEARTBEAT_MS: '3600000',
      SSE_MAX_CONNECTIONS: '20000',
      DEMO_TOKENS: 'false',
    });
  }
  // In memory unless the Redis scenario (or the inbox's) says otherwise: the environment's REDIS_URL and DATABASE_URL are the bench's.
  return { REDIS_URL: '', DATABASE_URL: '', ...env, ...extra };
}

function workersFor(streams: number, perWorker: number): number {
  return Math.max(1, Math.ceil(streams / perWorker));
}

const ADMIN = signJwt(BENCH_JWT_SECRET, 'bench-admin', ['admin']);

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

/**
 * Unmeasured: a few streams, broadcasts and targeted sends, then closed, so that
 * the code paths are compiled and the pools allocated before the baseline.
 */
async function warmUp(server: ServerHandle, worker: IpcClient, publisher: Publisher, options: BenchOptions): Promise<void> {
  const users = WARM_UP_USERS;
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
  await broadcastPhase(publisher, [worker], [server], { events: 5, streams: users, idleMs: options.idleMs });
  await targetedPhase(publisher, [worker], [server], {
    sends: 200,
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

const WARM_UP_USERS = 200;
const WARM_UP_OFFSET = 9_000_000;

interface ScenarioPlan {
  broadcast: boolean;
  targeted: boolean;
  churn: boolean;
}

async function runScenario(
  options: BenchOptions,
  pool: LoadPool,
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
  const workers = await pool.ensure(workersFor(streams, options.perWorker));
  const server = await startServer(definition, { env: serverEnv(kind) });
  result.ready = server.ready;
  const publisher = new Publisher(server.port, definition.publishPath, ADMIN);
  try {
    await warmUp(server, workers[0], publisher, options);
    const base = await server.stats();
    result.connect = await connectStreams(workers, {
      ports: [server.port],
      path: '/sse',
      secret: BENCH_JWT_SECRET,
      users,
      streamsPerUser,
      concurrency: options.concurrency,
    });
    const [held] = await waitForStreams([server], [streams]);
    if (held !== streams) throw new Error(`the server holds ${held} of ${streams} streams after connecting`);
    const connected = await server.stats();
    result.memory = memoryOf(base, connected, streams);
    const label = `${definition.label} N=${n}${streamsPerUser > 1 ? ` (${users} users × ${streamsPerUser})` : ''}`;
    log(
      `${label}: ${result.connect.opened} streams in ${(result.connect.ms / 1000).toFixed(1)} s, ` +
        `${result.memory.rssPerStreamKB.toFixed(1)} KB RSS per stream`,
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
    }
    if (plan.churn && options.churnRounds > 0) {
      const perRound = Math.min(streams, options.churnStreams);
      result.churn = await churnPhase(server, workers, publisher, streams, perRound, options.churnRounds, options.concurrency);
      const c = result.churn;
      log(
        `${label}: churn ${c.rounds}×${c.churnedPerRound}: streams ${c.streamsBefore} → ${c.streamsAfter}, ` +
          `heap growth ${c.heapGrowthKB.toFixed(0)} KB${c.countsChanged.length ? `, changed: ${c.countsChanged.join(', ')}` : ''}`,
      );
    }
  } catch (err) {
    result.error = (err as Error).message;
    log(`${definition.label} N=${n}: ${result.error}`);
  } finally {
    publisher.close();
    await teardown(workers, [server]);
  }
  result.ms = clock() - started;
  return result;
}

/** Streams spread over three instances on one Redis: cross-instance latency, throughput, and a large hold. */
async function runRedis(options: BenchOptions, pool: LoadPool): Promise<RedisResult> {
  const prefix = `sse-bench-${process.pid}-${Date.now()}:`;
  const result: RedisResult = { prefix, instances: 3, streams: options.redisStreams };
  const started = clock();
  const env = serverEnv(DEFAULT_OURS, { REDIS_URL: options.redisUrl!, SSE_REDIS_PREFIX: prefix });
  let servers: ServerHandle[] = [];
  const publishers: Publisher[] = [];
  let workers: IpcClient[] = [];
  try {
    servers = await Promise.all(
      [0, 1, 2].map((i) => startServer(SERVERS[DEFAULT_OURS], { env, name: `${DEFAULT_OURS}-redis-${i}` })),
    );
    const ports = servers.map((server) => server.port);
    const publisher = new Publisher(ports[0], SERVERS[DEFAULT_OURS].publishPath, ADMIN);
    publishers.push(publisher);
    // User u connects to instance u % 3.
    const perInstance = (users: number, offset = 0) =>
      ports.map((_, i) => {
        let count = 0;
        for (let u = offset; u < offset + users; u++) if (u % ports.length === i) count++;
        return count;
      });

    // Latency and throughput across instances.
    const users = options.redisStreams;
    workers = await pool.ensure(workersFor(users, options.perWorker));
    result.connect = await connectStreams(workers, {
      ports,
      path: '/sse',
      secret: BENCH_JWT_SECRET,
      users,
      streamsPerUser: 1,
      concurrency: options.concurrency,
    });
    await waitForStreams(servers, perInstance(users));
    log(`redis: ${result.connect.opened} streams over 3 instances in ${(result.connect.ms / 1000).toFixed(1)} s`);
    // Unmeasured warm-up of the three instances' publish and delivery paths.
    await targetedPhase(publisher, workers, servers, { sends: 300, rate: 0, concurrency: 8, users, streamsPerUser: 1, seed: 6 });
    await broadcastPhase(publisher, workers, servers, { events: 2, streams: users, idleMs: options.idleMs });
    result.targeted = await targetedPhase(publisher, workers, servers, {
      sends: options.redisSends,
      rate: options.targetedRate,
      users,
      streamsPerUser: 1,
      seed: 7,
      publishingPort: ports[0],
    });
    const t = result.targeted;
    log(
      `redis: targeted cross-instance p50 ${t.crossInstance?.p50.toFixed(2)} ms, p99 ${t.crossInstance?.p99.toFixed(2)} ms ` +
        `(same instance p99 ${t.sameInstance?.p99.toFixed(2)} ms)`,
    );
    result.burst = await targetedPhase(publisher, workers, servers, {
      sends: options.redisBurst,
      rate: 0,
      concurrency: 32,
      users,
      streamsPerUser: 1,
      seed: 8,
      publishingPort: ports[0],
    });
    log(
      `redis: burst of ${options.redisBurst} sends: ${Math.round(result.burst.deliveriesPerSecond ?? 0)} deliveries/s, ` +
        `${result.burst.lost} lost`,
    );
    result.broadcast = await broadcastPhase(publisher, workers, servers, {
      events: options.broadcastEvents,
      streams: users,
      idleMs: options.idleMs,
    });
    log(`redis: broadcast ${Math.round(result.broadcast.deliveriesPerSecond)} deliveries/s, ${result.broadcast.missing} missing`);
    await Promise.all(workers.map((worker) => worker.request('closeAll', {}, 60_000)));
    await waitForStreams(servers, [0, 0, 0]);

    // Holding many streams across the three.
    const hold = options.redisHold;
    const holdWorkers = await pool.ensure(workersFor(hold, options.perWorker));
    workers = holdWorkers;
    const rssBefore = await Promise.all(servers.map(async (server) => (await server.stats()).rss));
    const connect = await connectStreams(holdWorkers, {
      ports,
      path: '/sse',
      secret: BENCH_JWT_SECRET,
      users: hold,
      userOffset: HOLD_OFFSET,
      streamsPerUser: 1,
      concurrency: options.concurrency,
      timeoutMs: 120_000,
    });
    const held = await waitForStreams(servers, perInstance(hold, HOLD_OFFSET), 60_000);
    const after = await Promise.all(servers.map((server) => server.stats()));
    const statsAnswer = await publisher.get('/sse/stats');
    const clusterStats = statsAnswer.status === 200 ? JSON.parse(statsAnswer.body) : { status: statsAnswer.status };
    const total = held.reduce((sum, value) => sum + value, 0);
    log(`redis: holding ${total}/${hold} streams (${held.join(' + ')}), connected in ${(connect.ms / 1000).toFixed(1)} s`);
    const broadcast = await broadcastPhase(publisher, holdWorkers, servers, {
      events: Math.min(3, options.broadcastEvents),
      streams: hold,
      idleMs: options.idleMs,
    });
    log(`redis: broadcast to ${hold}: ${broadcast.complete} streams complete, ${broadcast.missing} missing`);
    result.hold = {
      wanted: hold,
      connect,
      perInstance: held,
      rssPerInstanceMB: after.map((stats) => stats.rss / 1024 / 1024),
      rssPerStreamKB: after.reduce((sum, stats, i) => sum + stats.rss - rssBefore[i], 0) / Math.max(1, total) / 1024,
      clusterStats,
      allOpen: total === hold && (clusterStats as { streams?: number }).streams === hold,
      broadcast,
    };
  } catch (err) {
    result.error = (err as Error).message;
    log(`redis: ${result.error}`);
  } finally {
    publishers.forEach((publisher) => publisher.close());
    await teardown(pool.workers, servers);
    result.keysCleaned = await cleanRedis(options.redisUrl!, prefix).catch((err: Error) => {
      log(`redis: could not clean ${prefix}*: ${err.message}`);
      return undefined;
    });
  }
  result.ms = clock() - started;
  return result;
}

/** Users of the hold are u1000000… (a fresh set: the first part's leases may still be on their way out). */
const HOLD_OFFSET = 1_000_000;

async function cleanRedis(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cleaned = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length > 0) cleaned += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return cleaned;
}

/**
 * Our server (as the demo ships, on Fastify) under --cpu-prof: N streams take
 * broadcasts, then targeted sends arrive back to back (8 at a time, so that the
 * window is busy). Each phase is summarized over its own window.
 */
async function runProfile(options: BenchOptions, pool: LoadPool): Promise<ProfileRuns> {
  const dir = join(options.outDir, 'profile');
  mkdirSync(dir, { recursive: true });
  const name = `${DEFAULT_OURS}.cpuprofile`;
  const n = options.profileN;
  const workers = await pool.ensure(workersFor(n, options.perWorker));
  const server = await startServer(SERVERS[DEFAULT_OURS], {
    env: serverEnv(DEFAULT_OURS),
    execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`],
    name: `${DEFAULT_OURS}-profiled`,
  });
  const publisher = new Publisher(server.port, SERVERS[DEFAULT_OURS].publishPath, ADMIN);
  const windows: Record<string, { fromUs: number; toUs: number }> = {};
  try {
    await connectStreams(workers, { ports: [server.port], path: '/sse', secret: BENCH_JWT_SECRET, users: n, streamsPerUser: 1, concurrency: options.concurrency });
    await waitForStreams([server], [n]);
    let fromUs = await server.mark();
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
    options: { ...options, redisUrl: options.redisUrl ? '(set)' : undefined, databaseUrl: options.databaseUrl ? '(set)' : undefined },
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(options.outDir, { recursive: true });
  const started = clock();
  const results: BenchResults = { meta: meta(options), runs: [] };
  log(
    `N = ${options.ns.join(', ')}; servers: ${options.servers.join(', ')}; ` +
      `Redis: ${options.redis ? 'yes' : 'no (REDIS_URL not set)'}; profile: ${options.profile ? 'yes' : 'no'}`,
  );
  const pool = new LoadPool();
  const stop = async () => {
    await pool.close();
    process.exit(130);
  };
  process.once('SIGINT', () => void stop());
  try {
    for (const n of options.inboxOnly ? [] : options.ns) {
      for (const kind of options.servers) {
        results.runs.push(await runScenario(options, pool, kind, n, 1, { broadcast: true, targeted: true, churn: true }));
      }
      if (options.multi > 1 && options.multiNs.includes(n)) {
        for (const kind of options.servers) {
          results.runs.push(
            await runScenario(options, pool, kind, n, options.multi, { broadcast: true, targeted: true, churn: false }),
          );
        }
      }
    }
    if (options.redis && !options.inboxOnly) results.redis = await runRedis(options, pool);
    if (options.profile && !options.inboxOnly) results.profile = await runProfile(options, pool);
    if (options.inbox) {
      results.inbox = await runInboxBench(
        {
          sends: options.inboxSends,
          rounds: options.inboxRounds,
          users: options.inboxUsers,
          big: options.inboxBig,
          countReads: 200,
          redisUrl: options.redisUrl,
          databaseUrl: options.databaseUrl,
          serverEnv: (extra) => serverEnv(DEFAULT_OURS, extra),
        },
        log,
      );
    }
  } finally {
    await pool.close();
  }
  (results.meta as Record<string, unknown>).loadAverageAtEnd = loadavg();
  (results.meta as Record<string, unknown>).totalSeconds = (clock() - started) / 1000;

  const report = buildReport(results);
  results.table = report.rows;
  results.targets = report.targets;
  console.log(`\n${report.text}`);
  const profileText = results.profile && formatProfileRuns(results.profile);
  if (profileText) console.log(`\n${profileText}`);
  if (results.inbox) console.log(`\n${formatInbox(results.inbox)}`);
  const jsonPath = join(options.outDir, options.smoke ? 'smoke.json' : 'latest.json');
  const chartPath = join(options.outDir, options.smoke ? 'smoke-chart.svg' : 'chart.svg');
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(chartPath, renderChart(results));
  if (profileText) writeFileSync(join(options.outDir, 'profile-summary.txt'), `${profileText}\n`);
  log(`results: ${jsonPath}; chart: ${chartPath}; ${((clock() - started) / 1000).toFixed(0)} s in all`);
}

await main();
