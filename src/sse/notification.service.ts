import {
  type BeforeApplicationShutdown,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  PayloadTooLargeException,
  UnauthorizedException,
} from '@nestjs/common';
import { CLOSED_BY_SERVER, RESERVED_TYPE_PREFIX } from '../protocol/reserved-events.js';
import { Broker } from './delivery/broker.js';
import type { AnyEvents, EventMap, EventType } from './events/event-map.js';
import { ConnectionLimiter, type ConnectionUsage } from './limits/connection-limiter.js';
import { comparePositions, type EventPosition, parseEventId } from './events/event-position.js';
import { nestsDeeperThan } from './events/json-depth.js';
import { HistoryStore } from './delivery/history.store.js';
import { EventPublisher } from './events/event-publisher.js';
import type { Principal } from './auth/principal.js';
import { type PublishedEvent, serializePayload } from './events/published-event.js';
import { withWire } from './http/sse-wire.js';
import { normalizeTarget, type PublishTarget } from './events/publish-target.js';
import { SSE_OPTIONS } from './sse.constants.js';
import { assertPublishableType, assertSseName, InvalidSseInputError } from './events/sse-name.js';
import type { ResolvedSseOptions } from './sse.options.js';
import { type StreamScope, StreamSubscriber, type SubscriberSettings } from './streams/stream-subscriber.js';
import { NotificationStream } from './streams/notification-stream.js';
import { SubscriberRegistry } from './streams/subscriber-registry.js';
import { SseMetrics } from './observability/sse-metrics.js';
import { type FailureReport, SseUnavailableError, unlessUnavailable } from './http/sse-unavailable.error.js';
import { isRevoked, RevocationStore } from './auth/revocation.store.js';
import { decideTopicAccess } from './auth/topic-access.js';

export interface StreamOptions {
  /** Topics to receive besides the user's own events and the broadcasts. */
  topics?: readonly string[];
  /** The id of the last event the client received (`Last-Event-ID`): the stream resumes after it. */
  lastEventId?: string;
  /** Whether the stream carries the events published to the principal's user (default true). */
  userEvents?: boolean;
  /** Whether it carries broadcasts (default true). */
  broadcasts?: boolean;
  /** Whether it begins with `sse.ready` (default true); without it, its first event carries `retry:`. */
  ready?: boolean;
}

/** Open streams and connected users, across every instance and for each. */
export type SseStats = ConnectionUsage;

export interface CloseUserOptions {
  /**
   * Also revoke every token of the user issued until now, on every instance: a client that reconnects with
   * one gets 401. Tokens issued after (by their `iat`) are accepted. See `auth.revocationTtlSeconds`.
   */
  revokeTokens?: boolean;
}

/** The signal that tells every instance of a revocation: `[userId, at]`. */
const REVOCATION_SIGNAL = 'sse.revocation';

/**
 * Publishes events to users, topics or everyone, and gives each authenticated
 * principal its stream of them.
 */
@Injectable()
export class NotificationService<Events extends EventMap = AnyEvents>
  extends EventPublisher<Events>
  implements OnModuleInit, BeforeApplicationShutdown
{
  private readonly logger = new Logger(NotificationService.name);
  /** Where a failure of the shared store is told (see `unlessUnavailable`). */
  private readonly failures: FailureReport;
  private readonly registry = new SubscriberRegistry();
  private readonly settings: SubscriberSettings;
  private heartbeat?: NodeJS.Timeout;
  private stopping = false;
  /** The newest position this instance has dispatched: where a stream without a cursor starts. */
  private watermark: EventPosition = { ms: 0, seq: 0 };

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly history: HistoryStore,
    private readonly broker: Broker,
    private readonly limiter: ConnectionLimiter,
    private readonly metrics: SseMetrics,
    private readonly revocations: RevocationStore,
  ) {
    super();
    this.failures = { logger: this.logger, metrics, retryAfterSeconds: options.retryAfterSeconds };
    this.settings = {
      retryMs: options.retryMs,
      heartbeatMs: options.heartbeatMs,
      maxHeldEvents: options.history.maxEvents,
    };
    broker.listen({
      onEvent: (event) => {
        if (comparePositions(event.position, this.watermark) > 0) this.watermark = event.position;
        this.metrics.delivered(this.registry.dispatch(event));
      },
      onDisconnect: (userId) => this.closeHere(userId),
      onGap: (since) => this.endAll((subscriber) => subscriber.openedAt < since),
    });
    broker.onSignal(REVOCATION_SIGNAL, (data) => {
      const [userId, at] = JSON.parse(data) as [string, number];
      this.revocations.remember(userId, at);
      this.closeHere(userId);
    });
    metrics.watch(() => this.local());
  }

  async onModuleInit(): Promise<void> {
    const head = await this.history.head();
    if (comparePositions(head, this.watermark) > 0) this.watermark = head;
    // One timer for every stream, however many there are.
    this.heartbeat = setInterval(() => {
      for (const subscriber of this.registry) subscriber.heartbeat();
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Ends every stream, so that clients reconnect (elsewhere, or later) and resume. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    clearInterval(this.heartbeat);
    const ended = this.endAll();
    if (ended > 0) this.logger.log(`Ended ${ended} stream(s) for shutdown`);
  }

  /** Publishes an event and resolves to its id once every instance has been handed it. */
  async publish<Type extends EventType<Events>>(target: PublishTarget, type: Type, data: Events[Type]): Promise<string> {
    return (await this.publishEvent(target, type, data)).id;
  }

  /** Publishes like `publish`, and resolves to the event as published: its position, its checked target and its data as sent. */
  async publishEvent<Type extends EventType<Events>>(target: PublishTarget, type: Type, data: Events[Type]): Promise<PublishedEvent> {
    const recipients = normalizeTarget(target);
    assertPublishableType(type);
    if (nestsDeeperThan(data, this.options.maxEventDataDepth)) {
      throw new InvalidSseInputError(`The event data is nested deeper than ${this.options.maxEventDataDepth} levels`);
    }
    const serialized = serializePayload(data);
    if (serialized.length > this.options.maxEventDataLength) {
      throw new PayloadTooLargeException(
        `The event data is ${serialized.length} characters of JSON; at most ${this.options.maxEventDataLength} are allowed`,
      );
    }
    const event = await unlessUnavailable(this.failures, 'publish', 'Events cannot be published', () =>
      this.broker.publish(recipients, type, serialized),
    );
    this.metrics.published('userIds' in recipients ? 'users' : 'topic' in recipients ? 'topic' : 'broadcast');
    return event;
  }

  /**
   * The stream of one principal: its user's events, the topics it asked for and
   * may read, and the broadcasts. Throws (400, 403, 503) before any stream starts
   * when it cannot be given. Where `canReadTopic` answers with a promise, the
   * stream opens once every topic is decided, and errors with 403 or 503 if it
   * may not; `@SseRoute()` sends no headers until then, so the client gets that status.
   */
  stream(principal: Principal, options: StreamOptions = {}): NotificationStream {
    if (this.stopping) throw new SseUnavailableError('The server is shutting down', this.options.retryAfterSeconds);
    const topics = this.requestedTopics(options.topics ?? []);
    const { canReadTopic, canReadTopicTimeoutMs } = this.options;
    const access = decideTopicAccess(canReadTopic, principal, topics, canReadTopicTimeoutMs, this.options.retryAfterSeconds, this.logger);
    const scope: StreamScope = {
      userEvents: options.userEvents ?? true,
      broadcasts: options.broadcasts ?? true,
      ready: options.ready ?? true,
    };
    return this.open(principal, topics, scope, options.lastEventId || undefined, access);
  }

  /**
   * The stream of one of the module's own topics (a job's, for `JobService`): no topic check, no
   * `sse.ready`; with `resumeUrl`, it begins with `sse.resume`. It ends after an `sse.close` in the topic.
   */
  reservedTopicStream(principal: Principal, topic: string, options: { lastEventId?: string; resumeUrl?: string }): NotificationStream {
    if (this.stopping) throw new SseUnavailableError('The server is shutting down', this.options.retryAfterSeconds);
    const scope: StreamScope = { userEvents: false, broadcasts: false, ready: false, resumeUrl: options.resumeUrl };
    return this.open(principal, [topic], scope, options.lastEventId || undefined);
  }

  private open(
    principal: Principal,
    topics: readonly string[],
    scope: StreamScope,
    lastEventId: string | undefined,
    admission?: Promise<void>,
  ): NotificationStream {
    return new NotificationStream((sink) => {
      // A request authenticated just before its user was revoked, whose stream opens just after their streams
      // were closed: the revocation, heard of here in the broker's order, refuses it.
      if (isRevoked(principal, this.revocations.remembered(principal.userId))) {
        sink.error(new UnauthorizedException('The token has been revoked'));
        return () => undefined;
      }
      const subscriber = new StreamSubscriber(principal, topics, sink, this.settings, scope);
      // Registered and placed in the same step: every event dispatched from now on is after `from`.
      this.registry.add(subscriber);
      const from = this.watermark;
      if (lastEventId === undefined) subscriber.start(from, []);
      else void this.resume(subscriber, lastEventId, from);
      return () => {
        this.registry.remove(subscriber);
        subscriber.dispose();
      };
    }, admission);
  }

  /**
   * Closes every stream of a user, on every instance, telling clients not to reconnect. Resolves to how many were
   * open. With `revokeTokens`, the tokens the user holds now are refused from then on, on every instance.
   */
  async closeUser(userId: string, options: CloseUserOptions = {}): Promise<number> {
    assertSseName('user id', userId);
    return unlessUnavailable(this.failures, 'close_user', 'Streams cannot be closed', async () => {
      const open = await this.limiter.held(userId);
      if (options.revokeTokens) {
        const at = Date.now();
        // Stored before anything answers, so that every instance's guard refuses the tokens from now on;
        // then the signal closes the streams, and lets each instance refuse one that opens after that.
        await this.revocations.revoke(userId, at);
        await this.broker.signal(REVOCATION_SIGNAL, JSON.stringify([userId, at]));
      } else {
        await this.broker.disconnect(userId);
      }
      return open;
    });
  }

  /** The users with a stream on this instance. */
  localUsers(): string[] {
    return this.registry.users();
  }

  /**
   * Writes a message to this instance's streams of a user that carry the user's events, at once and without an id
   * (it is state for the client, not part of what a resume replays). Returns how many streams it was written to.
   */
  sendLocal(userId: string, type: string, data: string): number {
    const streams = this.registry.ofUser(userId).filter((subscriber) => subscriber.scope.userEvents);
    const message = withWire({ type, data });
    streams.forEach((subscriber) => subscriber.notify(message));
    return streams.length;
  }

  /** Streams and users open on this instance. */
  local(): { streams: number; users: number } {
    return { streams: this.registry.streamCount, users: this.registry.userCount };
  }

  /** Open streams and users, counted by their connection slots. */
  stats(): Promise<SseStats> {
    return unlessUnavailable(this.failures, 'stats', 'Stats cannot be read', () => this.limiter.usage());
  }

  private closeHere(userId: string): void {
    this.registry.ofUser(userId).forEach((subscriber) => subscriber.close(CLOSED_BY_SERVER));
  }

  /** Ends the streams here (all, or those `which` picks) without a close event: their clients reconnect and resume. */
  private endAll(which: (subscriber: StreamSubscriber) => boolean = () => true): number {
    const ending = [...this.registry].filter(which);
    ending.forEach((subscriber) => subscriber.end());
    return ending.length;
  }

  private requestedTopics(requested: readonly string[]): string[] {
    const topics = [...new Set(requested)];
    if (topics.length > this.options.maxTopicsPerStream) {
      throw new InvalidSseInputError(`At most ${this.options.maxTopicsPerStream} topics may be asked for`);
    }
    for (const topic of topics) {
      assertSseName('topic', topic);
      // The module's own topics (jobs') are read through their own routes only.
      if (topic.startsWith(RESERVED_TYPE_PREFIX)) {
        throw new ForbiddenException(`Topics starting with "${RESERVED_TYPE_PREFIX}" are the module's own`);
      }
    }
    return topics;
  }

  /**
   * Registered first, read second: an event published meanwhile is either in
   * what is read or held by the subscriber, and never sent twice. When the
   * cursor cannot be honoured, the stream starts live from `from`.
   */
  private async resume(subscriber: StreamSubscriber, lastEventId: string, from: EventPosition): Promise<void> {
    try {
      const after = parseEventId(lastEventId);
      // Up to where the stream was placed: everything after it reaches the stream live.
      const read = after ? await this.history.read(subscriber.keys, after, from) : { events: [], loss: 'malformed' as const };
      if (read.loss) {
        // The cursor is the client's text: quoted, so that it cannot fake a log line.
        this.logger.debug(`A stream of ${subscriber.userId} cannot resume after ${JSON.stringify(lastEventId)}: ${read.loss}`);
        this.metrics.lost(read.loss);
        subscriber.start(from, [], { reason: read.loss, lastEventId });
      } else {
        if (read.events.length > 0) this.metrics.replayed(read.events.length);
        subscriber.start(after!, read.events);
      }
    } catch (err) {
      this.logger.error(`A stream of ${subscriber.userId} could not resume: ${(err as Error).message}`);
      subscriber.fail(err);
    }
  }
}
