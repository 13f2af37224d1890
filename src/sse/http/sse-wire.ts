import type { MessageEvent } from '@nestjs/common';

/**
 * The encoded bytes of a message that goes to many streams, so that it is
 * serialized and encoded once, not once per connection. Not enumerable, so a
 * copy of the message (e.g. with `retry:` added) is encoded afresh.
 */
export const WIRE = Symbol('sse:wire');

/** The same bytes framed as one HTTP/1.1 chunk (size, CRLF, bytes, CRLF): the wire bytes are a view into it. */
export const CHUNK = Symbol('sse:chunk');

export type WireMessage = MessageEvent & { readonly [WIRE]?: Buffer; readonly [CHUNK]?: Buffer };

const LINE_BREAK = /\r\n|\r|\n/;
// In `id:` or `event:`, a line break would start a field of the attacker's choosing; NUL voids an id.
const UNSAFE_FIELD = /[\r\n\0]/;

/** The SSE text of one message: `event:`, `id:`, `retry:`, comment lines, `data:` lines, then a blank line. */
export function formatMessage(message: MessageEvent): string {
  let text = '';
  if (message.type) text += `event: ${safeField('event', message.type)}\n`;
  if (message.id !== undefined && message.id !== null) text += `id: ${safeField('id', String(message.id))}\n`;
  if (message.retry !== undefined) {
    if (!Number.isSafeInteger(message.retry) || message.retry < 0) throw new Error(`retry must be a whole number of ms, got ${message.retry}`);
    text += `retry: ${message.retry}\n`;
  }
  if (message.comment !== undefined) text += prefixLines(':', message.comment);
  if (message.data !== undefined) {
    text += prefixLines('data:', typeof message.data === 'string' ? message.data : JSON.stringify(message.data));
  }
  return `${text}\n`;
}

/** The bytes to write for a message: its shared encoding when it has one. */
export function wireOf(message: WireMessage): Buffer | string {
  return message[WIRE] ?? formatMessage(message);
}

/** The bytes of a message as a chunk of a chunked HTTP/1.1 body, when it has its shared encoding. */
export function chunkOf(message: WireMessage): Buffer | undefined {
  return message[CHUNK];
}

/** Freezes a message with its encoding attached, for messages sent to many streams. */
export function withWire<T extends MessageEvent>(message: T): Readonly<T> {
  const text = formatMessage(message);
  const length = Buffer.byteLength(text);
  const head = `${length.toString(16)}\r\n`;
  const chunk = Buffer.from(`${head}${text}\r\n`);
  Object.defineProperty(message, CHUNK, { value: chunk, enumerable: false });
  Object.defineProperty(message, WIRE, { value: chunk.subarray(head.length, head.length + length), enumerable: false });
  return Object.freeze(message);
}

function safeField(name: string, value: string): string {
  if (UNSAFE_FIELD.test(value)) throw new Error(`An SSE ${name} cannot contain CR, LF or NUL`);
  return value;
}

function prefixLines(prefix: string, text: string): string {
  return text
    .split(LINE_BREAK)
    .map((line) => (line ? `${prefix} ${line}\n` : `${prefix}\n`))
    .join('');
}
