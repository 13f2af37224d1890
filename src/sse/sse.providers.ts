import type { Provider } from '@nestjs/common';
import { Broker } from './broker.js';
import { ConnectionLimiter } from './connection-limiter.js';
import { HistoryStore } from './history.store.js';
import { InMemoryConnectionLimiter } from './in-memory-connection.limiter.js';
import { InMemoryHistoryStore } from './in-memory-history.store.js';
import { JwtTokenVerifier } from './jwt-token.verifier.js';
import { LocalBroker } from './local.broker.js';
import { SSE_MODULE_OPTIONS } from './sse.module-definition.js';
import { SSE_OPTIONS } from './sse.constants.js';
import { resolveOptions, type ResolvedSseOptions, type SseModuleOptions } from './sse.options.js';
import { TokenVerifier } from './token-verifier.js';

/** The seams, each built from the options: the embedded implementations unless told otherwise. */
export const sseProviders: Provider[] = [
  {
    provide: SSE_OPTIONS,
    useFactory: (options: SseModuleOptions) => resolveOptions(options),
    inject: [SSE_MODULE_OPTIONS],
  },
  {
    provide: TokenVerifier,
    useFactory: ({ auth }: ResolvedSseOptions) => auth.verifier ?? new JwtTokenVerifier(auth.jwt!),
    inject: [SSE_OPTIONS],
  },
  {
    provide: ConnectionLimiter,
    useFactory: (options: ResolvedSseOptions) =>
      new InMemoryConnectionLimiter(options.maxConnectionsPerUser, options.maxConnections),
    inject: [SSE_OPTIONS],
  },
  {
    provide: HistoryStore,
    useFactory: (options: ResolvedSseOptions) => new InMemoryHistoryStore(options.history),
    inject: [SSE_OPTIONS],
  },
  { provide: Broker, useClass: LocalBroker },
];
