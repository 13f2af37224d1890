import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Waiters } from './waiting.js';

/**
 * A plain HTTP request whose body text is collected as it arrives: for what an
 * `EventSource` hides (comments, `retry:`, the exact bytes) and for statuses.
 */
export class RawStream {
  private text = '';
  private ended = false;
  private readonly waiters = new Waiters();

  private constructor(
    private readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.text += chunk;
      this.waiters.notify();
    });
    response.on('close', () => {
      this.ended = true;
      this.waiters.notify();
    });
  }

  static open(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<RawStream> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, (response) => resolve(new RawStream(response, () => req.destroy())));
      req.on('error', reject);
      req.end(body);
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  /** Everything received so far. */
  get body(): string {
    return this.text;
  }

  /** Whether the server has ended the response (or the connection closed). */
  get closed(): boolean {
    return this.ended;
  }

  /** Resolves once `condition(body)` holds; rejects after `timeoutMs` with what arrived. */
  until(condition: (body: string, closed: boolean) => boolean, timeoutMs = 5000): Promise<void> {
    return this.waiters.until(
      () => condition(this.text, this.ended),
      timeoutMs,
      () => `timed out; received ${JSON.stringify(this.text)} (closed: ${this.ended})`,
    );
  }

  close(): void {
    this.abort();
  }
}

/** The complete blocks (events and comments) of a raw SSE body, each as its non-empty lines. */
export function blocksOf(body: string): string[][] {
  return body
    .slice(0, body.lastIndexOf('\n\n') + 2)
    .split('\n\n')
    .map((block) => block.split('\n').filter((line) => line !== ''))
    .filter((lines) => lines.length > 0);
}

/** GET /sse with fetch, for its status: a refusal's body is read; a 200 stays open until `close()`. */
export interface RawConnect {
  status: number;
  retryAfter: string | null;
  body: string;
  close(): void;
}

/** `timeoutMs`, when given, bounds the whole exchange, an admitted stream included. */
export async function rawConnect(baseUrl: string, token: string, timeoutMs?: number): Promise<RawConnect> {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/sse`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: timeoutMs === undefined ? controller.signal : AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]),
  });
  const body = res.status === 200 ? '' : await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body, close: () => controller.abort() };
}
