import { type ChildProcess, spawn } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { publishId, stats } from './harness/admin-api.js';
import { TEST_ADAPTER } from './harness/demo-server.js';
import { TestStream } from './harness/sse-client.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { eventually, within } from './harness/waiting.js';

/**
 * Graceful shutdown of the built demo app (`node dist/main.js`, which calls
 * `enableShutdownHooks()`): on SIGTERM every stream ends cleanly (no
 * `sse.close`, so clients reconnect elsewhere and resume) and the process
 * exits promptly. `npm test` builds dist/ first (`pretest`).
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STARTUP_MS = 15_000;
/** "Promptly": a bound on the exit after SIGTERM, not a speed target. */
const EXIT_BOUND_MS = 5_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

interface DemoProcess {
  child: ChildProcess;
  url: string;
  port: number;
  adminToken: string;
  exited: Promise<Exit>;
  output(): string;
}

async function startDemoProcess(): Promise<DemoProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', JWT_SECRET: TEST_JWT_SECRET, NO_COLOR: '1' };
  // The in-memory demo, whatever this shell has set; and no Jest VM flags for the child.
  for (const name of Object.keys(env)) {
    if (['NODE_OPTIONS', 'REDIS_URL'].includes(name) || name.startsWith('SSE_')) delete env[name];
  }
  env.HTTP_ADAPTER = TEST_ADAPTER;
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "Listening" line within ${STARTUP_MS} ms:\n${text}`)), STARTUP_MS);
    const check = () => {
      const match = /Listening on http:\/\/localhost:(\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', check);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${exit.code ?? exit.signal}) before listening:\n${text}`));
    });
  });
  const port = await listening.catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    adminToken: await signToken('admin', { roles: ['admin'] }),
    exited,
    output: () => text.replace(/\x1b\[[0-9;]*m/g, ''),
  };
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves to the exit, or to undefined once `timeoutMs` have passed. */
function exitWithin(demo: DemoProcess, timeoutMs: number): Promise<Exit | undefined> {
  return within(demo.exited, timeoutMs, undefined);
}

/** Exited, by the signal Nest re-raises once it has closed (or with code 0). */
function expectExited(demo: DemoProcess, exit: Exit | undefined, figures: string): void {
  if (!exit) {
    const tail = demo.output().trim().split('\n').slice(-4).join('\n');
    throw new Error(`the process had not exited ${EXIT_BOUND_MS} ms after SIGTERM (${figures}); its last lines:\n${tail}`);
  }
  expect({ code: exit.code, signal: exit.signal }).toEqual(exit.signal ? { code: null, signal: 'SIGTERM' } : { code: 0, signal: null });
}

/** A plain HTTP stream that tells a clean end of the response (the last chunk) from a cut connection. */
class EndingStream {
  text = '';
  outcome: 'open' | 'ended' | 'cut' = 'open';

  private constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (this.text += chunk));
    response.on('end', () => (this.outcome = this.outcome === 'open' ? 'ended' : this.outcome));
    response.on('aborted', () => (this.outcome = 'cut'));
    response.on('error', () => (this.outcome = this.outcome === 'ended' ? 'ended' : 'cut'));
    response.on('close', () => {
      if (this.outcome === 'open') this.outcome = response.complete ? 'ended' : 'cut';
    });
  }

  static open(url: string, token: string): Promise<EndingStream> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/sse`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } }, (res) =>
        resolve(new EndingStream(res)),
      );
      req.on('error', reject);
      req.end();
    });
  }

  destroy(): void {
    this.response.destroy();
  }
}

/** An SSE request on a plain socket that stops reading once its stream has started. */
class PausedClient {
  received = '';
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.received += chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(demo: DemoProcess, userId: string): Promise<PausedClient> {
    const token = await signToken(userId);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(demo.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const client = new PausedClient(socket);
    socket.write(`GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await eventually(() => client.received.includes('event: sse.ready'), 5000, `the stream of ${userId} to start`);
    socket.pause();
    return client;
  }
}

describe('graceful shutdown (SIGTERM)', () => {
  const demos: DemoProcess[] = [];
  const streams: TestStream[] = [];
  const cleanups: Array<() => void> = [];

  async function start(): Promise<DemoProcess> {
    const demo = await startDemoProcess();
    demos.push(demo);
    return demo;
  }

  afterEach(async () => {
    streams.splice(0).forEach((stream) => stream.close());
    cleanups.splice(0).forEach((cleanup) => cleanup());
    for (const demo of demos.splice(0)) {
      if (isRunning(demo.child)) {
        demo.child.kill('SIGKILL');
        await exitWithin(demo, 5000);
      }
    }
  });

  it('ends every stream cleanly and exits promptly', async () => {
    const demo = await start();
    const users = ['ann', 'ben', 'cat'];
    for (const user of users) {
      streams.push(await TestStream.open(demo.url, await signToken(user), { types: ['note'], query: 'topics=news' }));
    }
    const raw = await EndingStream.open(demo.url, await signToken('dan'));
    cleanups.push(() => raw.destroy());
    const id = await publishId(demo.url, demo.adminToken, { topic: 'news', type: 'note', data: 'hello' });
    for (const stream of streams) expect((await stream.waitForType('note')).map((e) => e.id)).toEqual([id]);
    await eventually(() => raw.text.includes('event: sse.ready'), 5000, 'the raw stream to start');
    expect(await stats(demo.url, demo.adminToken)).toMatchObject({ streams: 4, users: 4 });

    const killedAt = Date.now();
    demo.child.kill('SIGTERM');

    // Every stream sees its connection end...
    await Promise.all(streams.map((stream) => stream.until(() => stream.errors.length > 0, EXIT_BOUND_MS)));
    await eventually(() => raw.outcome !== 'open', EXIT_BOUND_MS, 'the raw stream to end');
    // ...cleanly: the response is complete (its last chunk came), not cut, and no sse.close
    // tells the clients to stay away: they will reconnect and resume.
    expect(raw.outcome).toBe('ended');
    expect(raw.text).toMatch(/\n\n$/);
    for (const stream of streams) {
      expect(stream.errors[0].message).toBeUndefined();
      expect(stream.ofType('sse.close')).toEqual([]);
    }
    expect(raw.text).not.toContain('sse.close');

    // And the process exits.
    const exit = await exitWithin(demo, EXIT_BOUND_MS);
    const figures = `exit ${exit ? `${exit.code ?? exit.signal} after ${exit.at - killedAt} ms` : `none within ${EXIT_BOUND_MS} ms`}`;
    if (process.env.SSE_TEST_FIGURES) console.log(`shutdown: ${figures}`);
    expectExited(demo, exit, figures);
  });

  it('exits promptly even when a client has stopped reading its stream', async () => {
    const demo = await start();
    const data = 'z'.repeat(48_000);
    const bigTo = (userId: string) => publishId(demo.url, demo.adminToken, { userId, type: 'big', data });

    // How many large events a client that does not read absorbs (kernel buffers, then
    // the route's pending bound) before the server drops it...
    const probe = await PausedClient.open(demo, 'probe');
    cleanups.push(() => probe.socket.destroy());
    let absorbed = 0;
    while ((await stats(demo.url, demo.adminToken)).streams > 0) {
      if (absorbed >= 600) throw new Error('the client that does not read was never dropped');
      await Promise.all([bigTo('probe'), bigTo('probe'), bigTo('probe'), bigTo('probe')]);
      absorbed += 4;
    }

    // ...so that this one, given a dozen fewer, is left with writes pending (about half the bound) but is not dropped.
    const stuck = await PausedClient.open(demo, 'stuck');
    cleanups.push(() => stuck.socket.destroy());
    const pending = Math.max(0, absorbed - 12);
    for (let i = 0; i < pending; i += 8) await Promise.all(Array.from({ length: Math.min(8, pending - i) }, () => bigTo('stuck')));
    const reader = await TestStream.open(demo.url, await signToken('reader'));
    streams.push(reader);
    expect(await stats(demo.url, demo.adminToken)).toMatchObject({ streams: 2, users: 2 });

    const killedAt = Date.now();
    demo.child.kill('SIGTERM');
    const exit = await exitWithin(demo, EXIT_BOUND_MS);
    const figures =
      `dropped after ${absorbed} events of 48000 chars; the stuck client got ${pending}; ` +
      `exit ${exit ? `${exit.code ?? exit.signal} after ${exit.at - killedAt} ms` : `none within ${EXIT_BOUND_MS} ms`}`;
    if (process.env.SSE_TEST_FIGURES) console.log(`shutdown with a client not reading: ${figures}`);
    expectExited(demo, exit, figures);
    // The client that reads got a clean end all the same.
    await reader.until(() => reader.errors.length > 0, 1000);
    expect(reader.errors[0].message).toBeUndefined();
  });
});
