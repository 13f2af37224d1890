import { createParser } from 'eventsource-parser';
import { TOPIC_COMMENT_PREFIX } from '../protocol/reserved-events.js';

/** One event as read off the wire, its data not yet parsed. */
export interface Frame {
  readonly type: string;
  readonly id?: string;
  readonly data: string;
  /** The topic it was published to, named by a comment line in its block; absent for a user's events and broadcasts. */
  readonly topic?: string;
}

export interface FrameListener {
  /** The server's `retry:`. */
  retry?(ms: number): void;
  /** Bytes arrived (events or heartbeats). */
  heard?(): void;
}

/** The events of an SSE response body as they arrive. Leaving the loop early cancels the body. */
export async function* framesOf(body: ReadableStream<Uint8Array>, listener: FrameListener = {}): AsyncGenerator<Frame> {
  const frames: Frame[] = [];
  let topic: string | undefined;
  const parser = createParser({
    onEvent: ({ event, id, data }) => {
      frames.push({ type: event ?? 'message', id, data, topic });
      topic = undefined;
    },
    onComment: (comment) => {
      if (comment.startsWith(TOPIC_COMMENT_PREFIX)) topic = comment.slice(TOPIC_COMMENT_PREFIX.length);
    },
    onRetry: listener.retry,
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (let chunk; !(chunk = await reader.read()).done; ) {
      listener.heard?.();
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      yield* frames.splice(0);
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
