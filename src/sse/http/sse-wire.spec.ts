import { chunkOf, formatMessage, WIRE, wireOf, withWire } from './sse-wire.js';

describe('the SSE serializer', () => {
  it('writes event:, id:, retry: and data: lines, then a blank line', () => {
    expect(formatMessage({ type: 'todo', id: '1-0', retry: 3000, data: '{"a":1}' })).toBe(
      'event: todo\nid: 1-0\nretry: 3000\ndata: {"a":1}\n\n',
    );
  });

  it.each([
    ['LF', 'a\nevent: forged'],
    ['CR', 'a\revent: forged'],
    ['CRLF', 'a\r\ndata: forged'],
    ['NUL', 'a\u0000b'],
  ])('refuses %s in an event type or an id, whoever built the message', (_, value) => {
    expect(() => formatMessage({ type: value, data: 'x' })).toThrow(/cannot contain CR, LF or NUL/);
    expect(() => formatMessage({ id: value, data: 'x' })).toThrow(/cannot contain CR, LF or NUL/);
  });

  it('splits string data on every kind of line break into data: lines, so nothing else can start', () => {
    expect(formatMessage({ data: 'one\ntwo\r\nthree\rfour' })).toBe('data: one\ndata: two\ndata: three\ndata: four\n\n');
    expect(formatMessage({ data: 'x\n\nid: forged' })).toBe('data: x\ndata:\ndata: id: forged\n\n');
  });

  it('serializes object data as JSON, whose escapes keep it on one line', () => {
    expect(formatMessage({ data: { text: 'a\nb' } })).toBe('data: {"text":"a\\nb"}\n\n');
  });

  it('writes comments as comment lines, including an empty heartbeat', () => {
    expect(formatMessage({ comment: '' })).toBe(':\n\n');
    expect(formatMessage({ comment: 'a\nb' })).toBe(': a\n: b\n\n');
  });

  it('refuses a retry that is not a whole number of milliseconds', () => {
    expect(() => formatMessage({ retry: 1.5, data: 'x' })).toThrow(/retry/);
    expect(() => formatMessage({ retry: -1, data: 'x' })).toThrow(/retry/);
  });

  it('keeps the encoding of a shared message, hidden from copies, which are encoded afresh', () => {
    const shared = withWire({ type: 'todo', id: '2-0', data: '1' });
    expect(Object.isFrozen(shared)).toBe(true);
    expect(Object.keys(shared)).toEqual(['type', 'id', 'data']);
    expect(wireOf(shared)).toBe((shared as { [WIRE]?: Buffer })[WIRE]);
    expect(wireOf(shared).toString()).toBe('event: todo\nid: 2-0\ndata: 1\n\n');
    const withRetry = { ...shared, retry: 3000 };
    expect(wireOf(withRetry)).toBe('event: todo\nid: 2-0\nretry: 3000\ndata: 1\n\n');
  });

  it('frames a shared message once as an HTTP/1.1 chunk, around the same bytes', () => {
    const shared = withWire({ type: 'todo', id: '3-0', data: JSON.stringify({ text: 'héllo ✓' }) });
    const bytes = wireOf(shared) as Buffer;
    const chunk = chunkOf(shared)!;
    const size = bytes.length.toString(16);
    expect(chunk.toString()).toBe(`${size}\r\n${bytes.toString()}\r\n`);
    // Sized in bytes, not characters: the payload holds multi-byte characters.
    expect(bytes.length).toBeGreaterThan(bytes.toString().length);
    // One encoding: the wire bytes are a view into the chunk.
    expect(bytes.buffer).toBe(chunk.buffer);
    expect(bytes.byteOffset).toBe(chunk.byteOffset + size.length + 2);
    expect(chunkOf({ ...shared, retry: 3000 })).toBeUndefined();
  });
});
