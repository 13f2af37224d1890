import { connect, type Socket } from 'node:net';
import { Waiters } from './waiting.js';

/**
 * The leanest SSE client: a hand-written `GET` on a socket of its own, whose
 * answer is kept as text. For thousands of connections from one process
 * (churn, floods, clients that never read), where an `EventSource` each would
 * cost more than the server under test.
 */
export class LeanClient {
  private text = '';
  private ended = false;
  private readonly waiters = new Waiters();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiters.notify();
    });
    socket.on('error', () => undefined);
  }

  /**
   * Connects (to a loopback port, or a Unix socket's path) and sends `GET <path>` with the token; `read: false`
   * leaves the socket paused from the start.
   */
  static open(to: number | string, token: string, options: { path?: string; read?: boolean } = {}): Promise<LeanClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof to === 'number' ? connect(to, '127.0.0.1') : connect(to);
      // Paused before it connects, it never reads: not even the first 16 KiB a paused stream still buffers.
      if (options.read === false) socket.pause();
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const client = new LeanClient(socket);
        socket.write(
          `GET ${options.path ?? '/sse'} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n` +
            `Authorization: Bearer ${token}\r\n\r\n`,
        );
        resolve(client);
      });
    });
  }

  /** The status of the answer, 0 until its status line arrived. */
  get status(): number {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.text);
    return match ? Number(match[1]) : 0;
  }

  /** A header of the answer (lower-case name), once the head arrived. */
  header(name: string): string | undefined {
    const head = this.text.slice(0, this.text.indexOf('\r\n\r\n'));
    const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
    return line?.slice(name.length + 1).trim();
  }

  /** Everything after the head, as received (chunk framing included). */
  get body(): string {
    const end = this.text.indexOf('\r\n\r\n');
    return end < 0 ? '' : this.text.slice(end + 4);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Resolves once the stream's ready event arrived, or the answer is a complete refusal, or the connection ended. */
  settled(timeoutMs = 10_000): Promise<void> {
    return this.until(() => {
      if (this.ended || this.text.includes('event: sse.ready')) return true;
      const length = Number(this.header('content-length'));
      return this.status >= 400 && Number.isFinite(length) && Buffer.byteLength(this.body, 'latin1') >= length;
    }, timeoutMs);
  }

  until(condition: () => boolean, timeoutMs: number): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out after ${timeoutMs} ms; received ${JSON.stringify(this.text.slice(0, 300))}`);
  }

  /** Closes as a client that is done: FIN. */
  end(): void {
    this.socket.end();
  }

  /** Cuts the connection: RST, as a client that crashed or lost its network. */
  cut(): void {
    this.socket.resetAndDestroy();
  }
}
