import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, InboxService, NotificationService, type PublishTarget } from '../sse/index.js';
import { type PublishNotification, publishNotificationSchema } from './publish-notification.schema.js';
import { openApiSchemaOf, ZodBodyPipe } from './zod-body.pipe.js';

@ApiTags('notifications')
@ApiBearerAuth()
@Controller('notifications')
export class NotificationsController {
  constructor(
    private readonly notifications: NotificationService,
    private readonly inbox: InboxService,
  ) {}

  /** Publishes to a user, several users, a topic or everyone, and with `inbox: true` keeps it in their inboxes. Admins only. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Publish an event to a user, several users, a topic or everyone (admins only)' })
  @ApiBody({ schema: openApiSchemaOf(publishNotificationSchema) })
  @ApiResponse({ status: 202, description: 'Published; its id', schema: { example: { id: '1795232652697-0' } } })
  @ApiResponse({ status: 400, description: 'Malformed body, or a type, topic or user id with control characters' })
  @ApiResponse({ status: 401, description: 'No valid bearer token' })
  @ApiResponse({ status: 403, description: 'Not an admin' })
  @ApiResponse({ status: 413, description: 'Body or event data too large' })
  @Authenticated('admin')
  async publish(@Body(new ZodBodyPipe(publishNotificationSchema)) body: PublishNotification): Promise<{ id: string }> {
    const publisher = body.inbox ? this.inbox : this.notifications;
    const id = await publisher.publish(targetOf(body), body.type, body.data ?? null);
    return { id };
  }
}

function targetOf(body: PublishNotification): PublishTarget {
  const targets: PublishTarget[] = [];
  if (body.userId !== undefined) targets.push({ userIds: [body.userId] });
  if (body.userIds !== undefined) targets.push({ userIds: body.userIds });
  if (body.topic !== undefined) targets.push({ topic: body.topic });
  if (body.broadcast !== undefined) targets.push({ broadcast: true });
  if (targets.length !== 1) {
    throw new BadRequestException('Give exactly one of userId, userIds, topic or broadcast: true');
  }
  return targets[0];
}
