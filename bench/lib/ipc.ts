import type { ChildProcess } from 'node:child_process';

/** A request from the orchestrator to a child: `{ id, type, ...args }`; the answer carries the same id. */
export interface IpcRequest {
  id: number;
  type: string;
  [key: string]: unknown;
}

interface IpcAnswer {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The orchestrator's side of a child's IPC channel: requests with ids, answers matched to them. */
export class IpcClient {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Map<string, ((message: Record<string, unknown>) => void)[]>();
  private exitError?: Error;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (message: Record<string, unknown>) => {
      if (typeof message?.id === 'number' && typeof message.ok === 'boolean') {
        const answer = message as unknown as IpcAnswer;
        const pending = this.pending.get(answer.id);
        if (!pending) return;
        this.pending.delete(answer.id);
        clearTimeout(pending.timer);
        if (answer.ok) pending.resolve(answer.result);
        else pending.reject(new Error(`${this.name}: ${answer.error}`));
        return;
      }
      const type = String(message?.type);
      const waiting = this.waiters.get(type);
      if (waiting?.length) waiting.shift()!(message);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitError = new Error(`${name} exited (code ${code}, signal ${signal})`);
        for (const pending of this.pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(this.exitError);
        }
        this.pending.clear();
        resolve(code);
      });
    });
  }

  get alive(): boolean {
    return !this.exitError;
  }

  request<T>(type: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ id, type, ...args });
    });
  }

  /** The next unsolicited message of a type (e.g. `ready`). */
  next(type: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      const list = this.waiters.get(type) ?? [];
      list.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.waiters.set(type, list);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(this.exitError);
      });
    });
  }
}

export type IpcHandler = (request: IpcRequest) => unknown;

/** The child's side: answers each request with its handler's result (or error). */
export function serveIpc(handlers: Record<string, IpcHandler>): void {
  if (!process.send) throw new Error('This process must be started with an IPC channel (fork)');
  process.on('message', (request: IpcRequest) => {
    const handler = handlers[request?.type];
    const answer = (payload: Omit<IpcAnswer, 'id'>) => process.send?.({ id: request.id, ...payload });
    if (!handler) return answer({ ok: false, error: `unknown request "${request?.type}"` });
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (result) => answer({ ok: true, result }),
        (err: Error) => answer({ ok: false, error: err?.stack ?? String(err) }),
      );
  });
  // The orchestrator went away: so do we.
  process.on('disconnect', () => process.exit(0));
}

/** An unsolicited message to the orchestrator. */
export function notifyParent(message: Record<string, unknown>): void {
  process.send?.(message);
}
