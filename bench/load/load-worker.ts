// A load generator process: holds up to ~9,000 SSE streams (its fd limit is
// 20,000), counts the events of each, and measures publish-to-receive latency
// from the send time the publisher put in each event. Driven by the
// orchestrator over IPC.
import { serveIpc } from '../lib/ipc.js';
import { signJwt } from '../lib/jwt.js';
import { HIST_SIZE, histogramIndex, sparse } from '../lib/histogram.js';
import { BROADCAST_TYPE, type BenchEventData, clock, TARGETED_TYPE } from '../lib/protocol.js';
import { type ClientSink, SseConnection, type StreamSpec } from './sse-client.js';

type EventData = BenchEventData;

const conns = new Set<SseConnection>();
let openCount = 0;
const handshakes = new Map<SseConnection, (status: number, error: string | undefined) => void>();
let unexpectedCloses = 0;
const closeErrors: Record<string, number> = {};
let closeWaiter: (() => void) | undefined;

let phase = 0;
// Broadcast phase.
let expectedPerStream = 0;
let complete = 0;
let delivered = 0;
let duplicates = 0;
let firstRecv = 0;
let lastRecv = 0;
let histogram = new Uint32Array(HIST_SIZE);
let broadcastWaiter: (() => void) | undefined;
// Targeted phase.
let latencies: number[] = [];
/** The port of the stream each latency was measured on (which instance, over Redis). */
let latencyPorts: number[] = [];
let targetedLastRecv = 0;
let misdelivered = 0;
let otherEvents = 0;

const tokens = new Map<number, string>();
let churned: StreamSpec[] = [];

const sink: ClientSink = {
  onHead(conn, status) {
    if (status === 200) openCount++;
    const done = handshakes.get(conn);
    if (done) {
      handshakes.delete(conn);
      done(status, conn.error);
    }
  },
  onEvent(conn, type, data) {
    if (type === BROADCAST_TYPE) {
      const event = JSON.parse(data) as EventData;
      if (event.p !== phase) return;
      const now = clock();
      delivered++;
      histogram[histogramIndex(now - event.t)]++;
      if (firstRecv === 0) firstRecv = now;
      lastRecv = now;
      const received = ++conn.received;
      if (received === expectedPerStream) {
        if (++complete >= openCount) broadcastWaiter?.();
      } else if (received > expectedPerStream) duplicates++;
    } else if (type === TARGETED_TYPE) {
      const event = JSON.parse(data) as EventData;
      if (event.p !== phase) return;
      const now = clock();
      latencies.push(now - event.t);
      latencyPorts.push(conn.spec.port);
      targetedLastRecv = now;
      if (event.u !== conn.spec.userId) misdelivered++;
    } else {
      otherEvents++;
    }
  },
  onClose(conn, error) {
    conns.delete(conn);
    if (conn.status === 200) {
      openCount--;
      if (!conn.closing) {
        unexpectedCloses++;
        const key = error ?? 'closed-by-server';
        closeErrors[key] = (closeErrors[key] ?? 0) + 1;
      }
    }
    if (conns.size === 0) closeWaiter?.();
  },
};

interface OpenResult {
  opened: number;
  failed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  ms: number;
}

function open(specs: StreamSpec[], concurrency: number, timeoutMs: number): Promise<OpenResult> {
  const started = clock();
  const result: OpenResult = { opened: 0, failed: 0, statuses: {}, errors: {}, ms: 0 };
  if (specs.length === 0) return Promise.resolve(result);
  return new Promise((resolve) => {
    let next = 0;
    let inflight = 0;
    const launch = () => {
      while (inflight < concurrency && next < specs.length) {
        const conn = new SseConnection(specs[next++], sink, timeoutMs);
        inflight++;
        conns.add(conn);
        handshakes.set(conn, (status, error) => {
          inflight--;
          if (status === 200) result.opened++;
          else {
            result.failed++;
            const key = String(status || 'none');
            result.statuses[key] = (result.statuses[key] ?? 0) + 1;
            if (error) result.errors[error] = (result.errors[error] ?? 0) + 1;
          }
          if (result.opened + result.failed === specs.length) {
            result.ms = clock() - started;
            resolve(result);
          } else launch();
        });
      }
    };
    launch();
  });
}

function tokenOf(secret: string, user: number): string {
  let token = tokens.get(user);
  if (!token) tokens.set(user, (token = signJwt(secret, `u${user}`)));
  return token;
}

function openConns(): SseConnection[] {
  return [...conns].filter((conn) => conn.open);
}

function waitForNoConnections(timeoutMs: number): Promise<number> {
  if (conns.size === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      closeWaiter = undefined;
      resolve(conns.size);
    }, timeoutMs);
    closeWaiter = () => {
      clearTimeout(timer);
      closeWaiter = undefined;
      resolve(0);
    };
  });
}

serveIpc({
  /** Opens `streamsPerUser` streams for each user of [userStart, userEnd). */
  connect: (request) => {
    const { userStart, userEnd, streamsPerUser, ports, host, path, secret, concurrency, timeoutMs, localAddresses } =
      request as unknown as {
        userStart: number;
        userEnd: number;
        streamsPerUser: number;
        ports: number[];
        host: string;
        path: string;
        secret: string;
        concurrency: number;
        timeoutMs: number;
        localAddresses?: string[];
      };
    const specs: StreamSpec[] = [];
    for (let user = userStart; user < userEnd; user++) {
      for (let s = 0; s < streamsPerUser; s++) {
        specs.push({
          user,
          userId: `u${user}`,
          host,
          port: ports[user % ports.length],
          path,
          token: tokenOf(secret, user),
          localAddress: localAddresses?.length ? localAddresses[specs.length % localAddresses.length] : undefined,
        });
      }
    }
    return open(specs, concurrency, timeoutMs);
  },

  /** Starts a phase: counters to zero; a broadcast phase expects `m` events on every stream. */
  reset: (request) => {
    phase = request.phase as number;
    expectedPerStream = (request.m as number | undefined) ?? 0;
    complete = delivered = duplicates = firstRecv = lastRecv = misdelivered = otherEvents = 0;
    histogram = new Uint32Array(HIST_SIZE);
    latencies = [];
    latencyPorts = [];
    targetedLastRecv = 0;
    for (const conn of conns) conn.received = 0;
    return { phase, open: openCount };
  },

  /** Resolves once every open stream has its `m` events, or nothing arrived for `idleMs`, or after `maxMs`. */
  waitBroadcast: async (request) => {
    const idleMs = (request.idleMs as number) ?? 5000;
    const maxMs = (request.maxMs as number) ?? 120_000;
    const started = clock();
    if (complete < openCount) {
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const now = clock();
          const last = lastRecv || started;
          if (now - last > idleMs || now - started > maxMs) finish();
        }, 100);
        const finish = () => {
          clearInterval(timer);
          broadcastWaiter = undefined;
          resolve();
        };
        broadcastWaiter = finish;
      });
    }
    let incomplete = 0;
    let missing = 0;
    for (const conn of conns) {
      if (!conn.open) continue;
      if (conn.received < expectedPerStream) {
        incomplete++;
        missing += expectedPerStream - conn.received;
      }
    }
    return {
      streams: openCount,
      complete,
      incomplete,
      missing,
      delivered,
      duplicates,
      firstRecv,
      lastRecv,
      histogram: sparse(histogram),
      cpu: process.cpuUsage(),
    };
  },

  targetedCount: () => ({ count: latencies.length, misdelivered }),
  targetedResult: () => {
    const byPort: Record<string, number[]> = {};
    latencies.forEach((latency, i) => (byPort[latencyPorts[i]] ??= []).push(latency));
    return { count: latencies.length, misdelivered, otherEvents, byPort, lastRecv: targetedLastRecv, cpu: process.cpuUsage() };
  },

  /** Closes `count` open streams, spread evenly, and remembers them for `reconnect`. */
  disconnect: async (request) => {
    const count = request.count as number;
    const open = openConns();
    const step = open.length / Math.max(1, count);
    const chosen: SseConnection[] = [];
    for (let i = 0; i < count && i < open.length; i++) chosen.push(open[Math.floor(i * step)]);
    churned = chosen.map((conn) => conn.spec);
    const closed = Promise.all(
      chosen.map((conn) => new Promise<void>((resolve) => conn.socket.once('close', () => resolve()))),
    );
    chosen.forEach((conn) => conn.close());
    await closed;
    return { closed: chosen.length, open: openCount };
  },

  reconnect: (request) => open(churned, request.concurrency as number, request.timeoutMs as number),

  /** Closes every stream here. */
  closeAll: async (request) => {
    for (const conn of conns) conn.close();
    return { left: await waitForNoConnections((request.timeoutMs as number) ?? 30_000) };
  },

  /** The server is about to go: its closes are not errors. */
  expectClose: () => {
    for (const conn of conns) conn.closing = true;
    return { open: openCount };
  },

  waitClosed: async (request) => ({ left: await waitForNoConnections((request.timeoutMs as number) ?? 30_000) }),

  status: () => ({
    open: openCount,
    sockets: conns.size,
    unexpectedCloses,
    closeErrors,
    rss: process.memoryUsage().rss,
    cpu: process.cpuUsage(),
  }),
});
