import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisKeys } from './redis-keys.js';
import { SseSetupError } from '../sse-setup.error.js';

export interface SseRedisOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** An existing ioredis client, in place of `url`; the module does not close it. */
  client?: Redis;
  /** Prefix of every key and of nothing else (default `sse:`), so that several apps can share a Redis. */
  keyPrefix?: string;
  /** How long a connection slot outlives an instance that died without releasing it, in ms (default 30000). */
  leaseTtlMs?: number;
  /** At startup, wait for an unreachable Redis instead of failing with a clear error (default false). */
  waitForConnection?: boolean;
  /** Entries kept in the log that instances tail (default 10,000): how far an instance may fall behind. */
  logMaxLength?: number;
}

/** A Lua script run by ioredis (by its SHA, sent in full only when Redis does not know it yet). */
export type RedisScript = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * The Redis connection shared by the broker, the history store and the
 * limiter, with their key names. Blocking reads get connections of their own.
 */
export class RedisBackplane implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisBackplane.name);
  private readonly readers = new Set<Redis>();

  private constructor(
    readonly client: Redis,
    readonly keys: RedisKeys,
    readonly options: Required<Omit<SseRedisOptions, 'client' | 'url'>>,
    private readonly ownsClient: boolean,
  ) {}

  /** Connects, or fails with an error that names the server (never its password). */
  static async connect(options: SseRedisOptions): Promise<RedisBackplane> {
    const logger = new Logger(RedisBackplane.name);
    const url = options.url ?? 'redis://127.0.0.1:6379';
    const client = options.client ?? new Redis(url, clientOptions());
    const backplane = new RedisBackplane(
      client,
      new RedisKeys(options.keyPrefix ?? 'sse:'),
      {
        keyPrefix: options.keyPrefix ?? 'sse:',
        leaseTtlMs: options.leaseTtlMs ?? 30_000,
        waitForConnection: options.waitForConnection ?? false,
        logMaxLength: options.logMaxLength ?? 10_000,
      },
      !options.client,
    );
    const where = options.client ? 'the given client' : redactedUrl(url);
    // ioredis reports why it cannot connect on 'error'; its promises only say "closed".
    let lastError = 'no answer';
    const noteError = (err: Error) => (lastError = err.message);
    client.on('error', noteError);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          if (client.status === 'wait') await client.connect();
          await client.ping();
          logger.log(`Connected to Redis at ${where}, key prefix "${backplane.keys.prefix}"`);
          if (backplane.ownsClient) backplane.reportOutages(where);
          return backplane;
        } catch {
          if (!backplane.options.waitForConnection) {
            if (backplane.ownsClient) client.disconnect();
            throw new RedisUnavailableError(`Redis at ${where} is unreachable (${lastError}); start it, or set waitForConnection to wait for it`);
          }
          if (attempt === 1 || attempt % 20 === 0) logger.warn(`Waiting for Redis at ${where} (${lastError})`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    } finally {
      client.off('error', noteError);
    }
  }

  /** One warning when the connection is lost, one note when it is back: not a line per retry. */
  private reportOutages(where: string): void {
    let down = false;
    this.client.on('error', (err: Error) => {
      if (down || this.client.status === 'wait') return;
      down = true;
      this.logger.warn(`Lost Redis at ${where} (${err.message}); reconnecting`);
    });
    this.client.on('ready', () => {
      if (down) this.logger.log(`Reconnected to Redis at ${where}`);
      down = false;
    });
  }

  /**
   * The first id of this data set, set now if Redis has none (a new prefix, or
   * a Redis that lost its data): a cursor from before it gets `restarted`.
   */
  async origin(): Promise<string> {
    const { client, keys } = this;
    const [[, time]] = (await client.multi().time().exec()) as [[null, [string, string]]];
    await client.set(keys.origin, `${Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000)}-0`, 'NX');
    return (await client.get(keys.origin))!;
  }

  /** Registers a Lua script on the command connection. */
  script(name: string, lua: string): RedisScript {
    this.client.defineCommand(name, { lua });
    const command = (this.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name].bind(
      this.client,
    );
    return (keys, args) => command(keys.length, ...keys, ...args);
  }

  /** A connection of its own, for blocking reads, which wait for Redis rather than fail while it is away. */
  createReader(): Redis {
    const reader = this.client.duplicate({ ...clientOptions(), enableOfflineQueue: true, maxRetriesPerRequest: null });
    reader.on('error', () => undefined); // reported by the reader's own loop
    this.readers.add(reader);
    return reader;
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    // A reader its owner already closed: disconnecting it again leaves a 2 s ioredis timer behind.
    for (const reader of this.readers) if (reader.status !== 'end') reader.disconnect();
    this.readers.clear();
    if (this.ownsClient) await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** Redis does not answer at startup: an operator's problem, told in one line (see `SseSetupError`). */
export class RedisUnavailableError extends SseSetupError {}

function clientOptions(): RedisOptions {
  return {
    lazyConnect: true,
    // Commands fail at once while Redis is away, instead of hanging a request.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
}

function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}
