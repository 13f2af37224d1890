import { afterEach, jest } from '@jest/globals';
import { SlowClientReport } from './slow-client.report.js';

describe('SlowClientReport', () => {
  let now = 0;
  const lines: string[] = [];
  const report = () => new SlowClientReport({ warn: (message: string) => void lines.push(message) }, 10_000, () => now);

  beforeEach(() => {
    jest.useFakeTimers();
    now = 1_000_000;
    lines.length = 0;
  });
  afterEach(() => void jest.useRealTimers());

  it('tells a thousand drops of one interval in one line, with the count, at the end of the interval', () => {
    const drops = report();
    for (let i = 0; i < 1000; i++) drops.dropped(70_000 + i);
    expect(lines).toEqual([]);
    now += 10_000;
    jest.advanceTimersByTime(10_000);
    expect(lines).toEqual([
      'Dropped 1000 streams whose clients were not reading in the last 10 s (up to 70999 bytes were waiting for one); they may resume with Last-Event-ID',
    ]);
  });

  it('tells nothing for an interval without drops, and one line for each interval with some', () => {
    const drops = report();
    jest.advanceTimersByTime(60_000);
    expect(lines).toEqual([]);
    drops.dropped(2_000_000);
    now += 10_000;
    jest.advanceTimersByTime(10_000);
    jest.advanceTimersByTime(30_000);
    drops.dropped(1_500_000);
    drops.dropped(1_200_000);
    now += 10_000;
    jest.advanceTimersByTime(10_000);
    expect(lines).toEqual([
      'Dropped 1 stream whose client was not reading in the last 10 s (up to 2000000 bytes were waiting for one); they may resume with Last-Event-ID',
      'Dropped 2 streams whose clients were not reading in the last 10 s (up to 1500000 bytes were waiting for one); they may resume with Last-Event-ID',
    ]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('tells what is pending when flushed early (shutdown), and holds no timer after', () => {
    const drops = report();
    drops.dropped(1_100_000);
    now += 2_400;
    drops.flush();
    expect(lines).toEqual([
      'Dropped 1 stream whose client was not reading in the last 2 s (up to 1100000 bytes were waiting for one); they may resume with Last-Event-ID',
    ]);
    expect(jest.getTimerCount()).toBe(0);
    drops.flush();
    expect(lines).toHaveLength(1);
  });
});
