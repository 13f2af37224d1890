import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface.js';

/**
 * CORS for front-ends served from other origins: exactly the listed origins,
 * with credentials (for the cookie of a native `EventSource`), the headers an
 * SSE client sends, and never `*`, which browsers refuse with credentials anyway.
 */
export function sseCorsOptions(origins: readonly string[]): CorsOptions {
  for (const origin of origins) {
    if (origin === '*' || !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new Error(`CORS origin "${origin}" is not an exact origin such as https://app.example.com`);
    }
  }
  const allowed = new Set(origins);
  return {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    allowedHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'Cache-Control'],
    exposedHeaders: ['Retry-After', 'WWW-Authenticate'],
    methods: ['GET', 'POST', 'DELETE'],
    maxAge: 600,
  };
}
