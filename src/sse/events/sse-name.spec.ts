import { BadRequestException } from '@nestjs/common';
import {
  assertPublishableType,
  assertSseName,
  InvalidSseInputError,
  type NameKind,
} from './sse-name.js';
import { RESERVED_TYPE_PREFIX } from '../../protocol/reserved-events.js';

function refusal(run: () => void): InvalidSseInputError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSseInputError);
    return err as InvalidSseInputError;
  }
  throw new Error('expected the call to throw');
}

describe('sse-name', () => {
  describe('InvalidSseInputError', () => {
    it('is a Nest BadRequestException answered with 400', () => {
      const err = new InvalidSseInputError('nope');
      expect(err).toBeInstanceOf(BadRequestException);
      expect(err.getStatus()).toBe(400);
      expect(err.message).toBe('nope');
    });
  });

  describe('assertSseName', () => {
    const kinds: NameKind[] = ['event type', 'topic', 'user id'];

    it.each([
      ['CR', 'a\rb'],
      ['LF', 'a\nb'],
      ['CRLF', 'a\r\nb'],
      ['trailing LF', 'alice\n'],
      ['leading CR', '\ralice'],
      ['NUL', 'a\u0000b'],
      ['TAB', 'a\tb'],
      ['ESC', 'a\u001bb'],
      ['unit separator (0x1f)', 'a\u001fb'],
      ['DEL (0x7f)', 'a\u007fb'],
      ['BEL', '\u0007'],
      ['comma', 'a,b'],
      ['lone comma', ','],
      ['injected event line', 'x\nevent: sse.close\ndata: {}'],
    ])('refuses a name with %s', (_label, value) => {
      for (const kind of kinds) {
        const err = refusal(() => assertSseName(kind, value));
        expect(err.getStatus()).toBe(400);
        expect(err.message).toContain(kind);
        expect(err.message).toMatch(/control characters/);
      }
    });

    it('refuses the empty string', () => {
      const err = refusal(() => assertSseName('topic', ''));
      expect(err.message).toBe('The topic must be a non-empty string');
    });

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a number', 42],
      ['a boolean', true],
      ['an array', ['alice']],
      ['an object', { toString: () => 'alice' }],
      ['a String object', new String('alice')],
    ])('refuses %s (not a string)', (_label, value) => {
      const err = refusal(() => assertSseName('user id', value));
      expect(err.message).toBe('The user id must be a non-empty string');
    });

    it('refuses more than 200 characters and accepts exactly 200', () => {
      expect(() => assertSseName('topic', 'x'.repeat(200))).not.toThrow();
      const err = refusal(() => assertSseName('topic', 'x'.repeat(201)));
      expect(err.message).toBe('The topic is longer than 200 characters');
    });

    it.each([
      ['plain', 'alice'],
      ['single character', 'a'],
      ['dots', 'orders.created'],
      ['colons', 'tenant:42:user:7'],
      ['spaces', 'hello world'],
      ['unicode letters', 'Ünïcødé-用户-пользователь'],
      ['emoji', 'party 🎉'],
      ['slashes and dashes', 'a/b-c_d'],
      ['uuid', '3f2b8c9e-1d4a-4c6f-9b2e-7a8d5c3e1f00'],
      ['a dash like an id', '1-2'],
      ['a non-breaking space', 'a\u00a0b'],
      ['NEL (U+0085), which is no SSE line end', 'a\u0085b'],
      ['line separator U+2028, which is no SSE line end', 'a\u2028b'],
    ])('accepts %s', (_label, value) => {
      for (const kind of kinds) {
        expect(() => assertSseName(kind, value)).not.toThrow();
      }
    });
  });

  describe('assertPublishableType', () => {
    it('refuses the reserved prefix', () => {
      expect(RESERVED_TYPE_PREFIX).toBe('sse.');
      for (const type of ['sse.close', 'sse.ready', 'sse.loss', 'sse.anything']) {
        const err = refusal(() => assertPublishableType(type));
        expect(err.message).toContain('reserved');
      }
    });

    it('accepts names that only resemble the prefix', () => {
      for (const type of ['sse', 'ssex.close', 'SSE.close', 'my.sse.close', 'sse-close']) {
        expect(() => assertPublishableType(type)).not.toThrow();
      }
    });

    it('still applies the name rules', () => {
      refusal(() => assertPublishableType('todo\nevent: x'));
      refusal(() => assertPublishableType(''));
      refusal(() => assertPublishableType(7));
      refusal(() => assertPublishableType('t'.repeat(201)));
      const err = refusal(() => assertPublishableType('a,b'));
      expect(err.message).toContain('event type');
    });

    it('accepts an ordinary type', () => {
      expect(() => assertPublishableType('todo.created')).not.toThrow();
    });
  });
});
