import type { MessageEvent } from '@nestjs/common';
import { type EventPosition, formatEventId } from './event-position.js';
import type { PublishTarget } from './publish-target.js';
import { InvalidSseInputError } from './sse-name.js';
import { withWire } from '../http/sse-wire.js';
import { TOPIC_COMMENT_PREFIX } from '../../protocol/reserved-events.js';

/** The wire form of an event: its `id:`, `event:` and `data:`, and for a topic's event the comment naming the topic. */
export interface SseMessage extends MessageEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
}

/** An event once it has its place in the order: shared, as it is and with its encoding, by every stream that receives it. */
export interface PublishedEvent {
  readonly position: EventPosition;
  /** The position as the `id:` the client sees. */
  readonly id: string;
  readonly target: PublishTarget;
  /** Encoded when first asked for, then shared: an instance that has no recipient of an event never encodes it. */
  readonly message: SseMessage;
}

/**
 * Serializes a payload to the `data:` of an event, once for all its recipients.
 * JSON escapes CR and LF, so the data is always one line, whatever the payload holds.
 */
export function serializePayload(payload: unknown): string {
  let data: string | undefined;
  try {
    data = JSON.stringify(payload);
  } catch (err) {
    throw new InvalidSseInputError(`The event data cannot be serialized as JSON: ${(err as Error).message}`);
  }
  return data ?? 'null';
}

export function createPublishedEvent(
  position: EventPosition,
  target: PublishTarget,
  type: string,
  data: string,
): PublishedEvent {
  const id = formatEventId(position);
  let message: SseMessage | undefined;
  return Object.freeze({
    position,
    id,
    target,
    get message(): SseMessage {
      // A topic's events name it in a comment line, encoded once with the rest: a shared stream can sort them by topic.
      return (message ??=
        'topic' in target
          ? withWire({ id, type, comment: `${TOPIC_COMMENT_PREFIX}${target.topic}`, data })
          : withWire({ id, type, data }));
    },
  });
}
