import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * The servers the suites share, as the test workers see them. Jest's
 * globalSetup (test/environment/services.js) sets REDIS_URL and DATABASE_URL
 * in its own process, to the servers that answer there or to private ones it
 * started, before the workers start; here, in a worker, both must be set and
 * answer. No fallback to the defaults: an unset variable fails.
 */

describe('the shared services', () => {
  test('REDIS_URL is set, and a Redis answers PING there', async () => {
    const url = process.env.REDIS_URL;
    expect(url).toMatch(/^rediss?:\/\//);
    const redis = new Redis(url!, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  test('DATABASE_URL is set, and a PostgreSQL answers select 1 there', async () => {
    const url = process.env.DATABASE_URL;
    expect(url).toMatch(/^postgres(ql)?:\/\//);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ answer: number }>('select 1 as answer');
      expect(rows).toEqual([{ answer: 1 }]);
    } finally {
      await client.end();
    }
  });
});
