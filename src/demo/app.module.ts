import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { SseHealthIndicator } from '../sse/terminus.js';
import { type Principal, SseModule, type SseRedisOptions } from '../sse/index.js';
import { ChatModule } from './chat/chat.module.js';
import { DEMO_CONFIG, METRICS_REGISTRY } from './demo.constants.js';
import { HealthController } from './health.controller.js';
import { InboxController } from './inbox.controller.js';
import { MetricsController } from './metrics.controller.js';
import { type DemoConfig, TOKEN_COOKIE } from './demo.config.js';
import { DemoTokenController } from './demo-token.controller.js';
import { NotificationsController } from './notifications.controller.js';
import { PageController } from './page.controller.js';
import { StreamController } from './stream.controller.js';

/** Topics whose name starts with this are for admins only. */
export const ADMIN_TOPIC_PREFIX = 'admin';

/** `admin…` topics are admins'; any other topic is anyone's. */
function canReadTopic(principal: Principal, topic: string): boolean {
  return !topic.startsWith(ADMIN_TOPIC_PREFIX) || principal.roles.includes('admin');
}

/** The Redis deployment the settings name (Sentinels, a Cluster or one server), if any. */
function redisOf(config: DemoConfig): SseRedisOptions | undefined {
  const deployment: SseRedisOptions | undefined = config.redisSentinels
    ? { sentinels: config.redisSentinels, name: config.redisSentinelName }
    : config.redisClusterNodes
      ? { cluster: config.redisClusterNodes }
      : config.redisUrl
        ? { url: config.redisUrl }
        : undefined;
  return (
    deployment && {
      ...deployment,
      keyPrefix: config.redisKeyPrefix,
      leaseTtlMs: config.redisLeaseTtlMs,
      waitForConnection: config.redisWait,
    }
  );
}

@Module({})
export class AppModule {
  static register(config: DemoConfig): DynamicModule {
    // The app's own registry, on which the module registers its metrics.
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    return {
      module: AppModule,
      imports: [
        SseModule.forRootAsync({
          isGlobal: true,
          useFactory: () => ({
            auth: { jwt: { secret: config.jwtSecret }, cookie: TOKEN_COOKIE },
            maxConnectionsPerUser: config.maxConnectionsPerUser,
            maxConnections: config.maxConnections,
            heartbeatMs: config.heartbeatMs,
            retryMs: config.retryMs,
            retryAfterSeconds: config.retryAfterSeconds,
            maxPendingBytes: config.maxPendingBytes,
            history: { maxEvents: config.historySize, ttlMs: config.historyTtlMs },
            canReadTopic,
            jobs: { detachedGraceMs: config.chatDetachedGraceMs },
            metrics: { registry },
            redis: redisOf(config),
            // PostgreSQL when DATABASE_URL is set (its tables created at startup), else the default: Redis's or memory.
            inbox: {
              store: config.databaseUrl
                ? { postgres: { connectionString: config.databaseUrl, schema: config.databaseSchema, migrate: true } }
                : undefined,
              topicsOf: () => config.inboxTopics,
            },
          }),
        }),
        TerminusModule,
        ChatModule.register({ tokenDelayMs: config.chatTokenDelayMs }),
      ],
      controllers: [
        StreamController,
        NotificationsController,
        InboxController,
        PageController,
        MetricsController,
        HealthController,
        ...(config.demoTokens ? [DemoTokenController] : []),
      ],
      providers: [
        { provide: DEMO_CONFIG, useValue: config },
        { provide: METRICS_REGISTRY, useValue: registry },
        SseHealthIndicator,
      ],
    };
  }
}
