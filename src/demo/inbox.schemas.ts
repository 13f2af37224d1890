import { z } from 'zod';

const MAX_IDS = 1000;

const ids = z
  .array(z.string())
  .max(MAX_IDS)
  .meta({ description: `The items' ids (at most ${MAX_IDS}); ids that are not the caller's are ignored`, example: ['1795232652697-0'] });

/** Query of `GET /inbox`: strings, refused rather than clamped when out of range. */
export const inboxQuerySchema = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, { message: 'limit must be a whole number from 1 to 100' })
    .transform(Number)
    .pipe(z.number().min(1, { message: 'limit must be from 1 to 100' }).max(100, { message: 'limit must be from 1 to 100' }))
    .optional()
    .meta({ description: 'Items per page, 1–100 (default 20)', example: '20' }),
  cursor: z.string().min(1).max(200).optional().meta({ description: 'The nextCursor of the page before' }),
  status: z
    .enum(['unread', 'all', 'archived'])
    .optional()
    .meta({ description: '`all` (the default) is every item not archived' }),
});

export type InboxQueryParams = z.output<typeof inboxQuerySchema>;

/** Body of `POST /inbox/read`: ids, or every item. */
export const markReadSchema = z
  .strictObject({
    ids: ids.optional(),
    all: z.boolean().optional().meta({ description: 'true: mark every item read' }),
  })
  .refine((body) => (body.ids !== undefined) !== (body.all === true), { message: 'Give either ids or all: true' });

/** Body of `POST /inbox/unread` and `POST /inbox/archive`. */
export const markItemsSchema = z.strictObject({ ids });

export type MarkRead = z.output<typeof markReadSchema>;
export type MarkItems = z.output<typeof markItemsSchema>;
