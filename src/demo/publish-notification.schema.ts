import { z } from 'zod';

/** Body of `POST /notifications`: exactly one of userId, userIds, topic, broadcast (checked by the controller). */
export const publishNotificationSchema = z.strictObject({
  userId: z.string().min(1).optional().meta({ description: 'One recipient', example: 'alice' }),
  userIds: z
    .array(z.string())
    .min(1)
    .max(1000)
    .optional()
    .meta({ description: 'Several recipients', example: ['alice', 'bob'] }),
  topic: z.string().min(1).optional().meta({ description: 'Every stream that asked for this topic', example: 'news' }),
  broadcast: z.literal(true).optional().meta({ description: 'Every stream' }),
  type: z
    .string()
    .min(1)
    .meta({ description: 'The event type (`event:`); no control characters, no `sse.` prefix', example: 'todo' }),
  inbox: z.boolean().optional().meta({ description: "Also keep it in each recipient's inbox (the event's id is the item's)" }),
  data: z.unknown().optional().meta({ description: 'Any JSON: sent as `data:` exactly as given', example: { title: 'Call Bob' } }),
});

export type PublishNotification = z.output<typeof publishNotificationSchema>;
