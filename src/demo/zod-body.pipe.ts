import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';

/**
 * Validates a request body, or a query string, against a zod schema and hands on what it parsed:
 * `@Body(new ZodBodyPipe(schema))`, `@Query(new ZodBodyPipe(schema))`. zod does not walk what a schema leaves
 * open (`z.unknown()`), and strict objects refuse unknown keys, `__proto__`
 * included. A mismatch is a 400 that says what is wrong.
 */
export class ZodBodyPipe<Schema extends z.ZodType> implements PipeTransform<unknown, z.output<Schema>> {
  constructor(private readonly schema: Schema) {}

  transform(value: unknown): z.output<Schema> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    throw new BadRequestException(result.error.issues.map(describe).join('; '));
  }
}

/** The schema as OpenAPI 3.0 describes a body: `@ApiBody({ schema: openApiSchemaOf(schema) })`. */
export function openApiSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0' }) as Record<string, unknown>;
}

function describe(issue: z.core.$ZodIssue): string {
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}
