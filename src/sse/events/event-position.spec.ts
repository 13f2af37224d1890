import { comparePositions, type EventPosition, formatEventId, nextPosition, parseEventId } from './event-position.js';

describe('event-position', () => {
  describe('formatEventId / parseEventId', () => {
    it.each<EventPosition>([
      { ms: 0, seq: 0 },
      { ms: 1_700_000_000_123, seq: 0 },
      { ms: 1_700_000_000_123, seq: 42 },
      { ms: 999_999_999_999_999, seq: 999_999_999_999_999 },
    ])('round-trips %o', (position) => {
      const id = formatEventId(position);
      expect(id).toBe(`${position.ms}-${position.seq}`);
      expect(parseEventId(id)).toEqual(position);
    });

    it('parses the parts as numbers', () => {
      expect(parseEventId('1700000000123-7')).toEqual({ ms: 1_700_000_000_123, seq: 7 });
      expect(parseEventId('007-01')).toEqual({ ms: 7, seq: 1 });
    });

    it.each([
      ['empty', ''],
      ['letters', 'abc-1'],
      ['letters in the sequence', '1-x'],
      ['hex', '0x10-1'],
      ['missing sequence', '123'],
      ['missing sequence after dash', '123-'],
      ['missing ms', '-1'],
      ['too many parts', '1-2-3'],
      ['negative', '-1-2'],
      ['decimal', '1.5-2'],
      ['spaces', ' 1-2'],
      ['trailing space', '1-2 '],
      ['trailing LF', '1-2\n'],
      ['leading LF', '\n1-2'],
      ['CR inside', '1-\r2'],
      ['CRLF', '1-2\r\n'],
      ['NUL', '1-2\u0000'],
      ['16-digit ms', '1234567890123456-0'],
      ['16-digit sequence', '0-1234567890123456'],
      ['non-ASCII digits', '١٢-٣'],
      ['plus sign', '+1-2'],
    ])('refuses %s', (_label, id) => {
      expect(parseEventId(id)).toBeUndefined();
    });

    it('accepts exactly 15 digits in each part', () => {
      expect(parseEventId('123456789012345-123456789012345')).toEqual({
        ms: 123_456_789_012_345,
        seq: 123_456_789_012_345,
      });
    });
  });

  describe('comparePositions', () => {
    it('orders by ms first, then by sequence', () => {
      expect(comparePositions({ ms: 1, seq: 9 }, { ms: 2, seq: 0 })).toBeLessThan(0);
      expect(comparePositions({ ms: 2, seq: 0 }, { ms: 1, seq: 9 })).toBeGreaterThan(0);
      expect(comparePositions({ ms: 5, seq: 1 }, { ms: 5, seq: 2 })).toBeLessThan(0);
      expect(comparePositions({ ms: 5, seq: 3 }, { ms: 5, seq: 2 })).toBeGreaterThan(0);
      expect(comparePositions({ ms: 5, seq: 3 }, { ms: 5, seq: 3 })).toBe(0);
    });

    it('sorts a shuffled list into id order', () => {
      const ids = ['10-2', '2-5', '10-0', '2-10', '9-0', '10-10'];
      const sorted = ids
        .map((id) => parseEventId(id)!)
        .sort(comparePositions)
        .map(formatEventId);
      expect(sorted).toEqual(['2-5', '2-10', '9-0', '10-0', '10-2', '10-10']);
    });
  });

  describe('nextPosition', () => {
    it('increments the sequence within the same ms', () => {
      expect(nextPosition({ ms: 1000, seq: 0 }, 1000)).toEqual({ ms: 1000, seq: 1 });
      expect(nextPosition({ ms: 1000, seq: 41 }, 1000)).toEqual({ ms: 1000, seq: 42 });
    });

    it('moves to the later ms and resets the sequence', () => {
      expect(nextPosition({ ms: 1000, seq: 7 }, 1001)).toEqual({ ms: 1001, seq: 0 });
      expect(nextPosition({ ms: 1000, seq: 7 }, 5000)).toEqual({ ms: 5000, seq: 0 });
    });

    it('stays after the last position when the clock goes backwards', () => {
      const last = { ms: 5000, seq: 3 };
      const next = nextPosition(last, 4000);
      expect(next).toEqual({ ms: 5000, seq: 4 });
      expect(comparePositions(next, last)).toBeGreaterThan(0);
    });

    it('gives strictly increasing positions for any clock sequence', () => {
      const clock = [100, 100, 101, 99, 50, 101, 102, 102, 90, 200, 200, 150];
      let last: EventPosition = { ms: 100, seq: 0 };
      const seen: string[] = [];
      for (const now of clock) {
        const next = nextPosition(last, now);
        expect(comparePositions(next, last)).toBeGreaterThan(0);
        // The id never names a time before the clock reading that produced it.
        expect(next.ms).toBeGreaterThanOrEqual(now);
        seen.push(formatEventId(next));
        last = next;
      }
      expect(new Set(seen).size).toBe(clock.length);
    });
  });
});
