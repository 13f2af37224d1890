// Our module: the compiled demo app (dist/), started as `npm start` would,
// plus the bench's IPC handler. Settings come from the environment like the demo's.
import 'reflect-metadata';
import { createDemoApp } from '../../dist/demo/demo.app.js';
import { loadDemoConfig } from '../../dist/demo/demo.config.js';
import { ConnectionLimiter, HistoryStore, NotificationService, SSE_OPTIONS, type ResolvedSseOptions } from '../../dist/sse/index.js';
import { listenNest, quietLogger } from '../lib/listen.js';
import { clock } from '../lib/protocol.js';
import { announceReady, collectionSizes, serveServerIpc } from './server-ipc.js';

const config = loadDemoConfig(process.env, (message) => console.warn(`[warn] ${message}`));
const app = await createDemoApp(config, quietLogger);
app.enableShutdownHooks();

const notifications: NotificationService = app.get(NotificationService);
const limiter = app.get(ConnectionLimiter);
const history = app.get(HistoryStore);
const options = app.get<ResolvedSseOptions>(SSE_OPTIONS);

/** publishToUser to each user in turn, each call awaited: the process's CPU and the time over the loop. */
async function publishInProcess(request: { phase: number; eventType: string; userIds: string[] }) {
  const { phase, eventType, userIds } = request;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let k = 0; k < userIds.length; k++) {
    await notifications.publishToUser(userIds[k], eventType, { p: phase, t: clock(), k, u: userIds[k] });
  }
  return { cpu: process.cpuUsage(cpu), ms: performance.now() - started };
}

// This instance's own counts (no Redis round trip: over Redis, the cluster's are GET /sse/stats).
serveServerIpc(() => {
  const counts: Record<string, number> = { ...notifications.local() };
  const registry = (notifications as unknown as { registry?: unknown }).registry;
  collectionSizes('registry', registry, counts);
  collectionSizes('limiter', limiter, counts);
  collectionSizes('history', history, counts);
  return counts;
}, { publishInProcess: (request) => publishInProcess(request as unknown as Parameters<typeof publishInProcess>[0]) });

const port = await listenNest(app, config.port);
announceReady(port, {
  maxConnections: options.maxConnections,
  heartbeatMs: options.heartbeatMs,
  redis: Boolean(config.redisUrl),
  instanceId: options.instanceId,
});
