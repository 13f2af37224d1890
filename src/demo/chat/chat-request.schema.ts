import { z } from 'zod';

/** Body of `POST /chat`. */
export const chatRequestSchema = z.strictObject({
  message: z.string().min(1).max(4000),
});

export type ChatRequest = z.output<typeof chatRequestSchema>;
