import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { closeOpened, track } from './harness/opened-streams.js';
import { RawStream } from './harness/raw-stream.js';
import { TestStream } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { sleep } from './harness/waiting.js';

const MAX = 2;

afterEach(closeOpened);

describe('connection limit per user', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer({ maxConnectionsPerUser: MAX })));
  afterAll(() => server.close());

  async function open(token: string, query?: string): Promise<TestStream> {
    return track(await TestStream.open(server.url, token, { query }));
  }

  /**
   * Opens a stream, trying again while it is refused with 429, for a bounded
   * time: a slot is freed once the server has seen its response close, which
   * it learns a moment after the client.
   */
  async function openOnceFreed(token: string, timeoutMs = 3000): Promise<TestStream> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await open(token);
      } catch (err) {
        if ((err as { code?: number }).code !== 429 || Date.now() > deadline) throw err;
        await sleep(25);
      }
    }
  }

  /** A GET /sse that must be refused: its status, headers and body once the response has ended. */
  async function refused(token: string, query = ''): Promise<RawStream> {
    const raw = track(await RawStream.open(`${server.url}/sse${query}`, { Authorization: `Bearer ${token}` }));
    await raw.until((_body, closed) => closed);
    return raw;
  }

  async function expectTooMany(token: string): Promise<void> {
    const raw = await refused(token);
    expect(raw.status).toBe(429);
    expect(raw.headers['retry-after']).toMatch(/^\d+$/);
    expect(Number(raw.headers['retry-after'])).toBeGreaterThan(0);
    expect(raw.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(raw.body) as { statusCode: number; message: string };
    expect(body.statusCode).toBe(429);
    expect(body.message).toContain('Too many connections');
    expect(raw.body).not.toContain('event:');
  }

  it(`refuses the stream past ${MAX} with 429, Retry-After and a JSON message, before any stream starts`, async () => {
    const token = await signToken('limit-basic');
    for (let i = 0; i < MAX; i++) await open(token);
    await expectTooMany(token);
    // The real client sees the 429 and does not retry.
    await expect(TestStream.open(server.url, token)).rejects.toMatchObject({ code: 429 });
  });

  it('frees a slot when the client closes a stream, and only that one', async () => {
    const token = await signToken('limit-client-close');
    const first = await open(token);
    await open(token);
    await expectTooMany(token);

    first.close();
    const replacement = await openOnceFreed(token);
    expect(replacement.ofType('sse.ready')).toHaveLength(1);
    await expectTooMany(token);
  });

  it('frees the slots of streams closed by DELETE /sse/connections', async () => {
    const token = await signToken('limit-server-close');
    const streams = [await open(token), await open(token)];
    await expectTooMany(token);

    const res = await fetch(`${server.url}/sse/connections`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ closed: MAX });
    for (const stream of streams) {
      await stream.waitForType('sse.close');
      // The server has ended the response (the EventSource would now reconnect); the client obeys sse.close.
      await stream.until(() => stream.errors.length > 0);
      stream.close();
    }

    for (let i = 0; i < MAX; i++) await openOnceFreed(token);
    await expectTooMany(token);
  });

  it("leaves other users unaffected by one user's limit", async () => {
    const full = await signToken('limit-full');
    for (let i = 0; i < MAX; i++) await open(full);
    await expectTooMany(full);

    const other = await signToken('limit-other');
    for (let i = 0; i < MAX; i++) await open(other);
    await expectTooMany(other);
    const admin = await open(server.adminToken);
    expect(admin.ofType('sse.ready')).toHaveLength(1);
  });

  it('frees the slot of a request refused after the limiter ran (403, 400)', async () => {
    const token = await signToken('limit-refused');
    for (let i = 0; i < MAX + 2; i++) {
      expect((await refused(token, '?topics=admin-ops')).status).toBe(403);
      expect((await refused(token, '?topics=bad%0Atopic')).status).toBe(400);
    }
    for (let i = 0; i < MAX; i++) await openOnceFreed(token);
    await expectTooMany(token);
  });

  it('frees the slot of a request refused after the limiter ran, while the user holds streams', async () => {
    const token = await signToken('limit-refused-busy');
    await open(token);
    // One slot left: each refused request takes it and must give it back.
    for (let i = 0; i < 3; i++) expect((await refused(token, '?topics=admin-ops')).status).toBe(403);
    await openOnceFreed(token);
    await expectTooMany(token);
  });

  it('counts no slot for an unauthenticated request', async () => {
    const token = await signToken('limit-unauth');
    for (let i = 0; i < MAX + 1; i++) {
      const raw = await refused(`${token}x`);
      expect(raw.status).toBe(401);
    }
    for (let i = 0; i < MAX; i++) await open(token);
  });
});
