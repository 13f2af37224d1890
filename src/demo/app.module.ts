import { type DynamicModule, Module } from '@nestjs/common';
import { SseModule } from '../sse/index.js';
import type { DemoConfig } from './demo.config.js';
import { NotificationsController } from './notifications.controller.js';
import { StreamController } from './stream.controller.js';

/** Topics whose name starts with this are for admins only. */
export const ADMIN_TOPIC_PREFIX = 'admin';

@Module({})
export class AppModule {
  static register(config: DemoConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SseModule.forRootAsync({
          useFactory: () => ({
            auth: { jwt: { secret: config.jwtSecret } },
            maxConnectionsPerUser: config.maxConnectionsPerUser,
            heartbeatMs: config.heartbeatMs,
            history: { maxEvents: config.historySize, ttlMs: config.historyTtlMs },
            redis: config.redisUrl
              ? {
                  url: config.redisUrl,
                  keyPrefix: config.redisKeyPrefix,
                  leaseTtlMs: config.redisLeaseTtlMs,
                  waitForConnection: config.redisWait,
                }
              : undefined,
            canReadTopic: (principal, topic) =>
              !topic.startsWith(ADMIN_TOPIC_PREFIX) || principal.roles.includes('admin'),
          }),
        }),
      ],
      controllers: [StreamController, NotificationsController],
    };
  }
}
