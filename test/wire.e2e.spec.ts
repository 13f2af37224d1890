import { Controller, type INestApplication, Injectable, type MessageEvent, type MiddlewareConsumer, Module, type NestMiddleware } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Observable } from 'rxjs';
import { CurrentPrincipal, NotificationService, type Principal, SseModule, SseRoute } from '../src/sse/index.js';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { blocksOf, RawStream } from './harness/raw-stream.js';
import { listenTestApp } from './harness/test-app.js';
import { signToken, TEST_JWT_SECRET } from './harness/tokens.js';
import { Waiters } from './harness/waiting.js';

/**
 * The bytes on the wire. An event sent to many streams is framed once as an
 * HTTP/1.1 chunk and written straight to each socket; these check that the
 * result is exactly a chunked body, and that where that shortcut does not
 * apply (HTTP/1.0, a middleware wrapping `res.write`) the response writes as
 * Node and the middleware would.
 */

/** An HTTP/1.x exchange over a bare TCP socket, keeping every byte. */
class WireClient {
  private bytes = Buffer.alloc(0);
  private closed = false;
  private readonly waiters = new Waiters();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, data]);
      this.waiters.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.notify();
    });
  }

  static async request(url: string, head: string): Promise<WireClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(head);
    return new WireClient(socket);
  }

  get headerText(): string {
    const end = this.bytes.indexOf('\r\n\r\n');
    return end < 0 ? '' : this.bytes.subarray(0, end).toString('latin1');
  }

  get body(): Buffer {
    const end = this.bytes.indexOf('\r\n\r\n');
    return end < 0 ? Buffer.alloc(0) : this.bytes.subarray(end + 4);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    return this.waiters.until(condition, timeoutMs, () => `timed out; received ${JSON.stringify(this.bytes.toString())}`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

interface Chunked {
  /** Each chunk's bytes, in order. */
  chunks: Buffer[];
  /** Whether the terminating zero-size chunk and its blank line have arrived. */
  terminated: boolean;
}

/** Parses a chunked body strictly; throws on any byte out of place. */
function parseChunked(body: Buffer): Chunked {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const sizeText = body.subarray(at, lineEnd).toString('latin1');
    if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`not a chunk size at byte ${at}: ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      if (body.length < dataStart + 2) break;
      if (body.subarray(dataStart, dataStart + 2).toString() !== '\r\n') throw new Error('no blank line after the last chunk');
      if (body.length !== dataStart + 2) throw new Error('bytes after the last chunk');
      return { chunks, terminated: true };
    }
    if (body.length < dataStart + size + 2) break;
    if (body.subarray(dataStart + size, dataStart + size + 2).toString() !== '\r\n') {
      throw new Error(`chunk at byte ${at} is not ${size} bytes followed by CRLF`);
    }
    chunks.push(body.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
  return { chunks, terminated: false };
}

const textOf = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');

describe('the bytes on the wire', () => {
  let server: DemoServer;
  const opened: WireClient[] = [];
  const open = async (head: string) => {
    const client = await WireClient.request(server.url, head);
    opened.push(client);
    return client;
  };
  const head = (version: string, token: string, path = '/sse') =>
    `GET ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`;

  beforeAll(async () => (server = await startDemoServer()));
  afterEach(() => opened.splice(0).forEach((client) => client.destroy()));
  afterAll(() => server.close());

  it('sends a chunked HTTP/1.1 body, one whole event per chunk, sized in bytes, ended by the zero chunk', async () => {
    const client = await open(head('1.1', await signToken('wire-alice')));
    await client.until(() => textOf(parseChunked(client.body).chunks).includes('sse.ready'));
    expect(client.headerText).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.headerText.toLowerCase()).toContain('transfer-encoding: chunked');

    const user = await server.publishId({ userId: 'wire-alice', type: 'todo', data: { text: 'héllo ✓, two\nlines' } });
    const everyone = await server.publishId({ broadcast: true, type: 'announcement', data: 'for all' });
    await client.until(() => textOf(parseChunked(client.body).chunks).includes(everyone));
    const closing = await fetch(`${server.url}/sse/connections/wire-alice`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${server.adminToken}` },
    });
    expect(closing.status).toBe(200);
    await client.until(() => parseChunked(client.body).terminated);

    const { chunks } = parseChunked(client.body);
    // Every chunk is whole SSE blocks: a reader never sees half an event in one chunk.
    for (const chunk of chunks) expect(chunk.toString('utf8')).toMatch(/\n\n$/);
    const blocks = blocksOf(textOf(chunks));
    expect(blocks.map((lines) => lines.find((line) => line.startsWith('event: ')))).toEqual([
      'event: sse.ready',
      'event: todo',
      'event: announcement',
      'event: sse.close',
    ]);
    expect(blocks[1]).toEqual(['event: todo', `id: ${user}`, 'data: {"text":"héllo ✓, two\\nlines"}']);
    expect(blocks[2]).toEqual(['event: announcement', `id: ${everyone}`, 'data: "for all"']);
  });

  it("names a topic's event's topic in a comment line of its block, the same bytes for every reader", async () => {
    const [first, second] = await Promise.all([
      open(head('1.1', await signToken('wire-topic-1'), '/sse?topics=wire-news')),
      open(head('1.1', await signToken('wire-topic-2'), '/sse?topics=wire-news,wire-other')),
    ]);
    for (const client of [first, second]) await client.until(() => textOf(parseChunked(client.body).chunks).includes('sse.ready'));
    const id = await server.publishId({ topic: 'wire-news', type: 'announcement', data: { text: 'out now' } });
    const chunkOfEvent = (client: WireClient) => parseChunked(client.body).chunks.find((chunk) => chunk.includes(id));
    for (const client of [first, second]) await client.until(() => chunkOfEvent(client) !== undefined);

    // A comment, which EventSource ignores, before data: (so a parser meets it inside the event's block).
    expect(chunkOfEvent(first)!.toString()).toBe(`event: announcement\nid: ${id}\n: topic wire-news\ndata: {"text":"out now"}\n\n`);
    expect(chunkOfEvent(second)!.equals(chunkOfEvent(first)!)).toBe(true);
  });

  it('sends HTTP/1.0 clients the plain event stream, without chunk framing, and closes the connection at its end', async () => {
    const client = await open(head('1.0', await signToken('wire-bob')));
    await client.until(() => client.body.toString().includes('sse.ready'));
    expect(client.headerText).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.headerText.toLowerCase()).not.toContain('transfer-encoding');

    const id = await server.publishId({ userId: 'wire-bob', type: 'todo', data: 1 });
    await client.until(() => client.body.toString().includes(id));
    await fetch(`${server.url}/sse/connections/wire-bob`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${server.adminToken}` },
    });
    await client.until(() => client.isClosed);

    const body = client.body.toString('utf8');
    expect(body.startsWith('event: sse.ready\n')).toBe(true);
    expect(blocksOf(body)[1]).toEqual(['event: todo', `id: ${id}`, 'data: 1']);
    expect(body.endsWith('\n\n')).toBe(true);
  });

  it('answers HEAD with the stream headers and no body', async () => {
    const client = await open(
      `HEAD /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await signToken('wire-carol')}\r\nConnection: close\r\n\r\n`,
    );
    await server.publishId({ broadcast: true, type: 'announcement', data: 'not for HEAD' });
    await client.until(() => client.isClosed);
    expect(client.headerText).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.headerText.toLowerCase()).toContain('content-type: text/event-stream');
    expect(client.body.length).toBe(0);
  });
});

/** Stands in for a middleware that wraps `res.write` (compression does): it sees every byte the stream writes. */
@Injectable()
class WriteRecorder implements NestMiddleware {
  static written = '';

  use(_request: unknown, response: ServerResponse, next: () => void): void {
    const write = response.write;
    response.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      WriteRecorder.written += Buffer.isBuffer(chunk) ? chunk.toString() : String(chunk);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof response.write;
    next();
  }
}

@Controller('wrapped')
class WrappedController {
  constructor(private readonly notifications: NotificationService) {}

  @SseRoute()
  stream(@CurrentPrincipal() principal: Principal): Observable<MessageEvent> {
    return this.notifications.stream(principal);
  }
}

@Module({
  imports: [SseModule.forRoot({ auth: { jwt: { secret: TEST_JWT_SECRET } } })],
  controllers: [WrappedController],
})
class WrappedModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(WriteRecorder).forRoutes(WrappedController);
  }
}

describe('a middleware that wraps res.write', () => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => ({ app, url } = await listenTestApp(WrappedModule)));
  afterAll(() => app.close());

  it('gets every message through its wrapper, shared events included', async () => {
    const stream = await RawStream.open(`${url}/wrapped`, { Authorization: `Bearer ${await signToken('dave')}` });
    await stream.until((body) => body.includes('sse.ready'));
    const id = await app.get<NotificationService<{ announcement: { n: number } }>>(NotificationService).broadcast('announcement', { n: 1 });
    await stream.until((body) => body.includes(id));
    stream.close();
    expect(WriteRecorder.written).toBe(stream.body);
    expect(WriteRecorder.written).toContain(`event: announcement\nid: ${id}\ndata: {"n":1}\n\n`);
  });
});
