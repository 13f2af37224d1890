import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_ADAPTER } from './demo-server.js';

export interface RunningApp {
  readonly app: INestApplication;
  /** Base URL on an ephemeral loopback port, without a trailing slash. */
  readonly url: string;
}

/** A small Nest app of a suite's own, on the HTTP platform of the Jest project, on an ephemeral port. */
export async function listenTestApp(module: new () => unknown): Promise<RunningApp> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const options = { logger: false as const, forceCloseConnections: true };
  const app =
    TEST_ADAPTER === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), options)
      : moduleRef.createNestApplication(options);
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}
