import { isAfter } from './event-id.js';

describe('isAfter', () => {
  it('orders ids as positions (milliseconds, then sequence), not as text', () => {
    expect(isAfter('10-0', '9-0')).toBe(true);
    expect(isAfter('9-10', '9-9')).toBe(true);
    expect(isAfter('9-9', '9-10')).toBe(false);
    expect(isAfter('1796227562974-0', '1796227562974-0')).toBe(false);
  });

  it('takes every id as new when there is none yet, and ids of another form too (they cannot be ordered)', () => {
    expect(isAfter('1-0', undefined)).toBe(true);
    expect(isAfter('abc', '5-0')).toBe(true);
    expect(isAfter('5-0', 'abc')).toBe(true);
  });
});
