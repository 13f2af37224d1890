import { type INestApplication, type LoggerService, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { sseCorsOptions } from '../sse/index.js';
import { AppModule } from './app.module.js';
import type { DemoConfig } from './demo.config.js';

/** Largest request body the demo accepts; a larger one is answered with 413. */
export const MAX_BODY = '64kb';

/** Builds the demo app, ready to `listen()`. */
export async function createDemoApp(
  config: DemoConfig,
  logger?: LoggerService | false,
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), {
    logger: logger ?? undefined,
    bodyParser: false,
    // A startup failure (e.g. Redis unreachable) is thrown to the caller, not turned into a crash.
    abortOnError: false,
  });
  app.useBodyParser('json', { limit: MAX_BODY });
  if (config.corsOrigins.length > 0) app.enableCors(sseCorsOptions(config.corsOrigins));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  return app;
}
