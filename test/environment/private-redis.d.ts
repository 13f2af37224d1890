// Types of private-redis.js, which runs before anything is compiled (pretest, globalSetup), for the TypeScript harness.
export declare const DEFAULT_REDIS_URL: string;
/** Whether a Redis answers PING at `url`: one try, no retries. */
export declare function redisAnswers(url: string): Promise<boolean>;
/** Disconnects `client` unless its connection is already gone (which would leave ioredis's 2 s disconnect timer). */
export declare function closeClient(client: import('ioredis').Redis): void;
export declare class PrivateRedis {
  constructor(port: number);
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): void;
}
