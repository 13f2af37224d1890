import { isTransient, refusalOf, retryAfterMs } from './refusal.js';

describe('a refusal', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('10', now)).toBe(10_000);
    expect(retryAfterMs(' 3 ', now)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBe(0);
  });

  it("takes the server's JSON message, or the status text when the body is not JSON", async () => {
    const json = new Response(JSON.stringify({ statusCode: 429, message: 'Too many connections', limit: 5 }), {
      status: 429,
      statusText: 'Too Many Requests',
      headers: { 'Retry-After': '7' },
    });
    expect(await refusalOf(json)).toEqual({ status: 429, message: 'Too many connections', retryAfterMs: 7000 });
    const validation = new Response(JSON.stringify({ message: ['a', 'b'] }), { status: 400 });
    expect((await refusalOf(validation)).message).toBe('a; b');
    const html = new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' });
    expect(await refusalOf(html)).toEqual({ status: 502, message: 'Bad Gateway', retryAfterMs: 0 });
  });

  it('is worth asking again after 408, 429 and 5xx only', () => {
    expect([400, 401, 403, 404, 408, 429, 500, 503].filter(isTransient)).toEqual([408, 429, 500, 503]);
  });
});
