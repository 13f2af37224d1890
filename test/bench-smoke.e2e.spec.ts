import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Keeps `npm run bench` working: the compiled bench at a tiny size (bench:smoke),
 * the servers and the load generators in their own processes, two parts side by
 * side. Asserts that the run completed, that every scenario produced numbers,
 * and that every stream got every event: on each server alone, across the kill
 * of an instance (the reconnect storm) and over several instances (the scale
 * scenario). Correctness only: no timing is asserted.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;

interface Run {
  server: string;
  n: number;
  streamsPerUser: number;
  streams: number;
  error?: string;
  connect?: { opened: number; failed: number; perSecond: number; serverCpuPerConnectUs: number; loadCpuShare: number };
  memory?: { rssPerStreamKB: number; heapPerStreamKB: number };
  broadcast?: { expected: number; delivered: number; complete: number; missing: number; duplicates: number; streams: number; deliveriesPerSecond: number };
  targeted?: { expected: number; received: number; lost: number; misdelivered: number; p50: number; p99: number; cpuPerSendUs: number };
  inProcess?: { expected: number; received: number; lost: number; misdelivered: number; cpuPerCallUs: number };
  churn?: { streamsBefore: number; streamsAfter: number; reconnectFailed: number; countsChanged: string[] };
}

interface Results {
  runs: Run[];
  storm?: {
    streams: number;
    error?: string;
    recovery?: { allStreamingMs: number; failedOver: number; streaming: number; attempts: number };
    published?: { broadcasts: number; targeted: number; refused: number };
    delivery?: { users: number; caughtUp: number; received: number; missed: number; duplicates: number; outOfOrder: number; misdelivered: number; losses: number };
    window?: { historyReadsSent: number; historyReadsMerged: number; scriptCalls: number; redisOwn: boolean; reconnectAttempts: number; publishes: number };
  };
  scale?: {
    instances: number;
    loadWorkers: number;
    sourceAddresses: number;
    error?: string;
    stages: Array<{
      n: number;
      connect: { opened: number; failed: number };
      perInstance: number[];
      allOpen: boolean;
      rssPerStreamKB: number;
      broadcast?: Run['broadcast'];
      targeted?: Run['targeted'] & { crossInstance?: { count: number; p99: number } };
    }>;
  };
  inbox?: {
    stores: Array<{
      store: string;
      error?: string;
      publishRatio?: number;
      inboxEvents?: number;
      countUs?: { small: number; big: number };
      bytesPerItem?: number;
    }>;
  };
  table: unknown[];
  targets: unknown[];
}

function runSmoke(outDir: string): Promise<{ code: number | null; output: string }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the bench's processes
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist-bench/run.js', '--smoke', '--out-dir', outDir], { cwd: ROOT, env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`the smoke run did not finish within ${RUN_TIMEOUT_MS} ms:\n${output}`));
    }, RUN_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function expectEveryEvent(broadcast: Run['broadcast'], streams: number): void {
  expect(broadcast).toBeDefined();
  expect(broadcast!.streams).toBe(streams);
  expect(broadcast!.missing).toBe(0);
  expect(broadcast!.duplicates).toBe(0);
  expect(broadcast!.complete).toBe(streams);
  expect(broadcast!.delivered).toBe(broadcast!.expected);
  expect(Number.isFinite(broadcast!.deliveriesPerSecond)).toBe(true);
}

function expectTargeted(targeted: Run['targeted']): void {
  expect(targeted).toBeDefined();
  expect(targeted!.lost).toBe(0);
  expect(targeted!.misdelivered).toBe(0);
  expect(targeted!.received).toBe(targeted!.expected);
  for (const value of [targeted!.p50, targeted!.p99, targeted!.cpuPerSendUs]) expect(Number.isFinite(value)).toBe(true);
}

describe('bench smoke (tiny sizes)', () => {
  let outDir: string;

  beforeAll(() => {
    outDir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const tsc = join(ROOT, 'node_modules/.bin/tsc');
    // The bench runs the compiled demo (dist/), which `npm test` builds first.
    if (!existsSync(join(ROOT, 'dist/demo/demo.app.js'))) execFileSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: ROOT });
    execFileSync(tsc, ['-p', 'bench/tsconfig.json'], { cwd: ROOT });
  }, 60_000);

  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it(
    'runs every scenario: each server alone, the reconnect storm, the scale scenario and the inbox; every stream gets every event',
    async () => {
      const { code, output } = await runSmoke(outDir);
      expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
      const results = JSON.parse(readFileSync(join(outDir, 'smoke.json'), 'utf8')) as Results;
      expect(readFileSync(join(outDir, 'smoke-chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

      // Each server alone (ours on Express runs the same server script as ours on Fastify; the full run has it);
      // several streams per user on raw only: what that checks is the load generators' side.
      const single = [
        ...['raw', 'express', 'fastify', 'redis', 'plain'].map((server) => ({ server, streamsPerUser: 1 })),
        { server: 'raw', streamsPerUser: 3 },
      ];
      for (const { server, streamsPerUser } of single) {
        const run = results.runs.find((r) => r.server === server && r.n === 200 && r.streamsPerUser === streamsPerUser);
        expect({ server, streamsPerUser, found: Boolean(run), error: run?.error }).toEqual({
          server,
          streamsPerUser,
          found: true,
          error: undefined,
        });
        expect(run!.connect).toMatchObject({ opened: run!.streams, failed: 0 });
        for (const value of [run!.connect!.perSecond, run!.connect!.serverCpuPerConnectUs, run!.connect!.loadCpuShare]) {
          expect(Number.isFinite(value)).toBe(true);
        }
        expect(Number.isFinite(run!.memory?.rssPerStreamKB)).toBe(true);
        expect(Number.isFinite(run!.memory?.heapPerStreamKB)).toBe(true);
        expectEveryEvent(run!.broadcast, run!.streams);
        expectTargeted(run!.targeted);
        if (streamsPerUser === 1) {
          expect(run!.churn).toMatchObject({ streamsBefore: 200, streamsAfter: 200, reconnectFailed: 0, countsChanged: [] });
        }
        // Ours: publishToUser in the server's own process, each event at its user's stream.
        if (server === 'fastify' || server === 'redis') {
          expect(run!.inProcess).toMatchObject({ lost: 0, misdelivered: 0 });
          expect(run!.inProcess!.received).toBe(run!.inProcess!.expected);
          expect(Number.isFinite(run!.inProcess!.cpuPerCallUs)).toBe(true);
        }
      }

      // The storm: every client of the killed instance streams again elsewhere, and got every event addressed
      // to it exactly once, in order, with no sse.loss; Redis's own count covers the reads the survivors sent.
      const storm = results.storm!;
      expect(storm.error).toBeUndefined();
      expect(storm.recovery).toMatchObject({ failedOver: storm.streams, streaming: storm.streams });
      expect(Number.isFinite(storm.recovery!.allStreamingMs)).toBe(true);
      expect(storm.published!.broadcasts).toBeGreaterThan(0);
      expect(storm.published!.targeted).toBeGreaterThan(0);
      expect(storm.delivery).toEqual({
        users: storm.streams,
        caughtUp: storm.streams,
        missed: 0,
        duplicates: 0,
        outOfOrder: 0,
        misdelivered: 0,
        losses: 0,
        received: expect.any(Number),
      });
      const w = storm.window!;
      // Each resume reads its user's history and the broadcasts'.
      expect(w.historyReadsSent + w.historyReadsMerged).toBeGreaterThanOrEqual(2 * storm.streams);
      expect(w.historyReadsSent).toBeGreaterThan(0);
      expect(w.redisOwn).toBe(true);
      // At least the reads sent and one limiter acquire per stream that came back (publishes ran scripts too).
      expect(w.scriptCalls).toBeGreaterThanOrEqual(w.historyReadsSent + storm.streams);

      // The scale scenario: several load generators with a source address each; at every size, every stream
      // held and counted by the cluster, a broadcast reaching all, targeted sends across instances.
      const scale = results.scale!;
      expect(scale.error).toBeUndefined();
      expect(scale.loadWorkers).toBeGreaterThan(1);
      expect(scale.sourceAddresses).toBe(scale.loadWorkers);
      expect(scale.stages.map((stage) => stage.n)).toEqual([100, 300]);
      for (const stage of scale.stages) {
        expect(stage.connect.failed).toBe(0);
        expect(stage.allOpen).toBe(true);
        expect(stage.perInstance.reduce((a, b) => a + b, 0)).toBe(stage.n);
        expect(Number.isFinite(stage.rssPerStreamKB)).toBe(true);
        expectEveryEvent(stage.broadcast, stage.n);
        expectTargeted(stage.targeted);
        expect(stage.targeted!.crossInstance!.count).toBeGreaterThan(0);
      }

      // The inbox: every store the environment offers measured (Redis: the bench's own), and every send with the inbox announced once.
      const stores = ['memory', 'redis', ...(process.env.DATABASE_URL ? ['postgres'] : [])];
      expect(results.inbox?.stores.map((s) => ({ store: s.store, error: s.error }))).toEqual(stores.map((store) => ({ store, error: undefined })));
      for (const s of results.inbox!.stores) {
        expect(s.inboxEvents).toBeGreaterThan(0);
        for (const value of [s.publishRatio, s.countUs?.small, s.countUs?.big]) expect(Number.isFinite(value)).toBe(true);
        if (s.store !== 'memory') expect(s.bytesPerItem).toBeGreaterThan(0);
      }
      expect(results.table.length).toBeGreaterThan(0);
      expect(results.targets.length).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS + 30_000,
  );
});
