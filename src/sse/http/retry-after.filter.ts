import { type ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { SseUnavailableError } from './sse-unavailable.error.js';

/**
 * Answers an `SseUnavailableError` as Nest would (503, JSON), with its
 * `Retry-After`. `SseModule` registers it as a global filter, so it serves the
 * module's 503s wherever they are thrown: a guard, a handler that publishes, a
 * service. An application filter that catches these itself should set the
 * header from `retryAfterSeconds` too.
 */
@Catch(SseUnavailableError)
export class RetryAfterFilter extends BaseExceptionFilter {
  override catch(exception: SseUnavailableError, host: ArgumentsHost): void {
    if (host.getType() === 'http') {
      this.httpAdapterHost!.httpAdapter.setHeader(host.getArgByIndex(1), 'Retry-After', String(exception.retryAfterSeconds));
    }
    super.catch(exception, host);
  }
}
