import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createDemoApp } from '../../src/demo/demo.app.js';
import type { DemoConfig } from '../../src/demo/demo.config.js';
import type { SseStats } from '../../src/sse/index.js';
import { publish, publishId, stats } from './admin-api.js';
import { signToken, TEST_JWT_SECRET } from './tokens.js';

export interface DemoServer {
  readonly app: INestApplication;
  /** Base URL on an ephemeral loopback port, without a trailing slash. */
  readonly url: string;
  /** A token for the admin user `admin`. */
  readonly adminToken: string;
  /** POST /notifications as admin; resolves to the response. */
  publish(body: Record<string, unknown>): Promise<Response>;
  /** POST /notifications as admin; resolves to the event id of its 202 (any other answer throws). */
  publishId(body: Record<string, unknown>): Promise<string>;
  /** GET /sse/stats as admin (any other status than 200 throws). */
  stats(): Promise<SseStats>;
  /** Closes the app; open connections are ended with it (`forceCloseConnections`). */
  close(): Promise<void>;
}

/** The HTTP platform under test: every e2e suite runs once per adapter (see jest.config.js). */
export const TEST_ADAPTER: DemoConfig['adapter'] = process.env.TEST_HTTP_ADAPTER === 'fastify' ? 'fastify' : 'express';

export const TEST_CONFIG: DemoConfig = {
  port: 0,
  host: '127.0.0.1',
  adapter: TEST_ADAPTER,
  jwtSecret: TEST_JWT_SECRET,
  maxConnectionsPerUser: 5,
  maxConnections: 10_000,
  heartbeatMs: 15_000,
  // Shorter than the default 3 s, so that the clients under test reconnect sooner; suites that time a backoff set it.
  retryMs: 500,
  retryAfterSeconds: 10,
  maxPendingBytes: 1024 * 1024,
  corsOrigins: [],
  historySize: 1000,
  historyTtlMs: 3_600_000,
  redisKeyPrefix: 'sse:',
  redisLeaseTtlMs: 30_000,
  redisWait: false,
  databaseSchema: 'public',
  inboxTopics: ['news'],
  demoTokens: false,
  chatTokenDelayMs: 20,
  chatDetachedGraceMs: 2_000,
};

/** The demo app, in this process, listening on a real HTTP server. */
export async function startDemoServer(overrides: Partial<DemoConfig> = {}): Promise<DemoServer> {
  const app = await createDemoApp({ ...TEST_CONFIG, ...overrides }, false);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const adminToken = await signToken('admin', { roles: ['admin'] });
  return {
    app,
    url,
    adminToken,
    publish: (body) => publish(url, adminToken, body),
    publishId: (body) => publishId(url, adminToken, body),
    stats: () => stats(url, adminToken),
    close: () => app.close(),
  };
}
