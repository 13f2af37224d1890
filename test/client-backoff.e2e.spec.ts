import { jest } from '@jest/globals';
import { SseClient } from '../src/client/index.js';
import { ClientProbe } from './harness/client-probe.js';
import { startDemoServer, TEST_ADAPTER } from './harness/demo-server.js';
import { signToken } from './harness/tokens.js';

/**
 * The client's backoff schedule, under fake timers: the server's `retry:` is
 * its base, each wait is a random share (full jitter) of a ceiling that doubles
 * up to a cap, and no request goes out before its wait is over. The server is
 * real: once it is gone, every attempt is really refused by the OS.
 */

jest.setTimeout(30_000);

/** Lets whatever a fired timer started run its course up to its request (setImmediate is not faked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe(`the client's backoff (${TEST_ADAPTER})`, () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it("waits random × min(30 s, retry × 2ⁿ) before the n-th attempt in a row, the server's retry: (3 s) its base", async () => {
    const server = await startDemoServer({ retryMs: 3000 });
    const userId = `backoff-${TEST_ADAPTER}`;
    const token = await signToken(userId);
    const probe = new ClientProbe((fetch) => new SseClient({ url: `${server.url}/sse`, userId, getToken: () => token, fetch }));
    probe.client.connect();
    await probe.opened();

    // From here the clock is the test's. Each wait's random share, and the wait it makes of the doubling ceiling.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const shares = [1, 0.5, 1, 0.25, 1, 1, 0];
    const expected = [3000, 3000, 12_000, 6000, 30_000, 30_000, 0];
    const random = jest.spyOn(Math, 'random');
    shares.forEach((share) => random.mockReturnValueOnce(share));

    // The server goes away: the stream ends, and every attempt after it is refused (ECONNREFUSED).
    await server.close();
    const waits: number[] = [];
    const waiting = () =>
      probe.states.flatMap((state) => (state.status === 'reconnecting' && state.retryAt ? [{ ...state, retryAt: state.retryAt }] : []));
    for (const [n, wait] of expected.entries()) {
      await probe.until(() => waiting().length > n, `wait #${n}`);
      const nth = waiting()[n];
      const sent = probe.requests.length;
      waits.push(nth.retryAt - nth.at);
      expect(nth).toMatchObject({ cause: n === 0 ? 'ended' : 'network' });
      // Not one millisecond early…
      if (wait > 0) {
        jest.advanceTimersByTime(wait - 1);
        await settle();
        expect(probe.requests).toHaveLength(sent);
      }
      // …and then at once.
      jest.advanceTimersByTime(1);
      await probe.until(() => probe.requests.length === sent + 1, `attempt #${n + 1}`);
    }
    expect(waits).toEqual(expected);
    expect(random).toHaveBeenCalledTimes(shares.length);
    probe.client.close();
  });
});
