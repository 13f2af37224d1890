import { HttpException, ServiceUnavailableException } from '@nestjs/common';
import type { BackplaneOperation, SseMetrics } from '../observability/sse-metrics.js';

/**
 * What the module cannot do right now (Redis away, a check that failed or did
 * not answer in time, shutdown): a 503 whose `Retry-After` says when to try
 * again. Every 503 the module raises is one of these, and whoever answers it
 * (`RetryAfterFilter`, or the writer for a stream that fails before its
 * headers) sets the header from `retryAfterSeconds`.
 */
export class SseUnavailableError extends ServiceUnavailableException {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** Where a store's failure is told: the log of the service that met it, and its metric. */
export interface FailureReport {
  readonly logger: { warn(message: string): void };
  readonly metrics: SseMetrics;
  readonly retryAfterSeconds: number;
}

/**
 * Runs an operation of a shared store (Redis, the inbox's database); if the
 * store fails, the caller gets an `SseUnavailableError` (503 with
 * `Retry-After`), not a 500. What the application refused (an HttpException) passes as it is.
 */
export async function unlessUnavailable<T>(
  report: FailureReport,
  operation: BackplaneOperation,
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof HttpException) throw err;
    report.metrics.backplaneError(operation);
    report.logger.warn(`${what}: ${(err as Error).message}`);
    throw new SseUnavailableError(`${what} right now; retry shortly`, report.retryAfterSeconds);
  }
}
