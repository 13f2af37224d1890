import { jest } from '@jest/globals';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  afterEach(() => jest.restoreAllMocks());

  it('draws each wait from [0, base × 2ⁿ] (full jitter), the ceiling doubling up to the cap', () => {
    jest.spyOn(Math, 'random').mockReturnValue(1);
    const backoff = new Backoff({ baseMs: 100, maxMs: 1000 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('takes a random share of the ceiling', () => {
    const random = jest.spyOn(Math, 'random');
    [0, 0.5, 0.25].forEach((share) => random.mockReturnValueOnce(share));
    const backoff = new Backoff({ baseMs: 1000 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([0, 1000, 1000]);
  });

  it('never waits less than a floor (Retry-After), whatever the draw', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    expect(new Backoff().next(10_000)).toBe(10_000);
  });

  it('starts again from the base after reset() (a stream opened), and takes a new base (the server retry:)', () => {
    jest.spyOn(Math, 'random').mockReturnValue(1);
    const backoff = new Backoff({ baseMs: 100 });
    backoff.next();
    backoff.next();
    backoff.reset();
    backoff.baseMs = 3000;
    expect(backoff.next()).toBe(3000);
  });

  it('lets a base above the cap be the cap (a server asking for a long retry: is heard)', () => {
    jest.spyOn(Math, 'random').mockReturnValue(1);
    const backoff = new Backoff({ baseMs: 60_000, maxMs: 30_000 });
    expect([backoff.next(), backoff.next()]).toEqual([60_000, 60_000]);
  });
});
