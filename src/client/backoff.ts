/** How long the client waits between attempts. */
export interface RetryOptions {
  /** The first ceiling, in ms, until the server's `retry:` replaces it (default 1000). */
  baseMs?: number;
  /** The highest ceiling, in ms (default 30000). */
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter: the n-th wait in a row is anywhere in
 * [0, base × 2ⁿ], capped, so that clients dropped together do not come back
 * together. A floor (the server's `Retry-After`) is never undercut.
 */
export class Backoff {
  baseMs: number;
  private readonly maxMs: number;
  private attempt = 0;

  constructor({ baseMs = 1000, maxMs = 30_000 }: RetryOptions = {}) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** The wait before the next attempt, in ms. */
  next(floorMs = 0): number {
    const ceiling = Math.min(Math.max(this.maxMs, this.baseMs), this.baseMs * 2 ** this.attempt++);
    return Math.max(floorMs, Math.round(Math.random() * ceiling));
  }

  /** After a stream opened: the next failure starts the schedule again. */
  reset(): void {
    this.attempt = 0;
  }
}
