// Processes of a run: the servers under test and the pool of load generators.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IpcClient } from './ipc.js';
import { BENCH_JWT_SECRET } from './jwt.js';
import type { ServerStats } from '../servers/server-ipc.js';

/** dist-bench/, where the compiled scripts live. */
export const BENCH_DIST = fileURLToPath(new URL('..', import.meta.url));

/**
 * `raw` and `express` are the same minimal fan-out, routed by node:http or by
 * Express alone; `module` is our demo app on Express, `fastify` the same app on
 * Fastify (its default adapter), `redis` that one over Redis; `plain` is NestJS
 * as tutorials write it.
 */
export type ServerKind = 'raw' | 'express' | 'module' | 'fastify' | 'redis' | 'plain';

export interface ServerDefinition {
  readonly kind: ServerKind;
  readonly label: string;
  readonly script: string;
  readonly publishPath: string;
  /** Our demo app, with its settings for the bench. */
  readonly ours: boolean;
  /** What this server adds to the environment. */
  readonly env?: Record<string, string>;
  /** Runs over the bench's Redis (a key prefix of its own each time). */
  readonly redis?: boolean;
}

export const SERVERS: Record<ServerKind, ServerDefinition> = {
  raw: { kind: 'raw', label: 'raw node:http', script: 'servers/raw-server.js', publishPath: '/publish', ours: false },
  express: { kind: 'express', label: 'Express alone', script: 'servers/express-server.js', publishPath: '/publish', ours: false },
  module: {
    kind: 'module',
    label: 'ours on Express',
    script: 'servers/module-server.js',
    publishPath: '/notifications',
    ours: true,
    env: { HTTP_ADAPTER: 'express' },
  },
  fastify: {
    kind: 'fastify',
    label: 'ours on Fastify',
    script: 'servers/module-server.js',
    publishPath: '/notifications',
    ours: true,
    env: { HTTP_ADAPTER: 'fastify' },
  },
  redis: {
    kind: 'redis',
    label: 'ours on Fastify over Redis',
    script: 'servers/module-server.js',
    publishPath: '/notifications',
    ours: true,
    env: { HTTP_ADAPTER: 'fastify' },
    redis: true,
  },
  plain: { kind: 'plain', label: 'plain NestJS', script: 'servers/plain-nest-server.js', publishPath: '/publish', ours: false },
};

/** Our servers, in the order the table shows them. */
export const OUR_KINDS: readonly ServerKind[] = ['module', 'fastify', 'redis'];

/** Ours as the demo app ships (Fastify): what the Redis scenarios and the profile run. */
export const DEFAULT_OURS: ServerKind = 'fastify';

/**
 * The environment of a server of the bench: the secret every server verifies with and, for ours, the
 * demo's settings for the bench. In memory unless `extra` says otherwise: the environment's REDIS_URL
 * and DATABASE_URL are the bench's, not the servers'.
 */
export function serverEnv(kind: ServerKind, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { JWT_SECRET: BENCH_JWT_SECRET, ...SERVERS[kind].env };
  if (SERVERS[kind].ours) {
    // Heartbeats off: the other servers have none. The per-instance cap above
    // the default 10,000 (SSE_MAX_CONNECTIONS; see module-server.ts).
    Object.assign(env, {
      SSE_HEARTBEAT_MS: '3600000',
      SSE_MAX_CONNECTIONS: '20000',
      DEMO_TOKENS: 'false',
    });
  }
  return { REDIS_URL: '', DATABASE_URL: '', ...env, ...extra };
}

export interface ServerHandle {
  readonly definition: ServerDefinition;
  readonly ipc: IpcClient;
  readonly port: number;
  readonly ready: Record<string, unknown>;
  stats(gc?: boolean): Promise<ServerStats>;
  mark(): Promise<number>;
  stop(): Promise<void>;
  /** SIGKILL: the process dies at once, with no cleanup (its sockets are closed by the kernel). */
  kill(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  execArgv?: string[];
  name?: string;
}

/** Forks a server with --expose-gc and an IPC channel; resolves once it listens. */
export async function startServer(definition: ServerDefinition, options: StartOptions = {}): Promise<ServerHandle> {
  const child = fork(`${BENCH_DIST}${definition.script}`, [], {
    execArgv: ['--expose-gc', ...(options.execArgv ?? [])],
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', ...options.env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ipc = new IpcClient(options.name ?? definition.kind, child);
  const ready = await ipc.next('ready', 60_000);
  return {
    definition,
    ipc,
    port: ready.port as number,
    ready,
    stats: (gc = true) => ipc.request<ServerStats>('stats', { gc }, 60_000),
    mark: async () => (await ipc.request<{ hrtimeUs: number }>('mark')).hrtimeUs,
    stop: async () => {
      if (!ipc.alive) return;
      const exited = ipc.exited;
      await ipc.request('exit', {}, 10_000).catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    kill: async () => {
      if (!ipc.alive) return;
      const exited = ipc.exited;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Load generator processes, started on demand and kept for the whole run. */
export class LoadPool {
  readonly workers: IpcClient[] = [];

  async ensure(count: number): Promise<IpcClient[]> {
    while (this.workers.length < count) {
      const index = this.workers.length;
      const child = fork(`${BENCH_DIST}load/load-worker.js`, [], {
        execArgv: ['--max-old-space-size=2048'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const worker = new IpcClient(`load-${index}`, child);
      await worker.request('status', {}, 30_000);
      this.workers.push(worker);
    }
    return this.workers.slice(0, count);
  }

  /** Enough of them for `streams`, at most `perWorker` each. */
  forStreams(streams: number, perWorker: number): Promise<IpcClient[]> {
    return this.ensure(Math.max(1, Math.ceil(streams / perWorker)));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (!worker.alive) return;
        worker.child.disconnect();
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), 5000);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
  }
}
