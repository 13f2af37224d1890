/** Resolves after `ms`: for letting something that must NOT happen have its chance. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds; rejects after `timeoutMs`, saying what it waited for. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `promise`, or `fallback` after `ms` (the timer is cleared either way, so it holds no process open). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Who waits on a reader for data still to arrive: the reader calls `notify()`
 * on every chunk (and at its end), which checks each pending condition again.
 */
export class Waiters {
  private readonly pending = new Set<() => void>();

  /** Resolves once `condition` holds; rejects after `timeoutMs` with the text `timedOut()` gives then. */
  until(condition: () => boolean, timeoutMs: number, timedOut: () => string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.pending.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(new Error(timedOut()));
      }, timeoutMs);
      this.pending.add(check);
    });
  }

  notify(): void {
    for (const check of [...this.pending]) check();
  }
}
