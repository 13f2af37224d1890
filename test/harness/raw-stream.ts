import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/**
 * A plain HTTP request whose body text is collected as it arrives: for what an
 * `EventSource` hides (comments, `retry:`, the exact bytes) and for statuses.
 */
export class RawStream {
  private text = '';
  private ended = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.text += chunk;
      this.notify();
    });
    response.on('close', () => {
      this.ended = true;
      this.notify();
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
    if (condition(this.text, this.ended)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition(this.text, this.ended)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out; received ${JSON.stringify(this.text)} (closed: ${this.ended})`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  close(): void {
    this.abort();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
