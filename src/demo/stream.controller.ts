import { Controller, Delete, Get, type MessageEvent, Param, ParseBoolPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
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

@ApiTags('streams')
@ApiBearerAuth()
@Controller('sse')
export class StreamController {
  constructor(private readonly notifications: NotificationService) {}

  /** The caller's stream: their events, the broadcasts, and `?topics=a,b`. */
  @SseRoute()
  @ApiOperation({ summary: "The caller's event stream (text/event-stream)" })
  @ApiProduces('text/event-stream')
  @ApiQuery({ name: 'topics', required: false, description: 'Comma-separated topics to receive too' })
  @ApiQuery({ name: 'lastEventId', required: false, description: 'Resume point, for clients that cannot send Last-Event-ID' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id' })
  @ApiResponse({ status: 429, description: 'Too many connections (Retry-After)' })
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
  @ApiOperation({ summary: "Close the caller's own streams, on every instance" })
  @ApiResponse({ status: 200, schema: { example: { closed: 2 } } })
  async closeOwn(@CurrentPrincipal() principal: Principal): Promise<{ closed: number }> {
    return { closed: await this.notifications.closeUser(principal.userId) };
  }

  /** Closes a user's streams, and with `?revoke=true` revokes the tokens they hold. Admins only. */
  @Delete('connections/:userId')
  @Authenticated('admin')
  @ApiOperation({ summary: "Close a user's streams, on every instance, and optionally revoke their tokens (admins only)" })
  @ApiQuery({ name: 'revoke', required: false, type: Boolean, description: 'Also refuse every token the user holds now (401 on reconnect)' })
  @ApiResponse({ status: 200, schema: { example: { closed: 2 } } })
  async closeUser(
    @Param('userId') userId: string,
    @Query('revoke', new ParseBoolPipe({ optional: true })) revoke?: boolean,
  ): Promise<{ closed: number }> {
    return { closed: await this.notifications.closeUser(userId, { revokeTokens: revoke }) };
  }

  @Get('stats')
  @Authenticated('admin')
  @ApiOperation({ summary: 'Open streams and users, for the cluster and each instance (admins only)' })
  @ApiResponse({
    status: 200,
    schema: { example: { streams: 3, users: 2, instances: [{ id: 'web-1', streams: 3, users: 2 }] } },
  })
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
