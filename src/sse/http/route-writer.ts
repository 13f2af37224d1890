import type { IncomingMessage } from 'node:http';
import { type AdapterResponse, nodeResponseOf } from './response-sink.js';
import type { SseWriter } from './sse-writer.js';

const WRITER = Symbol('sse:writer');

type RequestWithWriter = IncomingMessage & { [WRITER]?: SseWriter };

/**
 * Leaves the module's writer on a request that an `@SseRoute()` handler will
 * answer with a stream. The connection limiter's guard does it as it ties the
 * slot to the response, so that the route needs no interceptor (and no RxJS
 * chain per connect) to reach the writer.
 */
export function handOverTo(writer: SseWriter, request: RequestWithWriter & { raw?: RequestWithWriter }): void {
  (request.raw ?? request)[WRITER] = writer;
}

/** The writer left for the request of this response, if any. */
export function writerOf(response: AdapterResponse): SseWriter | undefined {
  return (nodeResponseOf(response).req as RequestWithWriter | undefined)?.[WRITER];
}
