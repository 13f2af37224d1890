/**
 * A Redis of the test run's own, for when none answers at REDIS_URL: `redis-server` on a free loopback port that
 * persists nothing, so stopping it leaves no file behind.
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const READY_MS = 10_000;

/** Whether a Redis answers PING at `url`: one try, no retries, so a machine without one gets a quick no. */
export async function redisAnswers(url) {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    closeClient(client);
  }
}

/**
 * Disconnects `client` unless its connection is already gone (refused, or closed by the server): ioredis's
 * disconnect() then ends the closed socket and waits for a 'close' that already happened, on a 2 s timer that holds
 * a Jest worker open past its end ("A worker process has failed to exit gracefully").
 * @param {import('ioredis').Redis} client
 */
export function closeClient(client) {
  if (client.status !== 'end') client.disconnect();
}

export class PrivateRedis {
  /** @param {number} port */
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.child = undefined;
  }

  /** Resolves once the server says it accepts connections; rejects with its output if it exits or stays silent. */
  start() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    // A child in our process group: a Ctrl-C in the terminal reaches it too.
    const child = spawn('redis-server', args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.on('error', () => undefined); // a failed spawn is reported below; nothing later is worth a crash
    let output = '';
    return new Promise((resolve, reject) => {
      const settle = (failure) => {
        clearTimeout(timer);
        child.off('error', onError).off('exit', onExit);
        for (const stream of [child.stdout, child.stderr]) stream.off('data', onOutput).resume(); // drained from now on
        if (!failure) return resolve();
        child.kill('SIGKILL');
        reject(new Error(`redis-server ${failure}${output ? `:\n${output}` : ''}`));
      };
      const onOutput = (chunk) => {
        output += chunk;
        if (/Ready to accept connections/.test(output)) settle();
      };
      const onError = (error) =>
        settle(error.code === 'ENOENT' ? 'is not installed: apt-get install redis-server (as root)' : `could not start (${error.message})`);
      const onExit = (code, signal) => settle(`exited (${signal ?? code})`);
      const timer = setTimeout(() => settle(`was not ready within ${READY_MS} ms`), READY_MS);
      child.stdout.setEncoding('utf8').on('data', onOutput);
      child.stderr.setEncoding('utf8').on('data', onOutput);
      child.on('error', onError).on('exit', onExit);
    });
  }

  /** Synchronous, so that it can also run as the process exits. Nothing to wait for: it saves nothing. */
  stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}
