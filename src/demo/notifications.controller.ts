import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { Authenticated, NotificationService, type PublishTarget } from '../sse/index.js';
import { PublishNotificationDto } from './publish-notification.dto.js';

@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationService) {}

  /** Publishes to a user, several users, a topic or everyone. Admins only. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @Authenticated('admin')
  async publish(@Body() body: PublishNotificationDto): Promise<{ id: string }> {
    const id = await this.notifications.publish(targetOf(body), body.type, body.data ?? null);
    return { id };
  }
}

function targetOf(body: PublishNotificationDto): PublishTarget {
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
