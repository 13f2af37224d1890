import { BadRequestException } from '@nestjs/common';
import { RESERVED_TYPE_PREFIX } from '../../protocol/reserved-events.js';

const MAX_NAME_LENGTH = 200;
// CR and LF end an SSE line, NUL makes clients drop an id, and a comma splits `?topics=`.
const FORBIDDEN = /[\u0000-\u001f\u007f,]/;

export type NameKind = 'event type' | 'topic' | 'user id';

/** Refused input: a 400 wherever it reaches an HTTP answer. */
export class InvalidSseInputError extends BadRequestException {}

/**
 * Checks a name that is written into the stream or into a store key (an event
 * type, a topic, a user id): control characters could inject lines into the stream.
 */
export function assertSseName(kind: NameKind, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidSseInputError(`The ${kind} must be a non-empty string`);
  }
  if (value.length > MAX_NAME_LENGTH) {
    throw new InvalidSseInputError(`The ${kind} is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (FORBIDDEN.test(value)) {
    throw new InvalidSseInputError(`The ${kind} must not contain control characters (CR, LF, NUL, ...) or commas`);
  }
}

export function assertPublishableType(type: unknown): asserts type is string {
  assertSseName('event type', type);
  if (type.startsWith(RESERVED_TYPE_PREFIX)) {
    throw new InvalidSseInputError(`Event types starting with "${RESERVED_TYPE_PREFIX}" are reserved for the module`);
  }
}
