// A lean SSE client over raw `net` sockets: one hand-written HTTP/1.1 GET, then
// the response head, chunked transfer decoding and SSE framing, parsed by hand
// on latin1 strings (one char per byte, so chunk sizes count in chars). Only
// what the bench needs: the event type, data and id of each event.
import { connect, type Socket } from 'node:net';

export interface StreamSpec {
  /** Index of the user, and its id (`u<index>`). */
  readonly user: number;
  readonly userId: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly token: string;
  readonly localAddress?: string;
  /** Sent as `Last-Event-ID`: the stream resumes after it. */
  readonly lastEventId?: string;
}

export interface ClientSink {
  /** The response head arrived (status 200 or not). */
  onHead(conn: SseConnection, status: number): void;
  /** An event; `id` is the stream's last event id after it (as `MessageEvent.lastEventId`). */
  onEvent(conn: SseConnection, type: string, data: string, id: string | undefined): void;
  /** The connection is gone; `error` is the socket error code when there was one. */
  onClose(conn: SseConnection, error: string | undefined): void;
}

const HEAD = 0;
const BODY = 1;
const CLOSED = 2;

export class SseConnection {
  readonly socket: Socket;
  private state = HEAD;
  private head = '';
  private chunked = false;
  /** Bytes left of the current chunk; 0 when a size line comes next. */
  private chunkLeft = 0;
  /** CR/LF still to skip after a chunk's data. */
  private skip = 0;
  private sizeLine = '';
  private text = '';
  /** The socket error code, or why the client gave up, if anything went wrong. */
  error: string | undefined;
  status = 0;
  /** Set by the owner when it closes the connection on purpose. */
  closing = false;
  /** Broadcast events of the current phase. */
  received = 0;
  /** The last `id:` the stream carried, as an EventSource keeps it: what a reconnect sends as `Last-Event-ID`. */
  lastEventId: string | undefined;

  constructor(
    readonly spec: StreamSpec,
    private readonly sink: ClientSink,
    headTimeoutMs: number,
  ) {
    const socket = connect({ host: spec.host, port: spec.port, localAddress: spec.localAddress });
    this.socket = socket;
    socket.setTimeout(headTimeoutMs);
    this.lastEventId = spec.lastEventId;
    socket.write(
      `GET ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nAuthorization: Bearer ${spec.token}\r\n` +
        `Accept: text/event-stream\r\nCache-Control: no-cache\r\n` +
        `${spec.lastEventId === undefined ? '' : `Last-Event-ID: ${spec.lastEventId}\r\n`}\r\n`,
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk.toString('latin1')));
    socket.on('timeout', () => {
      this.error = 'head-timeout';
      socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      const wasHead = this.state === HEAD;
      this.state = CLOSED;
      if (wasHead && this.status === 0) this.sink.onHead(this, 0);
      this.sink.onClose(this, this.error);
    });
  }

  get open(): boolean {
    return this.state === BODY;
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (this.state === BODY) return this.onBody(text);
    if (this.state !== HEAD) return;
    this.head += text;
    const end = this.head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.head.length > 16_384) this.fail('head-too-large');
      return;
    }
    const head = this.head.slice(0, end);
    const rest = this.head.slice(end + 4);
    this.head = '';
    // HTTP/1.1 200 OK
    this.status = Number(head.slice(9, 12));
    if (this.status !== 200) {
      this.sink.onHead(this, this.status);
      this.closing = true;
      this.socket.destroy();
      return;
    }
    this.chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(head);
    this.state = BODY;
    this.socket.setTimeout(0);
    this.sink.onHead(this, 200);
    if (rest) this.onBody(rest);
  }

  private fail(reason: string): void {
    this.error = reason;
    this.socket.destroy();
  }

  /** Transfer decoding: chunk data goes on to the SSE parser. */
  private onBody(text: string): void {
    if (!this.chunked) return this.onText(text);
    let i = 0;
    const n = text.length;
    while (i < n) {
      if (this.chunkLeft > 0) {
        const take = Math.min(this.chunkLeft, n - i);
        this.onText(take === n && i === 0 ? text : text.slice(i, i + take));
        i += take;
        this.chunkLeft -= take;
        if (this.chunkLeft === 0) this.skip = 2;
      } else if (this.skip > 0) {
        const c = text.charCodeAt(i);
        if (c !== 13 && c !== 10) return this.fail('bad-chunk-end');
        i++;
        if (c === 10) this.skip = 0;
        else this.skip--;
      } else {
        const nl = text.indexOf('\n', i);
        if (nl < 0) {
          this.sizeLine += text.slice(i);
          return;
        }
        const line = this.sizeLine + text.slice(i, nl);
        this.sizeLine = '';
        i = nl + 1;
        const size = parseInt(line, 16);
        if (Number.isNaN(size)) return this.fail('bad-chunk-size');
        if (size === 0) {
          // The server ended the response.
          this.socket.end();
          return;
        }
        this.chunkLeft = size;
      }
    }
  }

  /** SSE framing: events end with a blank line. */
  private onText(text: string): void {
    let buffer = this.text.length > 0 ? this.text + text : text;
    let start = 0;
    for (;;) {
      const end = buffer.indexOf('\n\n', start);
      if (end < 0) break;
      if (end > start) this.onBlock(buffer, start, end);
      start = end + 2;
    }
    // Blank lines between events (Nest starts its body with one).
    while (start < buffer.length && buffer.charCodeAt(start) === 10) start++;
    buffer = start === 0 ? buffer : buffer.slice(start);
    if (buffer.length > 1_000_000) return this.fail('event-too-large');
    this.text = buffer;
  }

  private onBlock(buffer: string, start: number, end: number): void {
    let type = 'message';
    let data: string | undefined;
    while (start < end) {
      let lineEnd = buffer.indexOf('\n', start);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      const first = buffer.charCodeAt(start);
      if (first === 101 /* e */ && buffer.startsWith('event:', start)) {
        type = value(buffer, start + 6, lineEnd);
      } else if (first === 100 /* d */ && buffer.startsWith('data:', start)) {
        const line = value(buffer, start + 5, lineEnd);
        data = data === undefined ? line : `${data}\n${line}`;
      } else if (first === 105 /* i */ && buffer.startsWith('id:', start)) {
        this.lastEventId = value(buffer, start + 3, lineEnd);
      }
      start = lineEnd + 1;
    }
    // As in EventSource: a block without data dispatches nothing (comments, retry, id only), but its id counts.
    if (data !== undefined) this.sink.onEvent(this, type, data, this.lastEventId);
  }
}

function value(buffer: string, from: number, to: number): string {
  if (buffer.charCodeAt(from) === 32) from++;
  if (to > from && buffer.charCodeAt(to - 1) === 13) to--;
  return buffer.slice(from, to);
}
