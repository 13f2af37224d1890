import { type IpcHandler, notifyParent, serveIpc } from '../lib/ipc.js';

/** What every server answers to `{ type: 'stats' }`. */
export interface ServerStats {
  pid: number;
  rss: number;
  /** After a full GC (unless the request said `gc: false`). */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cpu: NodeJS.CpuUsage;
  /** hrtime in microseconds: the clock of a `--cpu-prof` profile. */
  hrtimeUs: number;
  /** The server's own counts: streams, users, sizes of its maps. */
  counts: Record<string, number>;
  gc: boolean;
}

function fullGc(): void {
  if (typeof globalThis.gc !== 'function') throw new Error('start the server with --expose-gc');
  // Twice: finalizers and weak references freed by the first pass are collected by the second.
  globalThis.gc();
  globalThis.gc();
}

export function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The IPC handlers every bench server installs: `stats` (memory after a GC,
 * CPU, counts), `mark` (the profile clock, to cut a window out of a
 * `--cpu-prof` profile) and `exit`; and a server's own (`extra`).
 */
export function serveServerIpc(
  counts: () => Record<string, number> | Promise<Record<string, number>>,
  extra: Record<string, IpcHandler> = {},
): void {
  serveIpc({
    ...extra,
    stats: async (request): Promise<ServerStats> => {
      const gc = request.gc !== false;
      // CPU first: the GC below is the measurement's own cost, not the server's.
      const cpu = process.cpuUsage();
      const at = hrtimeUs();
      if (gc) fullGc();
      const memory = process.memoryUsage();
      return {
        pid: process.pid,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        cpu,
        hrtimeUs: at,
        counts: await counts(),
        gc,
      };
    },
    mark: () => ({ hrtimeUs: hrtimeUs() }),
    // process.exit() still writes a --cpu-prof profile.
    exit: () => {
      setImmediate(() => process.exit(0));
      return { exiting: true };
    },
  });
}

export function announceReady(port: number, extra: Record<string, unknown> = {}): void {
  notifyParent({ type: 'ready', port, pid: process.pid, ...extra });
}

/** Sizes of the Maps and Sets held directly by an object (internals, read defensively). */
export function collectionSizes(prefix: string, object: unknown, into: Record<string, number>): void {
  if (!object || typeof object !== 'object') return;
  for (const [key, value] of Object.entries(object)) {
    if (value instanceof Map || value instanceof Set) into[`${prefix}.${key}`] = value.size;
    else if (Array.isArray(value)) into[`${prefix}.${key}.length`] = value.length;
  }
}
