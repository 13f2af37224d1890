// Our module: the compiled demo app (dist/), started as `npm start` would,
// plus the bench's IPC handler. Settings come from the environment like the demo's.
import 'reflect-metadata';
import { createDemoApp } from '../../dist/demo/demo.app.js';
import { loadDemoConfig } from '../../dist/demo/demo.config.js';
import { ConnectionLimiter, HistoryStore, NotificationService, SSE_OPTIONS, type ResolvedSseOptions } from '../../dist/sse/index.js';
import { listenNest, quietLogger } from '../lib/listen.js';
import { announceReady, collectionSizes, serveServerIpc } from './server-ipc.js';

const config = loadDemoConfig(process.env, (message) => console.warn(`[warn] ${message}`));
const app = await createDemoApp(config, quietLogger);
app.enableShutdownHooks();

const notifications = app.get(NotificationService);
const limiter = app.get(ConnectionLimiter);
const history = app.get(HistoryStore);
const options = app.get<ResolvedSseOptions>(SSE_OPTIONS);

serveServerIpc(async () => {
  const usage = await notifications.stats();
  const here = usage.instances.find((instance) => instance.id === options.instanceId);
  const counts: Record<string, number> = {
    streams: here?.streams ?? usage.streams,
    users: here?.users ?? usage.users,
    'cluster.streams': usage.streams,
    'cluster.users': usage.users,
    'cluster.instances': usage.instances.length,
  };
  const registry = (notifications as unknown as { registry?: unknown }).registry;
  collectionSizes('registry', registry, counts);
  collectionSizes('limiter', limiter, counts);
  collectionSizes('history', history, counts);
  return counts;
});

const port = await listenNest(app, config.port);
announceReady(port, {
  maxConnections: options.maxConnections,
  heartbeatMs: options.heartbeatMs,
  redis: Boolean(config.redisUrl),
  instanceId: options.instanceId,
});
