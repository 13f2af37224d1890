import { Counter, Gauge, type Registry, register as globalRegistry } from 'prom-client';
import type { LossReason } from '../../protocol/reserved-events.js';
import {
  type BackplaneOperation,
  type PublishKind,
  type RejectionReason,
  SseMetrics,
  type SsePrometheusOptions,
  type StreamCounts,
} from './sse-metrics.js';

/** The module's metrics in prom-client. Loaded only when metrics are turned on. */
export class PrometheusSseMetrics extends SseMetrics {
  private counts: StreamCounts = () => ({ streams: 0, users: 0 });
  private readonly publishedTotal: Counter<'target'>;
  private readonly deliveredTotal: Counter;
  private readonly replaysTotal: Counter;
  private readonly replayedEventsTotal: Counter;
  private readonly lossTotal: Counter<'reason'>;
  private readonly historyReadsTotal: Counter<'result'>;
  private readonly rejectionsTotal: Counter<'reason'>;
  private readonly slowClientsTotal: Counter;
  private readonly backplaneErrorsTotal: Counter<'operation'>;

  constructor({ registry = globalRegistry, prefix = 'sse_' }: SsePrometheusOptions = {}) {
    super();
    // A metric of the same name from an earlier instance of the module (tests, hot reload) gives way.
    const named = (name: string) => {
      registry.removeSingleMetric(`${prefix}${name}`);
      return `${prefix}${name}`;
    };
    const registers = [registry as Registry]; // prom-client's, declared by its shape in the options
    const counts = () => this.counts();
    // Read when scraped: nothing is counted on the streams' path for these two.
    new Gauge({
      name: named('open_streams'),
      help: 'SSE streams open on this instance',
      registers,
      collect() {
        this.set(counts().streams);
      },
    });
    new Gauge({
      name: named('connected_users'),
      help: 'Users with at least one SSE stream open on this instance',
      registers,
      collect() {
        this.set(counts().users);
      },
    });
    this.publishedTotal = new Counter({ name: named('events_published_total'), help: 'Events published, by target', labelNames: ['target'], registers });
    this.deliveredTotal = new Counter({ name: named('events_delivered_total'), help: 'Events handed to streams on this instance', registers });
    this.replaysTotal = new Counter({ name: named('replays_total'), help: 'Resumed streams that replayed missed events', registers });
    this.replayedEventsTotal = new Counter({ name: named('replayed_events_total'), help: 'Events replayed to resumed streams', registers });
    this.lossTotal = new Counter({ name: named('loss_events_total'), help: 'Resumes that could not replay everything, by reason', labelNames: ['reason'], registers });
    this.historyReadsTotal = new Counter({ name: named('history_reads_total'), help: 'History reads for resumes: sent to the store, or merged into an identical one in flight', labelNames: ['result'], registers });
    this.rejectionsTotal = new Counter({ name: named('limiter_rejections_total'), help: 'Streams refused by the connection limiter, by reason', labelNames: ['reason'], registers });
    this.slowClientsTotal = new Counter({ name: named('slow_clients_dropped_total'), help: 'Streams dropped because their client did not read', registers });
    this.backplaneErrorsTotal = new Counter({ name: named('backplane_errors_total'), help: 'Failed operations of the shared store (Redis), by operation', labelNames: ['operation'], registers });
  }

  published(kind: PublishKind): void {
    this.publishedTotal.inc({ target: kind });
  }

  delivered(streams: number): void {
    if (streams > 0) this.deliveredTotal.inc(streams);
  }

  replayed(events: number): void {
    this.replaysTotal.inc();
    this.replayedEventsTotal.inc(events);
  }

  lost(reason: LossReason): void {
    this.lossTotal.inc({ reason });
  }

  historyRead(merged: boolean): void {
    this.historyReadsTotal.inc({ result: merged ? 'merged' : 'sent' });
  }

  rejected(reason: RejectionReason): void {
    this.rejectionsTotal.inc({ reason });
  }

  slowClientDropped(): void {
    this.slowClientsTotal.inc();
  }

  backplaneError(operation: BackplaneOperation): void {
    this.backplaneErrorsTotal.inc({ operation });
  }

  watch(counts: StreamCounts): void {
    this.counts = counts;
  }
}
