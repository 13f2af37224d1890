import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { RawStream } from './harness/raw-stream.js';
import { signToken } from './harness/tokens.js';

const FRONT = 'http://front.example';

function listOf(header: string | null): string[] {
  return (header ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
}

describe('CORS', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer({ corsOrigins: [FRONT] })));
  afterAll(() => server.close());

  function preflight(path: string, origin: string, method = 'GET'): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': method,
        'Access-Control-Request-Headers': 'authorization,last-event-id',
      },
    });
  }

  it.each([
    ['/sse', 'GET'],
    ['/notifications', 'POST'],
    ['/sse/connections', 'DELETE'],
  ])('answers a preflight for %s %s from the allowed origin with exactly that origin and credentials', async (path, method) => {
    const res = await preflight(path, FRONT, method);
    await res.arrayBuffer();
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe(FRONT);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const allowedHeaders = listOf(res.headers.get('access-control-allow-headers'));
    expect(allowedHeaders).toEqual(expect.arrayContaining(['authorization', 'last-event-id']));
    expect(listOf(res.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase());
    expect(listOf(res.headers.get('vary'))).toContain('origin');
  });

  it.each(['http://evil.example', 'http://front.example.evil.example', 'https://front.example', 'null'])(
    'gives the origin %s no Access-Control-Allow-Origin',
    async (origin) => {
      const res = await preflight('/sse', origin);
      await res.arrayBuffer();
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-credentials')).not.toBe('true');
    },
  );

  it('never answers *, to a preflight or to a request, with or without an Origin', async () => {
    const answers = [
      await preflight('/sse', FRONT),
      await preflight('/sse', 'http://evil.example'),
      await fetch(`${server.url}/sse/stats`, { headers: { Origin: FRONT } }),
      await fetch(`${server.url}/sse/stats`, { headers: { Origin: 'http://evil.example' } }),
      await fetch(`${server.url}/sse/stats`),
    ];
    for (const res of answers) {
      await res.arrayBuffer();
      expect(res.headers.get('access-control-allow-origin')).not.toBe('*');
    }
  });

  it('lets the allowed origin read the 401 challenge and a 429 Retry-After', async () => {
    const res = await fetch(`${server.url}/sse`, { headers: { Origin: FRONT } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(FRONT);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(listOf(res.headers.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining(['www-authenticate', 'retry-after']),
    );
  });

  it('sends the CORS headers on the stream itself', async () => {
    const raw = await RawStream.open(`${server.url}/sse`, {
      Origin: FRONT,
      Authorization: `Bearer ${await signToken('cors-user')}`,
    });
    try {
      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(raw.headers['access-control-allow-origin']).toBe(FRONT);
      expect(raw.headers['access-control-allow-credentials']).toBe('true');
      await raw.until((body) => body.includes('event: sse.ready'));
    } finally {
      raw.close();
    }
  });
});

describe('CORS off (no origins configured)', () => {
  let server: DemoServer;
  beforeAll(async () => (server = await startDemoServer()));
  afterAll(() => server.close());

  it('gives no Access-Control-Allow-Origin to anyone', async () => {
    const res = await fetch(`${server.url}/sse`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://front.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
