import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';

/** Listen backlog of every bench server, so that connection bursts queue alike on all three. */
export const LISTEN_BACKLOG = 4096;

/**
 * `app.listen(port, host)` with the same backlog as the raw server: Express's
 * adapter hands extra arguments on to `net.Server#listen`, Fastify's takes one
 * options object. Resolves to the port.
 */
export async function listenNest(app: INestApplication, port = 0): Promise<number> {
  const listen = app.listen.bind(app) as unknown as (...args: unknown[]) => Promise<unknown>;
  if (app.getHttpAdapter().getType() === 'fastify') await listen({ port, host: '127.0.0.1', backlog: LISTEN_BACKLOG });
  else await listen(port, '127.0.0.1', LISTEN_BACKLOG);
  return (app.getHttpServer().address() as AddressInfo).port;
}

/** A Nest logger that keeps warnings and errors on stderr and drops the rest. */
export const quietLogger = {
  log: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
  warn: (message: unknown, ...rest: unknown[]) => console.warn(`[warn] ${String(message)}`, ...rest),
  error: (message: unknown, ...rest: unknown[]) => console.error(`[error] ${String(message)}`, ...rest),
  fatal: (message: unknown, ...rest: unknown[]) => console.error(`[fatal] ${String(message)}`, ...rest),
};
