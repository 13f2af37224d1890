import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_ADAPTER } from './demo-server.js';
import { TEST_JWT_SECRET } from './tokens.js';
import { eventually } from './waiting.js';

/** The built demo app (`npm test` builds it first; while developing, `npm run build`). */
export const DEMO_MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** A child process whose output is collected. */
export class Child {
  private text = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.text += chunk));
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.text += chunk));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get output(): string {
    return this.text;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    await eventually(() => pattern.test(this.text) || !this.running, timeoutMs, `${pattern} in the output`).catch(() => undefined);
    const match = this.text.match(pattern);
    if (!match) throw new Error(`no ${pattern} within ${timeoutMs} ms (running: ${this.running}); output:\n${this.text}`);
    return match;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.proc.kill(signal);
    await this.exited;
  }
}

/** `node dist/main.js` with only the given settings (and PATH, the test secret and the Jest project's adapter). */
export function spawnDemo(env: Record<string, string>): Child {
  return new Child(
    spawn(process.execPath, [DEMO_MAIN], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', JWT_SECRET: TEST_JWT_SECRET, HTTP_ADAPTER: TEST_ADAPTER, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** The base URL of a demo child once it listens (started with PORT=0). */
export async function listeningUrl(child: Child, timeoutMs = 15_000): Promise<string> {
  const [, port] = await child.waitFor(/Listening on http:\/\/localhost:(\d+)/, timeoutMs);
  return `http://127.0.0.1:${port}`;
}
