import type { INestApplication } from '@nestjs/common';
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createDemoApp } from '../src/demo/demo.app.js';
import { publishId, stats } from './harness/admin-api.js';
import { startDemoServer, TEST_ADAPTER, TEST_CONFIG, type DemoServer } from './harness/demo-server.js';
import { compareIds } from './harness/event-ids.js';
import { LeanClient } from './harness/lean-client.js';
import { RecordingLogger, slowClientDrops } from './harness/recording-logger.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep, Waiters } from './harness/waiting.js';

/**
 * A client that stops reading: what waits for it is bounded (by `@SseRoute()`,
 * about 1 MiB by default); past it the server drops the connection and frees
 * its slot, other clients keep receiving, the server's memory stays flat, and
 * the client can resume from the last event it parsed. And a thousand clients
 * that never read, under a burst of broadcasts (over Fastify, as the demo
 * ships; the single slow client runs over both adapters).
 */

/** Data of one large event: well under the 64 KiB event and request body limits. */
const BIG = 48_000;
const MB = 1024 * 1024;

interface RawEvent {
  type: string;
  id?: string;
  data: string;
}

/** A full collection, when the heap can be collected on demand (V8 flag set at run time). */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapUsed(gc: (() => void) | undefined): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** What the process holds live, JS objects and the Buffers' memory alike, after a full collection. */
function liveBytes(gc: () => void): number {
  gc();
  const { heapUsed: heap, arrayBuffers } = process.memoryUsage();
  return heap + arrayBuffers;
}

/**
 * An SSE request written by hand on a plain TCP socket, so that the test
 * decides when (and whether) the response is read. It decodes the chunked body
 * and parses complete events only: one cut short by the connection's end is
 * not an event, as for an EventSource.
 */
class RawSseSocket {
  private raw = Buffer.alloc(0);
  private ended = false;
  private readonly waiters = new Waiters();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      this.waiters.notify();
    });
    const onEnd = () => {
      this.ended = true;
      this.waiters.notify();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', () => undefined);
  }

  static open(port: number, token: string, headers: Record<string, string> = {}): Promise<RawSseSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
        socket.write(
          `GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n` +
            `Authorization: Bearer ${token}\r\n${extra.join('')}\r\n`,
        );
        socket.off('error', reject);
        resolve(new RawSseSocket(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  get status(): number {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.raw.subarray(0, 32).toString('latin1'));
    return match ? Number(match[1]) : 0;
  }

  /** The body so far, de-chunked; a chunk cut short counts for what arrived of it. */
  get body(): string {
    const headerEnd = this.raw.indexOf('\r\n\r\n');
    if (headerEnd < 0) return '';
    const parts: Buffer[] = [];
    let at = headerEnd + 4;
    while (at < this.raw.length) {
      const lineEnd = this.raw.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = parseInt(this.raw.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size) || size === 0) break;
      const start = lineEnd + 2;
      parts.push(this.raw.subarray(start, Math.min(start + size, this.raw.length)));
      at = start + size + 2;
    }
    return Buffer.concat(parts).toString('utf8');
  }

  /** Complete events (ended by a blank line), in order. */
  get events(): RawEvent[] {
    const events: RawEvent[] = [];
    const lines = this.body.split('\n');
    lines.pop(); // What follows the last newline is not a complete line.
    let current: { type?: string; id?: string; data?: string[] } = {};
    for (const line of lines) {
      if (line === '') {
        if (current.data) events.push({ type: current.type ?? 'message', id: current.id, data: current.data.join('\n') });
        current = {};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') current.type = value;
      else if (field === 'id') current.id = value;
      else if (field === 'data') (current.data ??= []).push(value);
    }
    return events;
  }

  /** The id an EventSource would send back: the last one of a complete event. */
  get lastEventId(): string | undefined {
    return this.events.filter((e) => e.id !== undefined).at(-1)?.id;
  }

  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what} (closed: ${this.ended})`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Runs `count` tasks, at most `width` at a time, in order of start; stops early when `stop()` says so. */
async function pool(count: number, width: number, task: (i: number) => Promise<void>, stop = () => false): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < count && !stop()) await task(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return next;
}

describe('a client that stops reading', () => {
  const servers: DemoServer[] = [];
  const streams: TestStream[] = [];
  const sockets: RawSseSocket[] = [];

  async function start(overrides: Parameters<typeof startDemoServer>[0]): Promise<DemoServer> {
    const server = await startDemoServer(overrides);
    servers.push(server);
    return server;
  }

  function portOf(server: DemoServer): number {
    return Number(new URL(server.url).port);
  }

  /** The server's side of a client connection, to see when the server drops it. */
  function serverSideOf(server: DemoServer, client: RawSseSocket): Promise<Socket> {
    const httpServer = server.app.getHttpServer() as Server;
    return new Promise((resolve) => {
      const find = (socket: Socket) => {
        if (socket.remotePort === client.socket.localPort) {
          httpServer.off('connection', find);
          resolve(socket);
        }
      };
      httpServer.on('connection', find);
    });
  }

  async function openRaw(server: DemoServer, userId: string): Promise<{ client: RawSseSocket; serverSide: Socket }> {
    const httpServer = server.app.getHttpServer() as Server;
    const seen: Socket[] = [];
    const collect = (socket: Socket) => seen.push(socket);
    httpServer.on('connection', collect);
    try {
      const client = await RawSseSocket.open(portOf(server), await signToken(userId));
      sockets.push(client);
      await client.until(() => client.events.some((e) => e.type === 'sse.ready'), 5000, 'sse.ready');
      expect(client.status).toBe(200);
      const serverSide = seen.find((socket) => socket.remotePort === client.socket.localPort);
      return { client, serverSide: serverSide ?? (await serverSideOf(server, client)) };
    } finally {
      httpServer.off('connection', collect);
    }
  }

  afterEach(async () => {
    streams.splice(0).forEach((stream) => stream.close());
    sockets.splice(0).forEach((socket) => socket.destroy());
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('is dropped past the pending-data bound: its slot is freed, other clients keep receiving, and the heap stays flat', async () => {
    const server = await start({ historySize: 20, maxConnectionsPerUser: 1 });
    const gc = collector();

    const bob = await TestStream.open(server.url, await signToken('bob'), { types: ['tick'], query: 'topics=ticker' });
    streams.push(bob);
    const { client: slow, serverSide } = await openRaw(server, 'slow');
    slow.socket.pause();
    let droppedAt: number | undefined;
    let published = 0;
    let publishedBytes = 0;
    serverSide.once('close', () => (droppedAt = published));

    // The slot is held: a second stream of the same user is refused (so a leaked slot would show).
    await expect(TestStream.open(server.url, await signToken('slow'))).rejects.toMatchObject({ code: 429 });
    expect(await server.stats()).toMatchObject({ streams: 2, users: 2 });

    // Warm up the publish path (code, connection pool, one user's full history) before measuring.
    await pool(40, 8, async (i) => void (await server.publishId({ userId: 'warm-up', type: 'big', data: `${i}:${'w'.repeat(BIG)}` })));
    const heapBefore = heapUsed(gc);
    const ticks: string[] = [];
    const bigIds: string[] = [];
    const padding = 'x'.repeat(BIG);
    const send = async (i: number) => {
      const data = `${i}:${padding}`;
      bigIds.push(await server.publishId({ userId: 'slow', type: 'big', data }));
      published++;
      publishedBytes += data.length;
      if (i % 20 === 0) ticks.push(await server.publishId({ topic: 'ticker', type: 'tick', data: { i } }));
      if (i % 150 === 0) ticks.push(await server.publishId({ broadcast: true, type: 'tick', data: { i } }));
    };
    const started = Date.now();
    // Large events to the slow user until the server gives up on it (bounded)...
    await pool(800, 8, send, () => serverSide.destroyed);
    expect(serverSide.destroyed).toBe(true);
    // ...and as many again after that: nothing of them may pile up for the dropped stream.
    const base = published;
    await pool(Math.max(base, 200), 8, (i) => send(base + i));
    const count = published;
    const publishMs = Date.now() - started;

    // The stream is gone.
    await eventually(async () => (await server.stats()).streams === 1, 5000, 'the slow stream to be gone from the stats');
    expect(await server.stats()).toMatchObject({ streams: 1, users: 1 });
    // Far more than the bound (and the kernel buffers) went to the slow user.
    expect(publishedBytes).toBeGreaterThan(12 * MB);

    const heapAfter = heapUsed(gc);
    const growth = heapAfter - heapBefore;
    if (process.env.SSE_TEST_FIGURES) {
      console.log(
        `slow client: dropped after ${droppedAt} of ${count} events of ${BIG} chars; published ${(publishedBytes / MB).toFixed(1)} MB in ${publishMs} ms; ` +
          `heap ${(heapBefore / MB).toFixed(1)} -> ${(heapAfter / MB).toFixed(1)} MB (growth ${(growth / MB).toFixed(1)} MB, gc: ${!!gc})`,
      );
    }
    // What is kept is the bounded history (20 events of the slow user) and what waited for the client:
    // far less than what was published. Without a collector, garbage may still be counted: a looser bound.
    expect(growth).toBeLessThan(gc ? 8 * MB : publishedBytes / 2);

    // The other client got every one of its events, in order, once each.
    await bob.waitForType('tick', ticks.length, 10_000);
    await sleep(200);
    expect(bob.ofType('tick').map((e) => e.id)).toEqual([...ticks].sort(compareIds));

    // The slow client, once it reads again, finds its connection ended after what the kernel had buffered.
    slow.socket.resume();
    await slow.until(() => slow.closed, 10_000, 'the slow connection to end');
    const got = slow.events.filter((e) => e.type === 'big');
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(count);
    // A prefix of what was published to it, in order, nothing twice, nothing skipped.
    expect(got.map((e) => e.id)).toEqual([...bigIds].sort(compareIds).slice(0, got.length));

    // The slot was freed: the user may open a stream again (maxConnectionsPerUser is 1).
    const again = await TestStream.open(server.url, await signToken('slow'), { types: ['big'] });
    streams.push(again);
    expect(again.ofType('sse.ready')).toHaveLength(1);
    expect(await server.stats()).toMatchObject({ streams: 2, users: 2 });
  });

  it('a client that reads is not taken for a slow one when what it missed exceeds the bound: its replay arrives whole', async () => {
    const server = await start({});
    const first = await TestStream.open(server.url, await signToken('rover'), { types: ['item'] });
    streams.push(first);
    const seen = await server.publishId({ userId: 'rover', type: 'item', data: 'seen' });
    await first.waitForType('item', 1);
    first.close();

    // About 2.4 MB while away: more than the 1 MiB that may wait for a client that is not reading.
    const padding = 'r'.repeat(BIG);
    const missed: string[] = [];
    await pool(50, 8, async (i) => void missed.push(await server.publishId({ userId: 'rover', type: 'item', data: `${i}:${padding}` })));
    missed.sort(compareIds);

    const resumed = await TestStream.open(server.url, await signToken('rover'), {
      types: ['item'],
      headers: { 'Last-Event-ID': seen },
    });
    streams.push(resumed);
    await resumed.until(() => resumed.ofType('item').length >= missed.length || resumed.errors.length > 0, 10_000);
    await sleep(200);
    expect(resumed.errors).toEqual([]);
    expect(resumed.ofType('sse.loss')).toEqual([]);
    expect(resumed.ofType('item').map((e) => e.id)).toEqual(missed);
  });

  it('resumes, once dropped, from the last event it parsed (Last-Event-ID) and gets the rest, once each', async () => {
    const server = await start({ historySize: 2000, maxConnectionsPerUser: 1 });
    const { client: slow, serverSide } = await openRaw(server, 'sloth');
    const ids: string[] = [];
    const padding = 'y'.repeat(BIG);
    for (let i = 0; i < 3; i++) ids.push(await server.publishId({ userId: 'sloth', type: 'item', data: `${i}:` }));
    await slow.until(() => slow.events.filter((e) => e.type === 'item').length === 3, 5000, 'the first 3 events');
    slow.socket.pause();

    // Large events until the server gives up on the client (bounded), then a few more.
    const sent = await pool(
      800,
      8,
      async (i) => {
        const id = await server.publishId({ userId: 'sloth', type: 'item', data: `${i + 3}:${padding}` });
        ids.push(id);
      },
      () => serverSide.destroyed,
    );
    expect(serverSide.destroyed).toBe(true);
    expect(sent).toBeLessThan(800);
    for (let i = 0; i < 5; i++) ids.push(await server.publishId({ userId: 'sloth', type: 'item', data: `after-${i}` }));
    ids.sort(compareIds);

    slow.socket.resume();
    await slow.until(() => slow.closed, 10_000, 'the slow connection to end');
    const before = slow.events.filter((e) => e.type === 'item').map((e) => e.id!);
    const lastId = slow.lastEventId!;
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(before).toEqual(ids.slice(0, before.length));
    expect(lastId).toBe(before.at(-1));

    const resumed = await TestStream.open(server.url, await signToken('sloth'), {
      types: ['item'],
      headers: { 'Last-Event-ID': lastId },
    });
    streams.push(resumed);
    const rest = ids.slice(before.length);
    await resumed.waitForType('item', rest.length, 10_000);
    await sleep(200);
    expect(resumed.ofType('sse.loss')).toEqual([]);
    expect(resumed.ofType('item').map((e) => e.id)).toEqual(rest);
    expect(new Set([...before, ...rest]).size).toBe(ids.length);
    if (process.env.SSE_TEST_FIGURES) {
      console.log(`slow client resume: dropped after ${sent} large events; ${before.length} parsed before, ${rest.length} resumed`);
    }
  });
});

/**
 * The thousand clients connect through a Unix socket whose connections are
 * handed to the app's HTTP server, as its TCP ones are: on loopback TCP the
 * kernel grows a connection's send buffer to 4 MB, so a thousand stalled
 * clients would hold 4 GB of the machine's kernel memory before the server's
 * own bound comes into play. A Unix socket's buffer stays near 200 KB.
 */
describe('a thousand clients that never read, under a broadcast burst', () => {
  const READERS = 1000;
  /** Bytes that may wait for one client (SSE_MAX_PENDING_BYTES), small so that a thousand bounds are a measurable sum. */
  const PENDING = 64 * 1024;
  /** Data of one broadcast: its event on the wire is EVENT bytes or a little more. */
  const DATA = 4000;
  const EVENT = DATA + 200;
  /** History kept for the broadcasts: all of it is retained, by design. */
  const HISTORY = 50;
  /** Broadcasts at most: far more than what the kernel's socket buffers and the bound take before a drop. */
  const BURST = 600;
  /** Live objects the burst itself has in flight: 8 publishes at a time and what Nest and V8 hold for them. */
  const IN_FLIGHT = 4 * 1024 * 1024;

  const logger = new RecordingLogger();
  const socketPath = join(tmpdir(), `sse-slow-readers-${process.pid}.sock`);
  const unixServer = createServer();
  let app: INestApplication | undefined;
  let reader: TestStream | undefined;
  const clients: LeanClient[] = [];

  afterAll(async () => {
    reader?.close();
    clients.forEach((client) => client.socket.destroy());
    await app?.close();
    await new Promise((resolve) => unixServer.close(resolve));
    rmSync(socketPath, { force: true });
  });

  (TEST_ADAPTER === 'fastify' ? test : test.skip)(
    `each holds at most ${PENDING / 1024} KiB + one event, memory stays under that bound for all ${READERS}, and all are dropped (one log line)`,
    async () => {
      const gc = collector();
      if (!gc) throw new Error('this test needs a collector on demand (V8 --expose-gc, set at run time)');
      app = await createDemoApp(
        { ...TEST_CONFIG, maxPendingBytes: PENDING, historySize: HISTORY, maxConnectionsPerUser: READERS, maxConnections: 2 * READERS },
        logger,
      );
      await app.listen(0, '127.0.0.1');
      const httpServer = app.getHttpServer() as Server;
      const port = (httpServer.address() as AddressInfo).port;
      const url = `http://127.0.0.1:${port}`;
      const admin = await signToken('admin', { roles: ['admin'] });

      // The server's end of every stalled connection, to watch what waits in it.
      const stalled: Socket[] = [];
      unixServer.on('connection', (socket: Socket) => {
        stalled.push(socket);
        httpServer.emit('connection', socket);
      });
      rmSync(socketPath, { force: true });
      await new Promise<void>((resolve) => unixServer.listen(socketPath, resolve));

      // One client that reads, and a thousand that never do (their sockets are paused from the start).
      reader = await TestStream.open(url, await signToken('reader'), { types: ['burst'] });
      const token = await signToken('stalled');
      // A few at a time, each batch accepted before the next: a Unix socket refuses connects past its listen
      // backlog (EAGAIN) rather than queueing them.
      for (let i = 0; i < READERS; i += 50) {
        clients.push(...(await Promise.all(Array.from({ length: 50 }, () => LeanClient.open(socketPath, token, { read: false })))));
        await eventually(() => stalled.length === clients.length, 5000, 'the server to accept the connections');
      }
      await eventually(async () => (await stats(url, admin)).streams === READERS + 1, 20_000, `${READERS} stalled streams to be open`);
      expect(stalled).toHaveLength(READERS);

      const baseline = liveBytes(gc);
      let peak = 0;
      let largestPending = 0;
      const sample = () => {
        peak = Math.max(peak, liveBytes(gc) - baseline);
        for (const socket of stalled) if (!socket.destroyed) largestPending = Math.max(largestPending, socket.writableLength);
      };
      const sampler = setInterval(sample, 100);
      const ids: string[] = [];
      const data = 'b'.repeat(DATA);
      let sent = 0;
      try {
        const publisher = async () => {
          while (sent < BURST && stalled.some((socket) => !socket.destroyed)) {
            sent++;
            ids.push(await publishId(url, admin, { broadcast: true, type: 'burst', data }));
          }
        };
        await Promise.all(Array.from({ length: 8 }, publisher));
      } finally {
        clearInterval(sampler);
      }
      sample();

      // Every stalled client was dropped, within the burst.
      expect(stalled.filter((socket) => !socket.destroyed)).toHaveLength(0);
      expect(sent).toBeLessThan(BURST);
      await eventually(async () => (await stats(url, admin)).streams === 1, 10_000, 'the dropped streams to free their slots');

      // The bound: what waits for one client is at most PENDING and the write that crossed it (the server checks
      // after each write). Were every waiting byte a copy of its own (they are one shared buffer per event), the
      // process could hold READERS times that, plus the history it keeps by design: the live memory stays under it.
      expect(largestPending).toBeLessThanOrEqual(PENDING + EVENT);
      const bound = READERS * (PENDING + EVENT) + HISTORY * EVENT + IN_FLIGHT;
      expect(peak).toBeLessThan(bound);
      // Once they are dropped, nothing is kept for them: what is left over the baseline is the history's share.
      const after = liveBytes(gc) - baseline;
      expect(after).toBeLessThan(HISTORY * EVENT + IN_FLIGHT);

      // The reader got every broadcast, in order, once each.
      await reader.waitForType('burst', ids.length, 20_000);
      expect(reader.ofType('burst').map((event) => event.id)).toEqual([...ids].sort(compareIds));

      // One warning per interval, with the count, and not a line per client (the interval ends at close at the latest).
      await app.close();
      app = undefined;
      const drops = slowClientDrops(logger.lines);
      expect(drops.reduce((sum, line) => sum + line.count, 0)).toBe(READERS);
      expect(drops.length).toBeLessThanOrEqual(2);
      expect(drops.every((line) => line.level === 'warn' && line.context === 'SseWriter')).toBe(true);
      if (process.env.SSE_TEST_FIGURES) {
        console.log(
          `${READERS} stalled readers: dropped after ${sent} broadcasts of ${DATA} chars; largest pending ${largestPending} B; ` +
            `live memory peak +${(peak / 1048576).toFixed(1)} MB (bound ${(bound / 1048576).toFixed(1)} MB), after +${(after / 1048576).toFixed(1)} MB; ` +
            `log lines: ${JSON.stringify(drops)}`,
        );
      }
    },
    90_000,
  );
});
