import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Whether what the server sends is no longer passed on. */
  stalled: boolean;
}

/**
 * A TCP proxy in front of a server, for the network's failures: connections
 * that break (`cut`), and a proxy that stops passing bytes on without closing
 * anything (`stall`), as a dead middlebox or a sleeping laptop would.
 */
export class TcpProxy {
  /** When the last byte from the server was passed on to a client (epoch ms). */
  lastPassedAt = 0;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `target` (http://host:port). */
  static async start(target: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.forward(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** The connections open now. */
  get open(): number {
    return this.pairs.size;
  }

  /** What the server sends on the connections open now is dropped from here on; they stay open. New ones pass. */
  stall(): void {
    for (const pair of this.pairs) pair.stalled = true;
  }

  /** Breaks every open connection, both ways, as a network failure would. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(client: Socket, host: string, port: number): void {
    const upstream = connect(port, host);
    const pair: Pair = { client, upstream, stalled: false };
    this.pairs.add(pair);
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => {
      if (pair.stalled) return;
      this.lastPassedAt = Date.now();
      client.write(data);
    });
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  }
}
