import { Module } from '@nestjs/common';
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
import { SseWriterInterceptor } from './http/sse-writer.interceptor.js';
import { SseWriter } from './http/sse-writer.js';
import { SseMetrics } from './observability/sse-metrics.js';
import { SseHealth } from './observability/sse-health.js';
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
    SseWriterInterceptor,
    SseWriter,
    SseHealth,
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
    SseWriterInterceptor,
    SseWriter,
    SseMetrics,
    SseHealth,
    RevocationStore,
    JobService,
    JobRegistry,
  ],
})
export class SseModule extends ConfigurableSseModule {}
