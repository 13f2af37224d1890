// The public entry of the SSE module: everything an application uses comes from here.
export { SseModule } from './sse.module.js';
export { SSE_MODULE_OPTIONS, SSE_OPTIONS_TYPE, SSE_ASYNC_OPTIONS_TYPE } from './sse.module-definition.js';
export type { SseModuleOptions, SseAuthOptions, SseHistoryOptions, ResolvedSseOptions } from './sse.options.js';
export { SSE_OPTIONS, REDIS_BACKPLANE, READY_EVENT, CLOSE_EVENT, LOSS_EVENT } from './sse.constants.js';

export { NotificationService, CLOSED_BY_SERVER } from './notification.service.js';
export type { StreamOptions, SseStats } from './notification.service.js';
export type { PublishTarget } from './publish-target.js';
export type { AnyEvents, EventMap, EventType, SseEventOf } from './event-map.js';
export type { SseMessage } from './published-event.js';
export { InvalidSseInputError, RESERVED_TYPE_PREFIX } from './sse-name.js';

export type { Principal } from './principal.js';
export { TokenVerifier, InvalidTokenError } from './token-verifier.js';
export { JwtTokenVerifier } from './jwt-token.verifier.js';
export type { JwtOptions } from './jwt-token.verifier.js';
export { TokenAuthGuard } from './token-auth.guard.js';
export { ConnectionLimitGuard } from './connection-limit.guard.js';
export { CurrentPrincipal, Authenticated } from './auth.decorators.js';
export { LastEventId } from './last-event-id.decorator.js';
export { SseRoute } from './sse-route.decorator.js';
export { SseWriterInterceptor } from './sse-writer.interceptor.js';
export { SseWriter } from './sse-writer.js';
export { NotificationStream } from './notification-stream.js';
export { formatMessage } from './sse-wire.js';
export type { SseRouteOptions } from './sse-route.decorator.js';
export { sseCorsOptions } from './sse-cors.js';

export { ConnectionLimiter } from './connection-limiter.js';
export type { ConnectionLease, AcquireResult, LimitScope, ConnectionUsage, InstanceUsage } from './connection-limiter.js';
export { InMemoryConnectionLimiter } from './in-memory-connection.limiter.js';
export { HistoryStore } from './history.store.js';
export type { HistoryRead, LossReason } from './history.store.js';
export { InMemoryHistoryStore } from './in-memory-history.store.js';
export { Broker } from './broker.js';
export type { BrokerListener } from './broker.js';
export { LocalBroker } from './local.broker.js';
export { RedisBackplane, RedisKeys } from './redis-backplane.js';
export type { SseRedisOptions } from './redis-backplane.js';
export { RedisBroker } from './redis.broker.js';
export { RedisHistoryStore } from './redis-history.store.js';
export { RedisConnectionLimiter } from './redis-connection.limiter.js';
export type { EventPosition } from './event-position.js';
export { SseMetrics, NoSseMetrics } from './sse-metrics.js';
export { SseHealth } from './sse-health.js';
export type { SseHealthState } from './sse-health.js';
export type { PublishKind, RejectionReason, StreamCounts } from './sse-metrics.js';
export type { SsePrometheusOptions, SseMetricsRegistry } from './sse-metrics.js';
