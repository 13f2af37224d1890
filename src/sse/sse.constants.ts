/** Injection token of the options with their defaults filled in (`ResolvedSseOptions`). */
export const SSE_OPTIONS = Symbol('SSE_OPTIONS');

/** Injection token of the Redis connection (`RedisBackplane`), or null when running in memory. */
export const REDIS_BACKPLANE = Symbol('REDIS_BACKPLANE');

/** Where the guard leaves the principal it verified, for the rest of the request. */
export const PRINCIPAL_KEY = Symbol('sse:principal');

/** Metadata of `@Authenticated(...roles)`: the roles required. */
export const REQUIRED_ROLES = 'sse:required-roles';
