import { ServiceUnavailableException } from '@nestjs/common';

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
