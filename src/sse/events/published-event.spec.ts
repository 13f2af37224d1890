import { formatEventId } from './event-position.js';
import { createPublishedEvent, serializePayload } from './published-event.js';
import type { PublishTarget } from './publish-target.js';
import { InvalidSseInputError } from './sse-name.js';
import { wireOf } from '../http/sse-wire.js';

/** One `data:` line must hold the whole payload: no raw CR or LF anywhere. */
function expectOneLine(data: string): void {
  expect(data).not.toMatch(/[\r\n]/);
}

describe('published-event', () => {
  describe('serializePayload', () => {
    it.each([
      ['LF', 'first\nsecond'],
      ['CR', 'first\rsecond'],
      ['CRLF', 'first\r\nsecond'],
      ['only line ends', '\n\r\n\r'],
      ['an injected event', 'x\n\nevent: sse.close\ndata: {"reason":"pwned"}\n\n'],
      ['an injected id', 'x\nid: 9999999999999-0\n'],
      ['NUL and other controls', 'a\u0000b\u001bc\u007f'],
      ['unicode line separators', 'a\u2028b\u2029c'],
      ['a lone surrogate', 'a\ud800b'],
      ['empty', ''],
    ])('keeps a string with %s on one line and round-trips it', (_label, payload) => {
      const data = serializePayload(payload);
      expectOneLine(data);
      expect(JSON.parse(data)).toBe(payload);
    });

    it('keeps CR and LF nested in objects and arrays on one line', () => {
      const payload = {
        title: 'line 1\r\nline 2',
        'key\nwith break': ['a\rb', { deep: '\n' }],
        n: 3,
      };
      const data = serializePayload(payload);
      expectOneLine(data);
      expect(JSON.parse(data)).toEqual(payload);
    });

    it.each<[string, unknown, string]>([
      ['an object', { a: 1, b: 'two' }, '{"a":1,"b":"two"}'],
      ['an array', [1, 'x', null], '[1,"x",null]'],
      ['a number', 42, '42'],
      ['a negative float', -1.5, '-1.5'],
      ['zero', 0, '0'],
      ['true', true, 'true'],
      ['false', false, 'false'],
      ['null', null, 'null'],
      ['undefined', undefined, 'null'],
      ['a function', () => 1, 'null'],
      ['a symbol', Symbol('s'), 'null'],
      ['NaN', Number.NaN, 'null'],
      ['a plain string', 'hello', '"hello"'],
      ['a date', new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), '"2024-01-02T03:04:05.000Z"'],
    ])('serializes %s', (_label, payload, expected) => {
      expect(serializePayload(payload)).toBe(expected);
    });

    it('refuses a BigInt with InvalidSseInputError (400)', () => {
      let caught: unknown;
      try {
        serializePayload({ big: 10n });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidSseInputError);
      expect((caught as InvalidSseInputError).getStatus()).toBe(400);
      expect((caught as Error).message).toMatch(/cannot be serialized as JSON/);
    });

    it('refuses a circular object with InvalidSseInputError', () => {
      const circular: Record<string, unknown> = { name: 'loop' };
      circular.self = circular;
      expect(() => serializePayload(circular)).toThrow(InvalidSseInputError);
      expect(() => serializePayload([circular])).toThrow(/cannot be serialized as JSON/);
    });

    it('refuses a payload whose toJSON throws', () => {
      const payload = {
        toJSON() {
          throw new Error('boom');
        },
      };
      expect(() => serializePayload(payload)).toThrow(InvalidSseInputError);
    });
  });

  describe('createPublishedEvent', () => {
    const target: PublishTarget = { userIds: ['alice'] };
    const position = { ms: 1_700_000_000_000, seq: 3 };

    it('builds the wire message with the formatted id', () => {
      const event = createPublishedEvent(position, target, 'todo', '{"n":1}');
      expect(event.message).toEqual({ id: '1700000000000-3', type: 'todo', data: '{"n":1}' });
      expect(event.message.id).toBe(formatEventId(position));
      expect(event.id).toBe(event.message.id);
      expect(Object.keys(event.message).sort()).toEqual(['data', 'id', 'type']);
      expect(event.position).toBe(position);
      expect(event.target).toBe(target);
    });

    it("names a topic's event's topic in a comment line, encoded once with the event", () => {
      const event = createPublishedEvent(position, { topic: 'news' }, 'announcement', '"hi"');
      expect(event.message).toEqual({ id: '1700000000000-3', type: 'announcement', comment: 'topic news', data: '"hi"' });
      expect(wireOf(event.message).toString()).toBe('event: announcement\nid: 1700000000000-3\n: topic news\ndata: "hi"\n\n');
      // Users' events and broadcasts carry no comment.
      expect(wireOf(createPublishedEvent(position, { broadcast: true }, 'a', '1').message).toString()).not.toMatch(/^:/m);
    });

    it('encodes the message once and shares that one with every stream', () => {
      const event = createPublishedEvent(position, target, 'todo', '{"n":1}');
      const first = event.message;
      expect(event.message).toBe(first);
      expect(wireOf(event.message)).toBe(wireOf(first));
    });

    it('freezes the event and its message', () => {
      const event = createPublishedEvent(position, target, 'todo', '1');
      expect(Object.isFrozen(event)).toBe(true);
      expect(Object.isFrozen(event.message)).toBe(true);
      // ES modules are strict: writing to a frozen object throws.
      expect(() => {
        (event.message as { data: string }).data = 'changed';
      }).toThrow(TypeError);
      expect(() => {
        (event as { message: unknown }).message = {};
      }).toThrow(TypeError);
      expect(event.message.data).toBe('1');
    });
  });
});
