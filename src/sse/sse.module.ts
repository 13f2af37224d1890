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
import { SseWriter } from './http/sse-writer.js';
import { SseMetrics } from './observability/sse-metrics.js';
import { SseHealth } from './observability/sse-health.js';

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
  ],
})
export class SseModule extends ConfigurableSseModule {}
