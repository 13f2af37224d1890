import type { InboxChangeKind, InboxData } from '../../protocol/reserved-events.js';
import type { InboxStatus } from '../../sse/inbox/inbox.store.js';
import type { AnyEvents, EventMap, SseEventOf } from '../client-events.js';

export type { InboxStatus };

/**
 * An item of the inbox as `GET /inbox` gives it: the event it was published as
 * (typed by the app's map, discriminated by `type`), with its times as ISO
 * strings.
 */
export type InboxItem<Events extends EventMap = AnyEvents> = SseEventOf<Events> & {
  readonly createdAt: string;
  readonly readAt: string | null;
  readonly archivedAt: string | null;
};

/** One page of a list, newest first, with the user's unread count (whatever the page's status). */
export interface InboxPage<Events extends EventMap = AnyEvents> {
  readonly items: InboxItem<Events>[];
  readonly unread: number;
  /** Where the next page starts; null on the last page. */
  readonly nextCursor: string | null;
}

/** Whether an item belongs in a list of this status (`all`: every item not archived). */
export function isListedAs(status: InboxStatus, { readAt, archivedAt }: Pick<InboxItem, 'readAt' | 'archivedAt'>): boolean {
  return status === 'archived' ? !!archivedAt : !archivedAt && (status === 'all' || !readAt);
}

/** Whether a change may bring items into a list of this status that the list has not loaded: it is fetched again. */
export function bringsItems(status: InboxStatus, change: InboxChangeKind): boolean {
  return status === 'archived' ? change === 'archived' : change === 'added' || (status === 'unread' && change === 'unread');
}

/**
 * The loaded items after a change, as far as the change tells: the marks it
 * sets (at `at`, the time this side learnt of it) or clears, and only the items
 * still listed. Applying a change twice, or a run of changes again, changes
 * nothing more.
 */
export function applyChange<Item extends Pick<InboxItem, 'id' | 'readAt' | 'archivedAt'>>(
  items: readonly Item[],
  status: InboxStatus,
  { change, ids }: Pick<InboxData, 'change' | 'ids'>,
  at: string,
): Item[] {
  return items
    .map((item) => {
      // read-all names no ids: it touches every item.
      if (ids && !ids.includes(item.id)) return item;
      if (change === 'unread') return { ...item, readAt: null };
      if (change === 'archived') return { ...item, archivedAt: item.archivedAt ?? at };
      if (change === 'read' || change === 'read-all') return { ...item, readAt: item.readAt ?? at };
      return item;
    })
    .filter((item) => isListedAs(status, item));
}
