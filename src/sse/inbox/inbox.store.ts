import type { EventPosition } from '../events/event-position.js';
import type { PublishTarget } from '../events/publish-target.js';

/** Which items a list holds: `all` is every item not archived. */
export type InboxStatus = 'unread' | 'all' | 'archived';

/** A change a user makes to items of their inbox. */
export type InboxMark = 'read' | 'unread' | 'archived';

/** One notification kept in an inbox, as its user sees it. */
export interface InboxItem {
  /** The id of the event it was published as. */
  readonly id: string;
  readonly type: string;
  /** The event's data, parsed. */
  readonly data: unknown;
  readonly createdAt: Date;
  readonly readAt: Date | null;
  readonly archivedAt: Date | null;
}

/** An item to keep: an event as published, for the inboxes of its recipients. */
export interface NewInboxItem {
  /** The event's id (`<ms>-<seq>`); its position orders the inbox. */
  readonly id: string;
  readonly position: EventPosition;
  /** Whose inboxes hold it: each of these users, every user whose inbox holds the topic, or every user. */
  readonly target: PublishTarget;
  readonly type: string;
  /** The event's data as JSON text, exactly as it was sent on the streams. */
  readonly data: string;
  /** When it was published: the time of its id. */
  readonly createdAt: Date;
}

/** Whose inbox: a user, and the topics whose items their inbox holds (besides their own items and the broadcasts). */
export interface InboxOwner {
  readonly userId: string;
  readonly topics: readonly string[];
}

export interface InboxQuery {
  readonly status: InboxStatus;
  /** At most this many items. */
  readonly limit: number;
  /** Only items older than this position (the last item of the page before). */
  readonly before?: EventPosition;
}

/** What a change did. */
export interface InboxChange {
  /** The items it changed (of the ones asked for, only those in the owner's inbox and not already so). */
  readonly ids: readonly string[];
  /** The owner's unread items after it. */
  readonly unread: number;
}

/** Whether an item with these marks is in a list of `status`: for every store, an application's own too. */
export function isListedAs(status: InboxStatus, readAt: Date | null | undefined, archivedAt: Date | null | undefined): boolean {
  if (status === 'archived') return Boolean(archivedAt);
  return !archivedAt && (status === 'all' || !readAt);
}

/** How long items are kept. */
export interface InboxRetention {
  /** Items kept per user for their own items, and per topic and for the broadcasts; the oldest go first. */
  readonly maxItems: number;
  /** Items older than this (ms) are dropped. */
  readonly maxAgeMs: number;
}

/**
 * Where inboxes are kept: items (once per recipient user, or once for a topic
 * or the broadcasts) and each user's read and archived marks, with the unread
 * count kept as changes happen. Every method is atomic on its own, also when
 * several instances share the store. It is both the injection token and the
 * type: in memory, PostgreSQL and Redis here, or an application's own.
 */
export abstract class InboxStore {
  /** Keeps an item in the inboxes of its target. An id already kept there is left as it is. */
  abstract add(item: NewInboxItem): Promise<void>;

  /** The owner's items, newest first, of one status, older than `before`. */
  abstract list(owner: InboxOwner, query: InboxQuery): Promise<InboxItem[]>;

  /** The owner's items neither read nor archived. */
  abstract unread(owner: InboxOwner): Promise<number>;

  /**
   * Marks items of the owner's inbox read, unread or archived; `'all'` marks every item of it.
   * Ids that are not in the owner's inbox are ignored.
   */
  abstract mark(owner: InboxOwner, ids: readonly string[] | 'all', mark: InboxMark): Promise<InboxChange>;
}
