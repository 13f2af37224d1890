import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { SseHealth } from './sse-health.js';

/**
 * A `@nestjs/terminus` health indicator: down when the backplane (Redis) does
 * not answer; reports this instance's open streams. Add it to the providers of
 * the module that serves your health check, next to `TerminusModule`.
 */
@Injectable()
export class SseHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly health: SseHealth,
  ) {}

  async isHealthy(key = 'sse') {
    const indicator = this.indicators.check(key);
    const state = await this.health.check();
    return state.backplane === 'down' ? indicator.down({ ...state }) : indicator.up({ ...state });
  }
}
