/** Injection token of the options with their defaults filled in (`ResolvedSseOptions`). */
export const SSE_OPTIONS = Symbol('SSE_OPTIONS');

/** Injection token of the Redis connection (`RedisBackplane`), or null when running in memory. */
export const REDIS_BACKPLANE = Symbol('REDIS_BACKPLANE');

/** First event of every stream: carries `retry:` and the position the stream starts from. */
export const READY_EVENT = 'sse.ready';
/** Sent before the server ends a stream on purpose: the client should not reconnect. */
export const CLOSE_EVENT = 'sse.close';
/** Sent when a resumed stream cannot replay everything missed: the client should refetch its state. */
export const LOSS_EVENT = 'sse.loss';

/** Where the guard leaves the principal it verified, for the rest of the request. */
export const PRINCIPAL_KEY = Symbol('sse:principal');

/** Metadata of `@Authenticated(...roles)`: the roles required. */
export const REQUIRED_ROLES = 'sse:required-roles';

/** Metadata of `@SseRoute()`: its options. */
export const SSE_ROUTE_OPTIONS = 'sse:route-options';
