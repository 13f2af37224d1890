import { applyDecorators, RequestMapping, RequestMethod, Res, SetMetadata, UseGuards, UseInterceptors } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { ConnectionLimitGuard } from './connection-limit.guard.js';
import { SSE_ROUTE_OPTIONS } from './sse.constants.js';
import { SseWriterInterceptor } from './sse-writer.interceptor.js';
import { TokenAuthGuard } from './token-auth.guard.js';

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

/**
 * An authenticated, connection-limited SSE route whose handler returns an
 * `Observable<MessageEvent>` (typically `NotificationService.stream()`): the
 * token guard, then the connection limiter, then the module's writer.
 */
export function SseRoute(path?: string, options: SseRouteOptions = {}): MethodDecorator {
  return applyDecorators(
    RequestMapping({ path, method: options.method ?? RequestMethod.GET }),
    SetMetadata(SSE_ROUTE_OPTIONS, options),
    UseGuards(TokenAuthGuard, ConnectionLimitGuard),
    UseInterceptors(SseWriterInterceptor),
    WritesItsOwnResponse(),
  );
}

/**
 * Tells Nest that the route writes its own response, as `@Res()` does, without
 * taking a parameter of the handler: the response goes to one more, unused,
 * argument after the handler's own.
 */
function WritesItsOwnResponse(): MethodDecorator {
  return (target, key, descriptor) => {
    const declared = (descriptor.value as unknown as (...args: unknown[]) => unknown).length;
    const decorated = Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}).map(
      (argKey) => Number(argKey.slice(argKey.lastIndexOf(':') + 1)) + 1,
    );
    Res()(target, key, Math.max(declared, ...decorated));
  };
}
