import type { RedisNode } from '../sse/index.js';

export type HttpAdapterName = 'express' | 'fastify';

/** The demo app's settings, read from the environment. */
export interface DemoConfig {
  port: number;
  /** The interface to listen on: every IPv4 one by default, as Express would (Fastify alone would take only localhost). */
  host: string;
  /** The HTTP platform Nest runs on. */
  adapter: HttpAdapterName;
  jwtSecret: string;
  maxConnectionsPerUser: number;
  /** Streams this instance holds at once. */
  maxConnections: number;
  heartbeatMs: number;
  /** `retry:`: how long a client waits before it reconnects after a stream ends (ms). */
  retryMs: number;
  /** `Retry-After` of a 429 or 503, in seconds. */
  retryAfterSeconds: number;
  /** Bytes that may wait for a client that does not read before its stream is dropped. */
  maxPendingBytes: number;
  corsOrigins: string[];
  historySize: number;
  historyTtlMs: number;
  /** Run over Redis when set (fan-out, history and limits shared by every instance): a standalone Redis, */
  redisUrl?: string;
  /** or a Redis Cluster (some of its nodes), */
  redisClusterNodes?: RedisNode[];
  /** or the master named `redisSentinelName` that these Sentinels watch. */
  redisSentinels?: RedisNode[];
  redisSentinelName?: string;
  redisKeyPrefix: string;
  /** How soon the slots of an instance that died are freed (ms). */
  redisLeaseTtlMs: number;
  /** Wait for Redis at startup instead of failing. */
  redisWait: boolean;
  /** Keep inboxes in PostgreSQL when set (a `postgres://` URL); else in Redis when `redisUrl` is set, else in memory. */
  databaseUrl?: string;
  /** The schema of the inbox's tables in PostgreSQL. */
  databaseSchema: string;
  /** Topics whose inbox items every user's inbox holds. */
  inboxTopics: string[];
  /** Serve `POST /demo/token`, which signs a short-lived token for any user name: never in production. */
  demoTokens: boolean;
  /** Delay between the words of the canned chat model (ms). */
  chatTokenDelayMs: number;
  /** How long an answer with no reader keeps being written, waiting for a resume (ms). */
  chatDetachedGraceMs: number;
}

export const DEVELOPMENT_JWT_SECRET = 'development-secret-do-not-use-in-production';

/** The cookie that carries the token for a native `EventSource` (read on GET streams only). */
export const TOKEN_COOKIE = 'sse_token';

/**
 * Reads the settings; throws with a message fit for an operator when one is
 * wrong. `warn` hears about risky defaults.
 */
export function loadDemoConfig(env: NodeJS.ProcessEnv, warn: (message: string) => void): DemoConfig {
  let jwtSecret = env.JWT_SECRET;
  if (!jwtSecret) {
    if (env.NODE_ENV === 'production') {
      throw new Error('JWT_SECRET must be set when NODE_ENV=production');
    }
    warn('JWT_SECRET is not set: using a development secret. Never do this in production.');
    jwtSecret = DEVELOPMENT_JWT_SECRET;
  }
  const adapter = env.HTTP_ADAPTER || 'fastify';
  if (adapter !== 'express' && adapter !== 'fastify') {
    throw new Error(`HTTP_ADAPTER must be express or fastify, got "${adapter}"`);
  }
  return {
    port: integer(env, 'PORT', 3000, 0),
    host: env.HOST || '0.0.0.0',
    adapter,
    jwtSecret,
    maxConnectionsPerUser: integer(env, 'SSE_MAX_CONNECTIONS_PER_USER', 5),
    maxConnections: integer(env, 'SSE_MAX_CONNECTIONS', 10_000),
    heartbeatMs: integer(env, 'SSE_HEARTBEAT_MS', 15_000),
    retryMs: integer(env, 'SSE_RETRY_MS', 3000),
    retryAfterSeconds: integer(env, 'SSE_RETRY_AFTER_SECONDS', 10),
    maxPendingBytes: integer(env, 'SSE_MAX_PENDING_BYTES', 1024 * 1024),
    corsOrigins: (env.CORS_ORIGINS ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    historySize: integer(env, 'SSE_HISTORY_SIZE', 1000),
    historyTtlMs: integer(env, 'SSE_HISTORY_TTL_MS', 3_600_000),
    redisUrl: env.REDIS_URL || undefined,
    redisClusterNodes: nodes(env, 'REDIS_CLUSTER_NODES'),
    redisSentinels: nodes(env, 'REDIS_SENTINELS'),
    redisSentinelName: env.REDIS_SENTINEL_NAME || undefined,
    redisKeyPrefix: env.SSE_REDIS_PREFIX || 'sse:',
    redisLeaseTtlMs: integer(env, 'SSE_REDIS_LEASE_TTL_MS', 30_000),
    redisWait: env.SSE_REDIS_WAIT === 'true',
    databaseUrl: databaseUrl(env.DATABASE_URL),
    databaseSchema: env.SSE_INBOX_SCHEMA || 'public',
    inboxTopics: (env.SSE_INBOX_TOPICS ?? 'news')
      .split(',')
      .map((topic) => topic.trim())
      .filter(Boolean),
    demoTokens: env.DEMO_TOKENS === undefined ? env.NODE_ENV !== 'production' : env.DEMO_TOKENS === 'true',
    chatTokenDelayMs: integer(env, 'CHAT_TOKEN_DELAY_MS', 80, 0),
    // 0: an answer whose client went away is cancelled at once (and cannot be resumed).
    chatDetachedGraceMs: integer(env, 'CHAT_DETACHED_GRACE_MS', 15_000, 0),
  };
}

/** `host:port,host:port`, or undefined when unset. */
function nodes(env: NodeJS.ProcessEnv, name: string): RedisNode[] | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  return raw.split(',').map((entry) => {
    const match = /^\s*([^\s:]+):(\d{1,5})\s*$/.exec(entry);
    if (!match) throw new Error(`${name} must be host:port pairs separated by commas, got "${raw}"`);
    return { host: match[1], port: Number(match[2]) };
  });
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}, got "${raw}"`);
  }
  return value;
}

function databaseUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new Error('DATABASE_URL must be a postgres:// URL');
  return raw;
}
