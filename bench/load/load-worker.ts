// A load generator process: holds up to ~9,000 SSE streams (its fd limit is
// 20,000), counts the events of each, and measures publish-to-receive latency
// from the send time the publisher put in each event. Driven by the
// orchestrator over IPC. Its streams of the reconnect storm are resumable: when
// their instance dies, they reconnect at once to another, with Last-Event-ID.
import { serveIpc } from '../lib/ipc.js';
import { signJwt } from '../lib/jwt.js';
import { HIST_SIZE, histogramIndex, sparse } from '../lib/histogram.js';
import {
  BROADCAST_TYPE,
  type BenchEventData,
  clock,
  type StormEventData,
  STORM_TYPE,
  TARGETED_TYPE,
} from '../lib/protocol.js';
import { LOSS_EVENT } from '../../dist/protocol/reserved-events.js';
import type { OpenAnswer, StormDelivery } from '../lib/types.js';
import { DeliveryCheck } from './delivery-check.js';
import { type ClientSink, SseConnection, type StreamSpec } from './sse-client.js';

/** A stream to open; a resumable one carries the check of its user's storm events. */
interface LoadSpec extends StreamSpec {
  readonly check?: DeliveryCheck;
}

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
/** Streams made ready for the next timed `open`: tokens signed beforehand. */
let prepared: LoadSpec[] = [];

// The reconnect storm.
const checks = new Map<number, DeliveryCheck>();
/** Where resumable streams go when theirs closes (the surviving instances), once armed. */
let failover: { ports: number[]; timeoutMs: number; retryMs: number } | undefined;
/** Reconnections not yet streaming (no event yet), and retries waiting for their time. */
const recovering = new Set<SseConnection>();
const retryTimers = new Set<NodeJS.Timeout>();
/** What the storm's clients should have got (see expectDelivery). */
let expected:
  | { lastBroadcast: number; own: Record<string, number>; refusedBroadcasts: Set<number>; refusedOwn: Map<string, Set<number>> }
  | undefined;
const storm = { failedOver: 0, attempts: 0, retries: 0, statuses: {} as Record<string, number>, streamingAt: [] as number[] };

const sink: ClientSink = {
  onHead(conn, status) {
    if (status === 200) openCount++;
    const done = handshakes.get(conn);
    if (done) {
      handshakes.delete(conn);
      done(status, conn.error);
    }
  },
  onEvent(conn, type, data, id) {
    if (recovering.delete(conn)) storm.streamingAt.push(clock());
    if (type === STORM_TYPE) {
      (conn.spec as LoadSpec).check?.onEvent(JSON.parse(data) as StormEventData, id);
    } else if (type === BROADCAST_TYPE) {
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
    } else if (type === LOSS_EVENT && (conn.spec as LoadSpec).check) {
      (conn.spec as LoadSpec).check!.losses++;
    } else {
      otherEvents++;
    }
  },
  onClose(conn, error) {
    conns.delete(conn);
    const spec = conn.spec as LoadSpec;
    if (recovering.delete(conn) && !conn.closing) {
      // A reconnection that did not get to stream (refused, or the socket failed): again, after a pause.
      const key = String(conn.status || conn.error || 'none');
      storm.statuses[key] = (storm.statuses[key] ?? 0) + 1;
      storm.retries++;
      if (failover) reopenElsewhere(spec, conn.lastEventId, failover.retryMs);
    } else if (conn.status === 200 && !conn.closing && spec.check && failover) {
      storm.failedOver++;
      reopenElsewhere(spec, conn.lastEventId, 0);
    }
    if (conn.status === 200) {
      openCount--;
      if (!conn.closing && !(spec.check && failover)) {
        unexpectedCloses++;
        const key = error ?? 'closed-by-server';
        closeErrors[key] = (closeErrors[key] ?? 0) + 1;
      }
    }
    if (conns.size === 0) closeWaiter?.();
  },
};

function open(specs: StreamSpec[], concurrency: number, timeoutMs: number): Promise<OpenAnswer> {
  const started = clock();
  const cpu = process.cpuUsage();
  const result: OpenAnswer = { opened: 0, failed: 0, statuses: {}, errors: {}, ms: 0, startedAt: started, doneAt: started, cpu };
  if (specs.length === 0) return Promise.resolve({ ...result, cpu: process.cpuUsage(cpu) });
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
            result.doneAt = clock();
            result.ms = result.doneAt - started;
            result.cpu = process.cpuUsage(cpu);
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

/** A resumable stream's next connection: to a surviving instance, after `lastEventId`. */
function reopenElsewhere(spec: LoadSpec, lastEventId: string | undefined, delayMs: number): void {
  const go = (timer?: NodeJS.Timeout) => {
    if (timer) retryTimers.delete(timer);
    if (!failover) return;
    const { ports, timeoutMs } = failover;
    const conn = new SseConnection({ ...spec, port: ports[spec.user % ports.length], lastEventId }, sink, timeoutMs);
    conns.add(conn);
    recovering.add(conn);
    storm.attempts++;
  };
  if (delayMs <= 0) return go();
  const timer: NodeJS.Timeout = setTimeout(() => go(timer), delayMs);
  retryTimers.add(timer);
}

function disarm(): void {
  failover = undefined;
  retryTimers.forEach((timer) => clearTimeout(timer));
  retryTimers.clear();
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
  /**
   * Makes ready `streamsPerUser` streams for each user of [userStart, userEnd), their tokens signed
   * now, for the next `open`; `resumable` ones check their storm events.
   */
  prepare: (request) => {
    const { userStart, userEnd, streamsPerUser, ports, host, path, secret, localAddresses, resumable } =
      request as unknown as {
        userStart: number;
        userEnd: number;
        streamsPerUser: number;
        ports: number[];
        host: string;
        path: string;
        secret: string;
        localAddresses?: string[];
        resumable?: boolean;
      };
    prepared = [];
    for (let user = userStart; user < userEnd; user++) {
      const userId = `u${user}`;
      let check: DeliveryCheck | undefined;
      if (resumable) checks.set(user, (check = new DeliveryCheck(userId)));
      for (let s = 0; s < streamsPerUser; s++) {
        prepared.push({
          user,
          userId,
          host,
          port: ports[user % ports.length],
          path,
          token: tokenOf(secret, user),
          localAddress: localAddresses?.length ? localAddresses[prepared.length % localAddresses.length] : undefined,
          check,
        });
      }
    }
    return { prepared: prepared.length };
  },

  /** Opens the prepared streams, `concurrency` handshakes at a time. */
  open: (request) => {
    const specs = prepared;
    prepared = [];
    return open(specs, request.concurrency as number, request.timeoutMs as number);
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

  /** Closes every stream here (and nothing reconnects). */
  closeAll: async (request) => {
    disarm();
    for (const conn of conns) conn.close();
    return { left: await waitForNoConnections((request.timeoutMs as number) ?? 30_000) };
  },

  /** The server is about to go: its closes are not errors, and nothing reconnects. */
  expectClose: () => {
    disarm();
    for (const conn of conns) conn.closing = true;
    return { open: openCount };
  },

  /** From now on, a resumable stream that closes reconnects at once to one of `ports`, with its Last-Event-ID. */
  failover: (request) => {
    failover = {
      ports: request.ports as number[],
      timeoutMs: (request.timeoutMs as number) ?? 60_000,
      retryMs: (request.retryMs as number) ?? 250,
    };
    storm.failedOver = storm.attempts = storm.retries = 0;
    storm.statuses = {};
    storm.streamingAt = [];
    return { resumable: checks.size };
  },

  /** How far the failover is: streams closed, reconnected and streaming again (their first event came). */
  failoverStatus: () => ({
    resumable: checks.size,
    failedOver: storm.failedOver,
    streaming: storm.streamingAt.length,
    attempts: storm.attempts,
    retries: storm.retries,
    statuses: storm.statuses,
    lastStreamingAt: storm.streamingAt.length ? Math.max(...storm.streamingAt) : 0,
  }),

  /** When each stream was streaming again (shared clock). */
  failoverTimes: () => ({ streamingAt: storm.streamingAt }),

  /**
   * What the storm's clients should have got: the last index published of the broadcasts and of each
   * user's events (`own`: user index to its last index), and the publishes refused.
   */
  expectDelivery: (request) => {
    expected = {
      lastBroadcast: request.lastBroadcast as number,
      own: request.own as Record<string, number>,
      refusedBroadcasts: new Set(request.refusedBroadcasts as number[]),
      refusedOwn: new Map(
        Object.entries(request.refusedOwn as Record<string, number[]>).map(([user, indexes]) => [user, new Set(indexes)]),
      ),
    };
    return { users: checks.size };
  },

  /** The storm's verdict so far: how many users have everything expected, and what went wrong. */
  deliveryCheck: () => {
    if (!expected) throw new Error('expectDelivery first');
    const { lastBroadcast, own, refusedBroadcasts, refusedOwn } = expected;
    const result: StormDelivery = { users: checks.size, caughtUp: 0, received: 0, missed: 0, duplicates: 0, outOfOrder: 0, misdelivered: 0, losses: 0 };
    const none = new Set<number>();
    for (const [user, check] of checks) {
      const lastOwn = own[user] ?? -1;
      if (check.caughtUp(lastBroadcast, lastOwn)) result.caughtUp++;
      result.received += check.received;
      result.missed += check.missed(lastBroadcast, lastOwn, { broadcasts: refusedBroadcasts, own: refusedOwn.get(String(user)) ?? none });
      result.duplicates += check.duplicates;
      result.outOfOrder += check.outOfOrder;
      result.misdelivered += check.misdelivered;
      result.losses += check.losses;
    }
    return result;
  },

  /** Forgets the storm's streams' checks (after closing them). */
  forgetChecks: () => {
    checks.clear();
    expected = undefined;
    return { checks: 0 };
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
