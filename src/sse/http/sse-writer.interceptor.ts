import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { Observable } from 'rxjs';
import { SSE_ROUTE_OPTIONS } from '../sse.constants.js';
import type { SseRouteOptions } from './sse-route.options.js';
import { type AdapterResponse, nodeResponseOf } from './response-sink.js';
import { SseWriter } from './sse-writer.js';
import { requireSseModule } from '../sse-module-required.js';

const ROUTE_WRITER = Symbol('sse:route-writer');

/** What an `@SseRoute()` handler's stream is served with. */
export interface RouteWriter {
  readonly writer: SseWriter;
  readonly maxPendingBytes?: number;
}

type RequestWithWriter = IncomingMessage & { [ROUTE_WRITER]?: RouteWriter };

/**
 * Hands the module's writer to this request's `@SseRoute()` handler, which
 * serves its stream with it (see `SseRoute`): from then on the stream is the
 * writer's, and Nest's handling of the request is over.
 */
@Injectable()
export class SseWriterInterceptor implements NestInterceptor {
  private readonly writer: SseWriter;

  constructor(
    // Optional, so that a module that cannot see SseModule fails with a message naming the fix.
    @Optional() @Inject(SseWriter) writer: SseWriter | undefined,
    private readonly reflector: Reflector,
  ) {
    this.writer = requireSseModule(writer, 'SseWriterInterceptor (@SseRoute)');
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const route = this.reflector.get<SseRouteOptions | undefined>(SSE_ROUTE_OPTIONS, context.getHandler());
    const request = context.switchToHttp().getRequest<RequestWithWriter & { raw?: RequestWithWriter }>();
    (request.raw ?? request)[ROUTE_WRITER] = { writer: this.writer, maxPendingBytes: route?.maxPendingBytes };
    return next.handle();
  }
}

/** The writer the interceptor left for the request of this response, if any. */
export function routeWriterOf(response: AdapterResponse): RouteWriter | undefined {
  return (nodeResponseOf(response).req as RequestWithWriter | undefined)?.[ROUTE_WRITER];
}
