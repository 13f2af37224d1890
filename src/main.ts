import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createDemoApp } from './demo/demo.app.js';
import { loadDemoConfig } from './demo/demo.config.js';
import { SseSetupError } from './sse/index.js';

const logger = new Logger('DemoApp');

try {
  const config = loadDemoConfig(process.env, (message) => logger.warn(message));
  const app = await createDemoApp(config);
  // SIGTERM ends every stream cleanly, so clients reconnect elsewhere and resume.
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  logger.log(`Listening on http://localhost:${port} (GET /sse, POST /notifications)`);
} catch (err) {
  // The module's setup errors (Redis unreachable, ...) happen while Nest builds the app, and Nest's
  // ExceptionHandler has told them in one line already: once is enough.
  if (!(err instanceof SseSetupError)) logger.error((err as Error).message);
  process.exit(1);
}
