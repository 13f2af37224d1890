import { applyDecorators, RequestMapping, RequestMethod, Res, SetMetadata, UseGuards, UseInterceptors } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import type { MessageEvent } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { ConnectionLimitGuard } from '../limits/connection-limit.guard.js';
import { SSE_ROUTE_OPTIONS } from '../sse.constants.js';
import type { AdapterResponse } from './response-sink.js';
import type { SseRouteOptions } from './sse-route.options.js';
import { routeWriterOf, SseWriterInterceptor } from './sse-writer.interceptor.js';
import { TokenAuthGuard } from '../auth/token-auth.guard.js';

type Handler = (...args: unknown[]) => Observable<MessageEvent> | Promise<Observable<MessageEvent>>;

/**
 * An authenticated, connection-limited SSE route whose handler returns an
 * `Observable<MessageEvent>` (typically `NotificationService.stream()`, or it
 * piped through operators): the token guard, then the connection limiter,
 * then the module's writer serves what the handler returns.
 */
export function SseRoute(path?: string, options: SseRouteOptions = {}): MethodDecorator {
  return applyDecorators(
    RequestMapping({ path, method: options.method ?? RequestMethod.GET }),
    SetMetadata(SSE_ROUTE_OPTIONS, options),
    UseGuards(TokenAuthGuard, ConnectionLimitGuard),
    UseInterceptors(SseWriterInterceptor),
    ServedByTheWriter(),
  );
}

/**
 * Makes the handler hand its stream to the module's writer and return: Nest
 * is told, as with `@Res()`, that the route writes its own response, without
 * taking a parameter of the handler (the response comes as one more argument
 * after the handler's own), so Nest's handling of the request ends there.
 * Called outside a request (a unit test), the handler returns its stream.
 */
function ServedByTheWriter(): MethodDecorator {
  return (target, key, descriptor) => {
    const handler = descriptor.value as unknown as Handler;
    const decorated = Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}).map(
      (argKey) => Number(argKey.slice(argKey.lastIndexOf(':') + 1)) + 1,
    );
    const responseIndex = Math.max(handler.length, ...decorated);
    Res()(target, key, responseIndex);

    const served = function (this: unknown, ...args: unknown[]) {
      const response = args[responseIndex] as AdapterResponse | undefined;
      const route = response && routeWriterOf(response);
      const stream = handler.apply(this, args);
      if (!route) return stream;
      if (!(stream instanceof Promise)) return route.writer.serve(stream, response, route.maxPendingBytes);
      return stream.then((resolved) => route.writer.serve(resolved, response, route.maxPendingBytes));
    };
    // What other decorators recorded on the handler (guards, roles, OpenAPI) goes with it.
    for (const metadataKey of Reflect.getOwnMetadataKeys(handler)) {
      Reflect.defineMetadata(metadataKey, Reflect.getOwnMetadata(metadataKey, handler), served);
    }
    Object.defineProperty(served, 'name', { value: handler.name });
    descriptor.value = served as unknown as typeof descriptor.value;
    return descriptor;
  };
}
