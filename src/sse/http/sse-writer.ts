import { Inject, Injectable, Logger, type MessageEvent, type OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { NotificationStream } from '../streams/notification-stream.js';
import { type AdapterResponse, nodeResponseOf, ResponseSink, type SinkServices } from './response-sink.js';
import { SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { SseMetrics } from '../observability/sse-metrics.js';
import { SlowClientReport } from './slow-client.report.js';
import { hearingAdmissions } from '../streams/stream-admission.js';

/**
 * Writes the messages of an SSE route to its response. A message sent to many
 * streams is written as the same encoded bytes to each, with no per-connection
 * formatting or queue; a `NotificationStream` returned as it is writes here
 * directly, with no operator in between.
 */
@Injectable()
export class SseWriter implements OnApplicationShutdown {
  private readonly services: SinkServices;

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    metrics: SseMetrics,
  ) {
    const logger = new Logger(SseWriter.name);
    this.services = { logger, metrics, slowClients: new SlowClientReport(logger), retryAfterSeconds: options.retryAfterSeconds };
  }

  /** Drops not told yet are told now. */
  onApplicationShutdown(): void {
    this.services.slowClients.flush();
  }

  serve(messages: Observable<MessageEvent>, response: AdapterResponse, maxPendingBytes?: number): void {
    const raw = nodeResponseOf(response);
    if (!ResponseSink.canServe(raw)) return;
    // A Fastify reply is a thenable that settles when its response finishes: until hijacked, Nest's handling of
    // the request awaits it, holding its promises and closures for as long as the stream is open.
    response.hijack?.();
    const sink = new ResponseSink(raw, response, maxPendingBytes ?? this.options.maxPendingBytes, this.services);
    // A stream still being admitted holds the headers back (see stream-admission.ts).
    if (messages instanceof NotificationStream) {
      sink.attach(hearingAdmissions(sink, () => messages.serve(sink)));
    } else {
      const subscription = hearingAdmissions(sink, () => messages.subscribe(sink));
      sink.attach(() => subscription.unsubscribe());
    }
  }
}
