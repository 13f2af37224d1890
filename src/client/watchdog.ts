/**
 * Calls `onSilence` once nothing has been heard for longer than a limit: a
 * proxy that died without closing, a laptop that slept. One timer per window,
 * not one per chunk; it compares clock times, so a timer that fires late (a
 * throttled or sleeping page) still counts the whole silence.
 */
export class Watchdog {
  private heardAt = Date.now();
  private limitMs = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly onSilence: () => void) {}

  heard(): void {
    this.heardAt = Date.now();
  }

  /** Starts watching with this limit (or changes it). */
  watch(limitMs: number): void {
    this.limitMs = limitMs;
    this.stop();
    this.check();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private readonly check = (): void => {
    const silentMs = Date.now() - this.heardAt;
    if (silentMs > this.limitMs) this.onSilence();
    else this.timer = setTimeout(this.check, this.limitMs - silentMs + 1);
  };
}
