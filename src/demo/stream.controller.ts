import { Controller, Delete, Get, type MessageEvent, Param, Query } from '@nestjs/common';
import type { Observable } from 'rxjs';
import {
  Authenticated,
  CurrentPrincipal,
  LastEventId,
  NotificationService,
  type Principal,
  type SseStats,
  SseRoute,
} from '../sse/index.js';

@Controller('sse')
export class StreamController {
  constructor(private readonly notifications: NotificationService) {}

  /** The caller's stream: their events, the broadcasts, and `?topics=a,b`. */
  @SseRoute()
  stream(
    @CurrentPrincipal() principal: Principal,
    @Query('topics') topics: unknown,
    @LastEventId() lastEventId: string | undefined,
  ): Observable<MessageEvent> {
    return this.notifications.stream(principal, { topics: topicsOf(topics), lastEventId });
  }

  /** Closes the caller's own streams. */
  @Delete('connections')
  @Authenticated()
  async closeOwn(@CurrentPrincipal() principal: Principal): Promise<{ closed: number }> {
    return { closed: await this.notifications.closeUser(principal.userId) };
  }

  /** Closes a user's streams. Admins only. */
  @Delete('connections/:userId')
  @Authenticated('admin')
  async closeUser(@Param('userId') userId: string): Promise<{ closed: number }> {
    return { closed: await this.notifications.closeUser(userId) };
  }

  @Get('stats')
  @Authenticated('admin')
  stats(): Promise<SseStats> {
    return this.notifications.stats();
  }
}

/** `?topics=a,b`, also given as `?topics=a&topics=b`. */
function topicsOf(raw: unknown): string[] {
  const values = Array.isArray(raw) ? raw : [raw];
  return values
    .filter((value): value is string => typeof value === 'string')
    .flatMap((value) => value.split(','))
    .filter(Boolean);
}
