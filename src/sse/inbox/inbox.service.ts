import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { INBOX_EVENT, type InboxChangeKind, type InboxData } from '../../protocol/reserved-events.js';
import { Broker } from '../delivery/broker.js';
import { type FailureReport, unlessUnavailable } from '../http/sse-unavailable.error.js';
import { SseMetrics } from '../observability/sse-metrics.js';
import type { AnyEvents, EventMap, EventType } from '../events/event-map.js';
import { parseEventId } from '../events/event-position.js';
import { EventPublisher } from '../events/event-publisher.js';
import type { PublishTarget } from '../events/publish-target.js';
import { assertSseName, InvalidSseInputError } from '../events/sse-name.js';
import { NotificationService } from '../notification.service.js';
import { SSE_OPTIONS } from '../sse.constants.js';
import type { ResolvedSseOptions } from '../sse.options.js';
import { InboxCursors } from './inbox-cursor.js';
import { type InboxItem, type InboxMark, type InboxOwner, type InboxStatus, InboxStore } from './inbox.store.js';

/** The broker's signal channel of inbox changes: every instance refreshes the counts of its own streams' users. */
export const INBOX_SIGNAL = 'sse.inbox';

/** Most items one page may hold. */
export const MAX_INBOX_PAGE = 100;
/** Most ids one change may name. */
export const MAX_INBOX_IDS = 1000;

export interface InboxPageQuery {
  /** `all` (default: every item not archived), `unread` or `archived`. */
  status?: InboxStatus;
  /** 1–100 (default 20). */
  limit?: number;
  /** The `nextCursor` of the page before. */
  cursor?: string;
}

export interface InboxPage {
  /** Newest first. */
  readonly items: InboxItem[];
  /** The user's unread items (neither read nor archived), whatever was asked for. */
  readonly unread: number;
  /** Where the next page starts; null on the last page. */
  readonly nextCursor: string | null;
}

/** What a signal carries: whose inboxes changed, how, and which items. */
interface InboxSignal {
  readonly target: PublishTarget;
  readonly change: InboxChangeKind;
  readonly ids?: readonly string[];
}

/**
 * The durable inbox: publishes notifications that are also kept in their
 * recipients' inboxes (a topic's or a broadcast's once, not once per user),
 * lists them, and marks them read, unread or archived. Every change reaches
 * every open stream of the users it concerns, on every instance, as one
 * `sse.inbox` event with the user's unread count read after it.
 */
@Injectable()
export class InboxService<Events extends EventMap = AnyEvents> extends EventPublisher<Events> implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(InboxService.name);
  /** Where a failure of the store is told (see `unlessUnavailable`). */
  private readonly failures: FailureReport;
  private readonly cursors: InboxCursors;
  /** Per user, this instance's refresh of its streams' count in progress: refreshes of one user are written in order. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private stopListening?: () => void;

  constructor(
    @Inject(SSE_OPTIONS) private readonly options: ResolvedSseOptions,
    private readonly store: InboxStore,
    private readonly notifications: NotificationService,
    private readonly broker: Broker,
    metrics: SseMetrics,
  ) {
    super();
    this.failures = { logger: this.logger, metrics, retryAfterSeconds: options.retryAfterSeconds };
    const { key, shared } = InboxCursors.keyOf(options.inbox.cursorSecret, options.auth.jwt);
    this.cursors = new InboxCursors(key);
    if (!shared && options.redis) {
      this.logger.warn('No inbox.cursorSecret and no JWT key: inbox cursors work only on the instance that issued them');
    }
  }

  onModuleInit(): void {
    this.stopListening = this.broker.onSignal(INBOX_SIGNAL, (data) => this.onSignal(JSON.parse(data) as InboxSignal));
  }

  onModuleDestroy(): void {
    this.stopListening?.();
  }

  /**
   * Publishes an event (as `NotificationService.publish` does) and keeps it in the inbox of each recipient; resolves
   * to its id, which is also the item's, once it can be read from the inbox on every instance.
   */
  async publish<Type extends EventType<Events>>(target: PublishTarget, type: Type, data: Events[Type]): Promise<string> {
    const event = await this.notifications.publishEvent(target, type, data);
    const { id } = event;
    await unlessUnavailable(this.failures, 'inbox_write', 'The notification was sent, but cannot be kept in the inbox', () =>
      this.store.add({
        id,
        position: event.position,
        target: event.target,
        type,
        data: event.message.data,
        createdAt: new Date(event.position.ms),
      }),
    );
    await this.announce({ target: event.target, change: 'added', ids: [id] });
    return id;
  }

  /** One page of a user's inbox, newest first, with the user's unread count. */
  async page(userId: string, query: InboxPageQuery = {}): Promise<InboxPage> {
    const status = query.status ?? 'all';
    const limit = query.limit ?? 20;
    if (!['all', 'unread', 'archived'].includes(status)) throw new InvalidSseInputError('status is unread, all or archived');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_INBOX_PAGE) {
      throw new InvalidSseInputError(`limit must be a whole number from 1 to ${MAX_INBOX_PAGE}`);
    }
    const owner = await this.ownerOf(userId);
    const before = query.cursor === undefined ? undefined : this.cursors.read(userId, status, query.cursor);
    const [items, unread] = await unlessUnavailable(this.failures, 'inbox_read', 'The inbox cannot be read', () =>
      Promise.all([this.store.list(owner, { status, limit: limit + 1, before }), this.store.unread(owner)]),
    );
    const page = items.slice(0, limit);
    const last = items.length > limit ? parseEventId(page[page.length - 1].id) : undefined;
    return { items: page, unread, nextCursor: last ? this.cursors.issue(userId, status, last) : null };
  }

  /** A user's unread items (neither read nor archived). */
  async unread(userId: string): Promise<number> {
    const owner = await this.ownerOf(userId);
    return unlessUnavailable(this.failures, 'inbox_read', 'The inbox cannot be read', () => this.store.unread(owner));
  }

  /** Marks items read (`'all'`: every item); resolves to the unread count after it. */
  markRead(userId: string, ids: readonly string[] | 'all'): Promise<number> {
    return this.change(userId, ids, 'read', ids === 'all' ? 'read-all' : 'read');
  }

  /** Marks items unread again (`'all'`: every item); resolves to the unread count after it. */
  markUnread(userId: string, ids: readonly string[] | 'all'): Promise<number> {
    return this.change(userId, ids, 'unread', 'unread');
  }

  /** Archives items: they leave the default list and the count, and are listed with `status: 'archived'`. */
  archive(userId: string, ids: readonly string[]): Promise<number> {
    return this.change(userId, ids, 'archived', 'archived');
  }

  private async change(userId: string, ids: readonly string[] | 'all', mark: InboxMark, change: InboxChangeKind): Promise<number> {
    if (ids !== 'all' && (!Array.isArray(ids) || ids.length > MAX_INBOX_IDS || ids.some((id) => typeof id !== 'string'))) {
      throw new InvalidSseInputError(`ids must be an array of at most ${MAX_INBOX_IDS} strings`);
    }
    const owner = await this.ownerOf(userId);
    const done = await unlessUnavailable(this.failures, 'inbox_write', 'The inbox cannot be changed', () =>
      this.store.mark(owner, ids === 'all' ? ids : [...new Set(ids)], mark),
    );
    if (done.ids.length > 0) {
      await this.announce({ target: { userIds: [userId] }, change, ids: change === 'read-all' ? undefined : done.ids });
    }
    return done.unread;
  }

  private async ownerOf(userId: string): Promise<InboxOwner> {
    assertSseName('user id', userId);
    const topics = await this.options.inbox.topicsOf(userId);
    topics.forEach((topic) => assertSseName('topic', topic));
    return { userId, topics };
  }

  /** Tells every instance; a failure is logged, not thrown: the change is made, and clients refetch when they reconnect. */
  private async announce(signal: InboxSignal): Promise<void> {
    try {
      await this.broker.signal(INBOX_SIGNAL, JSON.stringify(signal));
    } catch (err) {
      this.logger.warn(`An inbox change could not be announced to the streams: ${(err as Error).message}`);
    }
  }

  /** On every instance: the users with a stream here whom the change concerns get their count, read now. */
  private onSignal(signal: InboxSignal): void {
    const { target } = signal;
    const here = this.notifications.localUsers();
    const local = new Set(here);
    const users = 'userIds' in target ? target.userIds.filter((userId) => local.has(userId)) : here;
    for (const userId of users) this.refresh(userId, signal);
  }

  private refresh(userId: string, signal: InboxSignal): void {
    const previous = this.refreshing.get(userId) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        const owner = await this.ownerOf(userId);
        if ('topic' in signal.target && !owner.topics.includes(signal.target.topic)) return;
        const data: InboxData = { unread: await this.store.unread(owner), change: signal.change, ids: signal.ids };
        this.notifications.sendLocal(userId, INBOX_EVENT, JSON.stringify(data));
      } catch (err) {
        this.logger.warn(`The inbox count of ${userId} could not be sent to its streams: ${(err as Error).message}`);
      }
    });
    this.refreshing.set(userId, next);
    void next.then(() => {
      if (this.refreshing.get(userId) === next) this.refreshing.delete(userId);
    });
  }

}
