import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/**
 * The id of the last event the client received: the `Last-Event-ID` header an
 * `EventSource` sends when it reconnects, or the `lastEventId` query parameter
 * for clients that cannot set headers.
 */
export const LastEventId = createParamDecorator((_: unknown, context: ExecutionContext): string | undefined => {
  const request = context
    .switchToHttp()
    .getRequest<{ headers: Record<string, unknown>; query?: Record<string, unknown> }>();
  const header = request.headers['last-event-id'];
  if (typeof header === 'string' && header) return header;
  const query = request.query?.lastEventId;
  return typeof query === 'string' && query ? query : undefined;
});
