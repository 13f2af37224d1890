import { applyDecorators, RequestMapping, RequestMethod, Res, UseGuards } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import type { MessageEvent } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { ConnectionLimitGuard } from '../limits/connection-limit.guard.js';
import type { AdapterResponse } from './response-sink.js';
import type { SseRouteOptions } from './sse-route.options.js';
import { writerOf } from './route-writer.js';
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
    // The limiter's guard also leaves the module's writer on the request (see `handOverTo`).
    UseGuards(TokenAuthGuard, ConnectionLimitGuard),
    ServedByTheWriter(options.maxPendingBytes),
  );
}

/**
 * Makes the handler hand its stream to the module's writer and return: Nest
 * is told, as with `@Res()`, that the route writes its own response, without
 * taking a parameter of the handler (the response comes as one more argument
 * after the handler's own), so Nest's handling of the request ends there.
 * Called outside a request (a unit test), the handler returns its stream.
 */
function ServedByTheWriter(maxPendingBytes: number | undefined): MethodDecorator {
  return (target, key, descriptor) => {
    const handler = descriptor.value as unknown as Handler;
    const decorated = Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {}).map(
      (argKey) => Number(argKey.slice(argKey.lastIndexOf(':') + 1)) + 1,
    );
    const responseIndex = Math.max(handler.length, ...decorated);
    Res()(target, key, responseIndex);

    const served = function (this: unknown, ...args: unknown[]) {
      const response = args[responseIndex] as AdapterResponse | undefined;
      const writer = response && writerOf(response);
      const stream = handler.apply(this, args);
      if (!writer) return stream;
      if (!(stream instanceof Promise)) return writer.serve(stream, response, maxPendingBytes);
      return stream.then((resolved) => writer.serve(resolved, response, maxPendingBytes));
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
