import type { Provider } from '@nestjs/common';
import { Broker } from './delivery/broker.js';
import { ConnectionLimiter } from './limits/connection-limiter.js';
import { HistoryStore } from './delivery/history.store.js';
import { InMemoryConnectionLimiter } from './limits/in-memory-connection.limiter.js';
import { InMemoryHistoryStore } from './delivery/in-memory-history.store.js';
import { JwtTokenVerifier } from './auth/jwt-token.verifier.js';
import { LocalBroker } from './delivery/local.broker.js';
import { RedisBackplane } from './redis/redis-backplane.js';
import { RedisConnectionLimiter } from './limits/redis-connection.limiter.js';
import { RedisHistoryStore } from './delivery/redis-history.store.js';
import { RedisBroker } from './delivery/redis.broker.js';
import { SSE_MODULE_OPTIONS } from './sse.module-definition.js';
import { REDIS_BACKPLANE, SSE_OPTIONS } from './sse.constants.js';
import { resolveOptions, type ResolvedSseOptions, type SseModuleOptions } from './sse.options.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { NoSseMetrics, SseMetrics } from './observability/sse-metrics.js';
import { requireSseModule } from './sse-module-required.js';
import { InboxStore } from './inbox/inbox.store.js';
import { chooseInboxStore } from './inbox/inbox-store.choice.js';
import { RevocationStore } from './auth/revocation.store.js';
import { InMemoryRevocationStore } from './auth/in-memory-revocation.store.js';
import { RedisRevocationStore } from './auth/redis-revocation.store.js';
import { JobRegistry } from './jobs/job-registry.js';
import { InMemoryJobRegistry } from './jobs/in-memory-job.registry.js';
import { RedisJobRegistry } from './jobs/redis-job.registry.js';

/**
 * The seams, each built from the options at startup (so that `forRootAsync`
 * can choose too): over Redis when `redis` is set, in memory otherwise.
 */
export const sseProviders: Provider[] = [
  {
    provide: SSE_OPTIONS,
    // Absent when the bare SseModule class is imported: an error that names forRoot, not Nest's unresolved token.
    useFactory: (options?: SseModuleOptions) => resolveOptions(requireSseModule(options, 'SseModule')),
    inject: [{ token: SSE_MODULE_OPTIONS, optional: true }],
  },
  {
    provide: TokenVerifier,
    // With `fromRequest`, the application's own guard has authenticated the request, and no token is verified.
    useFactory: ({ auth }: ResolvedSseOptions) => auth.verifier ?? (auth.jwt ? new JwtTokenVerifier(auth.jwt) : null),
    inject: [SSE_OPTIONS],
  },
  {
    provide: SseMetrics,
    useFactory: async ({ metrics }: ResolvedSseOptions): Promise<SseMetrics> => {
      if (!metrics) return new NoSseMetrics();
      // prom-client is loaded only when metrics are wanted.
      const { PrometheusSseMetrics } = await import('./observability/prometheus-sse.metrics.js');
      return new PrometheusSseMetrics(metrics === true ? {} : metrics);
    },
    inject: [SSE_OPTIONS],
  },
  {
    provide: REDIS_BACKPLANE,
    useFactory: ({ redis }: ResolvedSseOptions) => (redis ? RedisBackplane.connect(redis) : null),
    inject: [SSE_OPTIONS],
  },
  {
    provide: HistoryStore,
    useFactory: ({ history }: ResolvedSseOptions, backplane: RedisBackplane | null, metrics: SseMetrics) =>
      backplane ? new RedisHistoryStore(backplane, history.ttlMs, metrics) : new InMemoryHistoryStore(history),
    inject: [SSE_OPTIONS, REDIS_BACKPLANE, SseMetrics],
  },
  {
    provide: Broker,
    useFactory: (
      { history }: ResolvedSseOptions,
      backplane: RedisBackplane | null,
      store: HistoryStore,
      metrics: SseMetrics,
    ) => (backplane ? new RedisBroker(backplane, history, metrics) : new LocalBroker(store as InMemoryHistoryStore)),
    inject: [SSE_OPTIONS, REDIS_BACKPLANE, HistoryStore, SseMetrics],
  },
  {
    provide: ConnectionLimiter,
    useFactory: (options: ResolvedSseOptions, backplane: RedisBackplane | null) =>
      backplane
        ? new RedisConnectionLimiter(backplane, options.maxConnectionsPerUser, options.maxConnections, options.instanceId)
        : new InMemoryConnectionLimiter(options.maxConnectionsPerUser, options.maxConnections, options.instanceId),
    inject: [SSE_OPTIONS, REDIS_BACKPLANE],
  },
  {
    provide: InboxStore,
    useFactory: chooseInboxStore,
    inject: [SSE_OPTIONS, REDIS_BACKPLANE],
  },
  {
    provide: RevocationStore,
    useFactory: ({ revocationTtlMs }: ResolvedSseOptions, backplane: RedisBackplane | null) =>
      backplane ? new RedisRevocationStore(backplane, revocationTtlMs) : new InMemoryRevocationStore(revocationTtlMs),
    inject: [SSE_OPTIONS, REDIS_BACKPLANE],
  },
  {
    provide: JobRegistry,
    // A job's record is kept as long as its events are.
    useFactory: ({ history }: ResolvedSseOptions, backplane: RedisBackplane | null) =>
      backplane ? new RedisJobRegistry(backplane, history.ttlMs) : new InMemoryJobRegistry(history.ttlMs),
    inject: [SSE_OPTIONS, REDIS_BACKPLANE],
  },
];
