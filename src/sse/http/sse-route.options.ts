import type { RequestMethod } from '@nestjs/common';

/** What `@SseRoute()` takes besides its path; the writer's interceptor reads it back from the route. */
export interface SseRouteOptions {
  /** HTTP method of the route (default GET; POST for chat-style streams). */
  method?: RequestMethod;
  /**
   * Bytes that may wait for a client that is not reading (default: the module's
   * `maxPendingBytes`). Past it the stream is dropped, its slot freed, and the
   * client may resume with `Last-Event-ID`.
   */
  maxPendingBytes?: number;
}
