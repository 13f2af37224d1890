import { Inject, Injectable } from '@nestjs/common';
import { NotificationService } from '../notification.service.js';
import type { RedisBackplane } from '../redis/redis-backplane.js';
import { REDIS_BACKPLANE } from '../sse.constants.js';

export interface SseHealthState {
  /** `memory` without a backplane; `up` or `down` for Redis. */
  readonly backplane: 'memory' | 'up' | 'down';
  /** Streams and users open on this instance. */
  readonly streams: number;
  readonly users: number;
}

const PING_TIMEOUT_MS = 1000;

/** Whether this instance can serve streams: its backplane answers, and how many streams it holds. */
@Injectable()
export class SseHealth {
  constructor(
    @Inject(REDIS_BACKPLANE) private readonly backplane: RedisBackplane | null,
    private readonly notifications: NotificationService,
  ) {}

  async check(): Promise<SseHealthState> {
    return { backplane: await this.backplaneState(), ...this.notifications.local() };
  }

  private async backplaneState(): Promise<SseHealthState['backplane']> {
    if (!this.backplane) return 'memory';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.backplane.client.ping(), timeout]);
      return 'up';
    } catch {
      return 'down';
    } finally {
      clearTimeout(timer);
    }
  }
}
