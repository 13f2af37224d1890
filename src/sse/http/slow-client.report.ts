import type { LoggerService } from '@nestjs/common';

/** How often drops of slow clients are told: at most one line per interval. */
export const SLOW_CLIENT_REPORT_MS = 10_000;

/**
 * Tells of the streams dropped because their client was not reading: one
 * warning per interval with how many, not one per stream, so that a thousand
 * stalled clients dropped by one broadcast make one line. Nothing is told for
 * an interval without drops; what is pending is told at shutdown.
 */
export class SlowClientReport {
  private count = 0;
  private largestPending = 0;
  private since = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly logger: Pick<LoggerService, 'warn'>,
    private readonly intervalMs = SLOW_CLIENT_REPORT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A stream was dropped with `pendingBytes` waiting for its client. */
  dropped(pendingBytes: number): void {
    if (this.count === 0) {
      this.since = this.now();
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
    this.count++;
    this.largestPending = Math.max(this.largestPending, pendingBytes);
  }

  /** Tells what was counted since the last line, if anything. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return;
    const seconds = Math.max(1, Math.round((this.now() - this.since) / 1000));
    this.logger.warn(
      `Dropped ${this.count} ${this.count === 1 ? 'stream whose client was' : 'streams whose clients were'} not reading ` +
        `in the last ${seconds} s (up to ${this.largestPending} bytes were waiting for one); they may resume with Last-Event-ID`,
    );
    this.count = 0;
    this.largestPending = 0;
  }
}
