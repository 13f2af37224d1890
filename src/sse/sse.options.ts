import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { JwtOptions } from './auth/jwt-token.verifier.js';
import type { Principal } from './auth/principal.js';
import type { SseRedisOptions } from './redis/redis-backplane.js';
import type { SsePrometheusOptions } from './observability/sse-metrics.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { type ResolvedInboxOptions, resolveInboxOptions, type SseInboxOptions } from './inbox/inbox.options.js';

export interface SseAuthOptions {
  /** How the default verifier checks JWTs. Not needed when `verifier` is given. */
  jwt?: JwtOptions;
  /** Your own verifier, in place of the JWT one. */
  verifier?: TokenVerifier;
  /**
   * Reuse the authentication the application already has (a passport guard, an
   * API gateway's header): the principal is read from the request that your own
   * guard, which runs first, has authenticated. No token is read then; a request
   * for which this gives nothing is answered 401.
   */
  fromRequest?: (request: any) => Principal | undefined;
  /**
   * Also read the token from this cookie (for native `EventSource` with `withCredentials`), on GET and HEAD
   * requests only, so that a cross-site form cannot use it to change anything. Off by default.
   */
  cookie?: string;
  /** Also read the token from the `access_token` query parameter. Off by default: URLs end up in logs. */
  queryParameter?: boolean;
  /** The realm named in `WWW-Authenticate` (default `sse`). */
  realm?: string;
  /**
   * How long a revocation (`closeUser(userId, { revokeTokens: true })`) is kept, in seconds (default 86,400:
   * one day). Set it to at least the longest lifetime (`exp` − `iat`) of the tokens you accept: after it, a
   * token issued before the revocation would be accepted again if it were still valid.
   */
  revocationTtlSeconds?: number;
}

export interface SseHistoryOptions {
  /** Events kept per user, per topic and for broadcasts (default 1000). */
  maxEvents?: number;
  /** How long an event is kept, in ms (default one hour). */
  ttlMs?: number;
}

export interface SseJobOptions {
  /**
   * How long a job whose every reader went away keeps running, waiting for one to resume it, in ms
   * (default 15,000); then it is cancelled. 0 cancels it as soon as its last reader goes.
   */
  detachedGraceMs?: number;
}

export interface SseModuleOptions {
  auth: SseAuthOptions;
  /** Streams one user may hold at once (default 5). */
  maxConnectionsPerUser?: number;
  /** Streams this instance holds at once (default 10,000). */
  maxConnections?: number;
  /** `Retry-After` of a 429, in seconds (default 10). */
  retryAfterSeconds?: number;
  /** `retry:` sent as the first write of every stream: the client's reconnection delay in ms (default 3000). */
  retryMs?: number;
  /** A comment is written to a stream that has been idle this long, in ms (default 15000). */
  heartbeatMs?: number;
  /** Bounds of the replay history. */
  history?: SseHistoryOptions;
  /** Topics one stream may ask for (default 20). */
  maxTopicsPerStream?: number;
  /** Bytes that may wait for a client that is not reading before its stream is dropped (default 1 MiB). */
  maxPendingBytes?: number;
  /** Largest `data:` of one event, in characters of JSON (default 64 KiB). */
  maxEventDataLength?: number;
  /** Deepest nesting of objects and arrays in one event's data (default 64); deeper is refused with 400. */
  maxEventDataDepth?: number;
  /**
   * Whether a principal may read a topic (default: every authenticated principal may). It may answer with a
   * promise (a database lookup): the stream begins once every topic is decided.
   */
  canReadTopic?: (principal: Principal, topic: string) => boolean | Promise<boolean>;
  /** How long an asynchronous `canReadTopic` may take, in ms (default 5000); past it the request gets 503. */
  canReadTopicTimeoutMs?: number;
  /** Resumable POST streams (`JobService`). */
  jobs?: SseJobOptions;
  /** Run over Redis (fan-out, history, cluster-wide limits); in memory without it. */
  redis?: SseRedisOptions;
  /** This instance's name in stats (default `<hostname>-<pid>-<random>`). */
  instanceId?: string;
  /** Prometheus metrics through prom-client (an optional peer dependency); off by default. */
  metrics?: boolean | SsePrometheusOptions;
  /** The durable inbox: where it is kept, its retention, which topics reach whose inbox. */
  inbox?: SseInboxOptions;
}

/** The options with every default filled in, as the module's parts read them. */
export interface ResolvedSseOptions {
  readonly auth: SseAuthOptions;
  readonly maxConnectionsPerUser: number;
  readonly maxConnections: number;
  readonly retryAfterSeconds: number;
  readonly retryMs: number;
  readonly heartbeatMs: number;
  readonly history: Required<SseHistoryOptions>;
  readonly maxTopicsPerStream: number;
  readonly maxEventDataLength: number;
  readonly maxEventDataDepth: number;
  readonly maxPendingBytes: number;
  readonly canReadTopic: (principal: Principal, topic: string) => boolean | Promise<boolean>;
  readonly canReadTopicTimeoutMs: number;
  readonly revocationTtlMs: number;
  readonly jobs: Required<SseJobOptions>;
  readonly redis?: SseRedisOptions;
  readonly instanceId: string;
  readonly metrics?: boolean | SsePrometheusOptions;
  readonly inbox: ResolvedInboxOptions;
}

export function resolveOptions(options: SseModuleOptions): ResolvedSseOptions {
  const resolved: ResolvedSseOptions = {
    auth: options.auth,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? 5,
    maxConnections: options.maxConnections ?? 10_000,
    retryAfterSeconds: options.retryAfterSeconds ?? 10,
    retryMs: options.retryMs ?? 3000,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    history: {
      maxEvents: options.history?.maxEvents ?? 1000,
      ttlMs: options.history?.ttlMs ?? 3_600_000,
    },
    maxTopicsPerStream: options.maxTopicsPerStream ?? 20,
    maxEventDataLength: options.maxEventDataLength ?? 64 * 1024,
    maxEventDataDepth: options.maxEventDataDepth ?? 64,
    maxPendingBytes: options.maxPendingBytes ?? 1024 * 1024,
    canReadTopic: options.canReadTopic ?? (() => true),
    canReadTopicTimeoutMs: options.canReadTopicTimeoutMs ?? 5000,
    revocationTtlMs: (options.auth?.revocationTtlSeconds ?? 86_400) * 1000,
    jobs: { detachedGraceMs: options.jobs?.detachedGraceMs ?? 15_000 },
    redis: options.redis,
    metrics: options.metrics,
    inbox: resolveInboxOptions(options.inbox),
    instanceId: options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  };
  for (const name of [
    'maxConnectionsPerUser',
    'maxConnections',
    'retryAfterSeconds',
    'retryMs',
    'heartbeatMs',
    'maxTopicsPerStream',
    'maxEventDataLength',
    'maxEventDataDepth',
    'maxPendingBytes',
    'canReadTopicTimeoutMs',
  ] as const) {
    assertPositiveInteger(name, resolved[name]);
  }
  assertPositiveInteger('history.maxEvents', resolved.history.maxEvents);
  assertPositiveInteger('history.ttlMs', resolved.history.ttlMs);
  assertPositiveInteger('inbox.maxItems', resolved.inbox.maxItems);
  assertPositiveInteger('inbox.maxAgeMs', resolved.inbox.maxAgeMs);
  assertPositiveInteger('auth.revocationTtlSeconds', resolved.revocationTtlMs / 1000);
  if (!Number.isSafeInteger(resolved.jobs.detachedGraceMs) || resolved.jobs.detachedGraceMs < 0) {
    throw new Error(`SseModule options: jobs.detachedGraceMs must be a whole number, 0 or more, got ${resolved.jobs.detachedGraceMs}`);
  }
  if (options.redis?.leaseTtlMs !== undefined) assertPositiveInteger('redis.leaseTtlMs', options.redis.leaseTtlMs);
  const ways = ['jwt', 'verifier', 'fromRequest'].filter((way) => options.auth?.[way as keyof SseAuthOptions]);
  if (ways.length !== 1) {
    throw new Error('SseModule options: give exactly one of auth.jwt, auth.verifier and auth.fromRequest');
  }
  return resolved;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`SseModule options: ${name} must be a positive integer, got ${value}`);
  }
}
