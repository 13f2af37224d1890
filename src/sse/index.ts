// The public entry of the SSE module: everything an application uses comes from here, grouped by room.

// The module, its options and the service.
export { SseModule } from './sse.module.js';
export { SSE_MODULE_OPTIONS, SSE_OPTIONS_TYPE, SSE_ASYNC_OPTIONS_TYPE } from './sse.module-definition.js';
export type { SseModuleOptions, SseAuthOptions, SseHistoryOptions, SseJobOptions, ResolvedSseOptions } from './sse.options.js';
export { SSE_OPTIONS, REDIS_BACKPLANE } from './sse.constants.js';
export { NotificationService } from './notification.service.js';
export type { StreamOptions, SseStats, CloseUserOptions } from './notification.service.js';
export { SseSetupError } from './sse-setup.error.js';

// The wire contract of the module's own events, shared with the client.
export {
  RESERVED_TYPE_PREFIX,
  READY_EVENT,
  LOSS_EVENT,
  CLOSE_EVENT,
  RESUME_EVENT,
  INBOX_EVENT,
  CLOSED_BY_SERVER,
  COMPLETED,
  TOPIC_COMMENT_PREFIX,
} from '../protocol/reserved-events.js';
export type {
  ReadyData,
  LossReason,
  LossData,
  CloseData,
  ResumeData,
  InboxChangeKind,
  InboxData,
} from '../protocol/reserved-events.js';

// events/: what is published, to whom, and in which order.
export type { PublishTarget } from './events/publish-target.js';
export type { AnyEvents, EventMap, EventType, SseEventOf } from './events/event-map.js';
export type { SseMessage } from './events/published-event.js';
export type { EventPosition } from './events/event-position.js';
export { InvalidSseInputError } from './events/sse-name.js';

// auth/: who the caller is.
export type { Principal } from './auth/principal.js';
export { TokenVerifier, InvalidTokenError } from './auth/token-verifier.js';
export { JwtTokenVerifier } from './auth/jwt-token.verifier.js';
export type { JwtOptions } from './auth/jwt-token.verifier.js';
export { TokenAuthGuard } from './auth/token-auth.guard.js';
export { CurrentPrincipal, Authenticated } from './auth/auth.decorators.js';
export { RevocationStore, isRevoked } from './auth/revocation.store.js';
export { InMemoryRevocationStore } from './auth/in-memory-revocation.store.js';
export { RedisRevocationStore } from './auth/redis-revocation.store.js';
export type { TopicCheck } from './auth/topic-access.js';

// http/: the route, its writer and the wire.
export { LastEventId } from './http/last-event-id.decorator.js';
export { SseRoute } from './http/sse-route.decorator.js';
export type { SseRouteOptions } from './http/sse-route.options.js';
export { SseWriter } from './http/sse-writer.js';
export { formatMessage } from './http/sse-wire.js';
export { sseCorsOptions } from './http/sse-cors.js';
export { JsonDepthPipe } from './http/json-depth.pipe.js';
export { SseUnavailableError } from './http/sse-unavailable.error.js';
export { RetryAfterFilter } from './http/retry-after.filter.js';

// streams/: one principal's stream.
export { NotificationStream } from './streams/notification-stream.js';

// limits/: connection slots per user and per instance.
export { ConnectionLimitGuard } from './limits/connection-limit.guard.js';
export { ConnectionLimiter } from './limits/connection-limiter.js';
export type { ConnectionLease, AcquireResult, LimitScope, ConnectionUsage, InstanceUsage } from './limits/connection-limiter.js';
export { InMemoryConnectionLimiter } from './limits/in-memory-connection.limiter.js';
export { RedisConnectionLimiter } from './limits/redis-connection.limiter.js';

// delivery/: ids, history and fan-out.
export { HistoryStore } from './delivery/history.store.js';
export type { HistoryRead } from './delivery/history.store.js';
export { InMemoryHistoryStore } from './delivery/in-memory-history.store.js';
export { RedisHistoryStore } from './delivery/redis-history.store.js';
export { Broker } from './delivery/broker.js';
export type { BrokerListener, PublishOptions, SignalHandler } from './delivery/broker.js';
export { LocalBroker } from './delivery/local.broker.js';
export { RedisBroker } from './delivery/redis.broker.js';

// inbox/: the durable inbox, its store seam and the stores.
export { InboxService, MAX_INBOX_PAGE, MAX_INBOX_IDS } from './inbox/inbox.service.js';
export type { InboxPage, InboxPageQuery } from './inbox/inbox.service.js';
export { InboxStore, isListedAs } from './inbox/inbox.store.js';
export type {
  InboxItem,
  NewInboxItem,
  InboxOwner,
  InboxQuery,
  InboxStatus,
  InboxMark,
  InboxChange,
  InboxRetention,
} from './inbox/inbox.store.js';
export { feedsOfOwner, feedsOfTarget } from './inbox/inbox-feeds.js';
export { InMemoryInboxStore } from './inbox/in-memory-inbox.store.js';
export { RedisInboxStore } from './inbox/redis-inbox.store.js';
export { PostgresInboxStore } from './inbox/postgres-inbox.store.js';
export { postgresInboxMigration } from './inbox/postgres-inbox.migration.js';
export type { PostgresPool, PostgresClient } from './inbox/postgres-pool.js';
export type { SseInboxOptions, SsePostgresInboxOptions, ResolvedInboxOptions } from './inbox/inbox.options.js';
// jobs/: resumable POST streams.
export { JobService } from './jobs/job.service.js';
export type { Job, JobStart } from './jobs/job.service.js';
export { JobRegistry } from './jobs/job-registry.js';
export type { JobRecord, JobState } from './jobs/job-registry.js';
export { InMemoryJobRegistry } from './jobs/in-memory-job.registry.js';
export { RedisJobRegistry } from './jobs/redis-job.registry.js';

// redis/: the shared connection and its key names.
export { RedisBackplane } from './redis/redis-backplane.js';
export type { SseRedisOptions, RedisNode, RedisClient } from './redis/redis-backplane.js';
export { RedisKeys } from './redis/redis-keys.js';

// observability/: metrics and health.
export { SseMetrics, NoSseMetrics } from './observability/sse-metrics.js';
export type { PublishKind, RejectionReason, StreamCounts, BackplaneOperation } from './observability/sse-metrics.js';
export type { SsePrometheusOptions, SseMetricsRegistry } from './observability/sse-metrics.js';
export { SseHealth } from './observability/sse-health.js';
export type { SseHealthState } from './observability/sse-health.js';
