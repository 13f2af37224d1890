import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Keeps `npm run bench` working: the compiled bench at N = 200 (bench:smoke),
 * three servers and the load generators in their own processes. Asserts that
 * the run completed, that every scenario produced numbers, and that every
 * stream got every event. Correctness only: no timing is asserted.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;

interface Run {
  server: string;
  n: number;
  streamsPerUser: number;
  streams: number;
  error?: string;
  connect?: { opened: number; failed: number };
  memory?: { rssPerStreamKB: number; heapPerStreamKB: number };
  broadcast?: { expected: number; delivered: number; complete: number; missing: number; duplicates: number; streams: number; deliveriesPerSecond: number };
  targeted?: { expected: number; received: number; lost: number; misdelivered: number; p50: number; p99: number; cpuPerSendUs: number };
  churn?: { streamsBefore: number; streamsAfter: number; reconnectFailed: number; countsChanged: string[] };
}

interface Results {
  runs: Run[];
  redis?: {
    error?: string;
    targeted?: Run['targeted'];
    broadcast?: Run['broadcast'];
    hold?: { allOpen: boolean; broadcast?: Run['broadcast'] };
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

describe('bench smoke (N = 200)', () => {
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
    'runs every scenario on every server (Express alone, ours on Express and on Fastify), and every stream gets every event',
    async () => {
      const { code, output } = await runSmoke(outDir);
      expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
      const results = JSON.parse(readFileSync(join(outDir, 'smoke.json'), 'utf8')) as Results;
      expect(readFileSync(join(outDir, 'smoke-chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

      for (const server of ['raw', 'express', 'module', 'fastify', 'plain']) {
        for (const streamsPerUser of [1, 3]) {
          const run = results.runs.find((r) => r.server === server && r.n === 200 && r.streamsPerUser === streamsPerUser);
          expect({ server, streamsPerUser, found: Boolean(run), error: run?.error }).toEqual({
            server,
            streamsPerUser,
            found: true,
            error: undefined,
          });
          expect(run!.connect).toMatchObject({ opened: run!.streams, failed: 0 });
          expect(Number.isFinite(run!.memory?.rssPerStreamKB)).toBe(true);
          expect(Number.isFinite(run!.memory?.heapPerStreamKB)).toBe(true);
          expectEveryEvent(run!.broadcast, run!.streams);
          expectTargeted(run!.targeted);
          if (streamsPerUser === 1) {
            expect(run!.churn).toMatchObject({ streamsBefore: 200, streamsAfter: 200, reconnectFailed: 0, countsChanged: [] });
          }
        }
      }

      if (process.env.REDIS_URL) {
        const redis = results.redis!;
        expect(redis.error).toBeUndefined();
        expectTargeted(redis.targeted);
        expect(redis.broadcast?.missing).toBe(0);
        expect(redis.hold?.allOpen).toBe(true);
        expect(redis.hold?.broadcast?.missing).toBe(0);
      }
      // The inbox: every store the environment offers measured, and every send with the inbox announced once.
      const stores = ['memory', ...(process.env.REDIS_URL ? ['redis'] : []), ...(process.env.DATABASE_URL ? ['postgres'] : [])];
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
