import type { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { JsonDepthPipe, sseCorsOptions } from '../sse/index.js';
import { AppModule } from './app.module.js';
import type { DemoConfig } from './demo.config.js';

/** Largest request body the demo accepts, in bytes; a larger one is answered with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Deepest nesting of objects and arrays in a request body the demo accepts; deeper is answered with 400. */
export const MAX_BODY_DEPTH = 64;

/** Builds the demo app on Express or Fastify, ready to `listen()`. */
export async function createDemoApp(config: DemoConfig, logger?: LoggerService | false): Promise<INestApplication> {
  const options = {
    logger: logger ?? undefined,
    // A startup failure (e.g. Redis unreachable) is thrown to the caller, not turned into a crash.
    abortOnError: false,
    // Streams are ended before the server closes; idle keep-alive connections must not hold a restart up.
    forceCloseConnections: true,
  };
  const module = AppModule.register(config);
  let app: INestApplication;
  if (config.adapter === 'fastify') {
    app = await NestFactory.create<NestFastifyApplication>(
      module,
      new FastifyAdapter({ bodyLimit: MAX_BODY_BYTES }),
      options,
    );
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, { ...options, bodyParser: false });
    express.useBodyParser('json', { limit: MAX_BODY_BYTES });
    app = express;
  }
  if (config.corsOrigins.length > 0) app.enableCors(sseCorsOptions(config.corsOrigins));
  // Before any route's own validation walks a body: a deep one is refused with 400, not a stack overflow.
  app.useGlobalPipes(new JsonDepthPipe(MAX_BODY_DEPTH));
  // The REST contract, at /docs (and as JSON at /docs/openapi.json).
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('SSE notifications demo')
      .setDescription('Publish notifications, close streams and read stats. Streams themselves are GET /sse (text/event-stream).')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
