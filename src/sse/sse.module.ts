import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Broker } from './delivery/broker.js';
import { ConnectionLimitGuard } from './limits/connection-limit.guard.js';
import { ConnectionLimiter } from './limits/connection-limiter.js';
import { HistoryStore } from './delivery/history.store.js';
import { NotificationService } from './notification.service.js';
import { SSE_OPTIONS } from './sse.constants.js';
import { ConfigurableSseModule } from './sse.module-definition.js';
import { sseProviders } from './sse.providers.js';
import { TokenAuthGuard } from './auth/token-auth.guard.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { SseWriter } from './http/sse-writer.js';
import { SseMetrics } from './observability/sse-metrics.js';
import { SseHealth } from './observability/sse-health.js';
import { RetryAfterFilter } from './http/retry-after.filter.js';
import { InboxService } from './inbox/inbox.service.js';
import { InboxStore } from './inbox/inbox.store.js';
import { RevocationStore } from './auth/revocation.store.js';
import { JobService } from './jobs/job.service.js';
import { JobRegistry } from './jobs/job-registry.js';

/**
 * Server-Sent Events for authenticated users. Import it with
 * `SseModule.forRoot({ auth: { jwt: { secret } } })` (or `forRootAsync`), then
 * return `NotificationService.stream()` from an `@SseRoute()` handler.
 */
@Module({
  providers: [
    ...sseProviders,
    NotificationService,
    TokenAuthGuard,
    ConnectionLimitGuard,
    SseWriter,
    SseHealth,
    // Every 503 of the module gets its Retry-After, wherever it is thrown.
    { provide: APP_FILTER, useClass: RetryAfterFilter },
    InboxService,
    JobService,
  ],
  exports: [
    SSE_OPTIONS,
    NotificationService,
    TokenVerifier,
    ConnectionLimiter,
    HistoryStore,
    Broker,
    TokenAuthGuard,
    ConnectionLimitGuard,
    SseWriter,
    SseMetrics,
    SseHealth,
    InboxService,
    InboxStore,
    RevocationStore,
    JobService,
    JobRegistry,
  ],
})
export class SseModule extends ConfigurableSseModule {}
