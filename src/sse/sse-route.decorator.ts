import { applyDecorators, RequestMethod, Sse, UseGuards } from '@nestjs/common';
import { ConnectionLimitGuard } from './connection-limit.guard.js';
import { DEFAULT_MAX_PENDING_DATA_LENGTH } from './sse.constants.js';
import { TokenAuthGuard } from './token-auth.guard.js';

export interface SseRouteOptions {
  /** HTTP method of the route (default GET; POST for chat-style streams). */
  method?: RequestMethod;
  /**
   * Characters of events that may wait for a client that is not reading
   * (default 1M). Past it the stream is dropped, its slot freed, and the
   * client may resume with `Last-Event-ID`.
   */
  maxPendingDataLength?: number;
}

/**
 * An authenticated, connection-limited SSE route: Nest's `@Sse()` with the
 * token guard and then the connection limiter.
 */
export function SseRoute(path?: string, options: SseRouteOptions = {}): MethodDecorator {
  return applyDecorators(
    Sse(path, {
      method: options.method ?? RequestMethod.GET,
      maxPendingDataLength: options.maxPendingDataLength ?? DEFAULT_MAX_PENDING_DATA_LENGTH,
    }),
    UseGuards(TokenAuthGuard, ConnectionLimitGuard),
  );
}
