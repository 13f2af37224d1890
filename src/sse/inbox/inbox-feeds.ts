import { BROADCAST_HISTORY_KEY, historyKeysOf, type PublishTarget, topicHistoryKey, userHistoryKey } from '../events/publish-target.js';
import type { InboxOwner } from './inbox.store.js';

// An inbox is read from feeds: the user's own items, the broadcasts, and each topic it holds. A feed has the name of
// the history key of the same audience (`user:<id>`, `all`, `topic:<name>`).

/** The feeds an owner's inbox is made of; the first is the user's own. */
export function feedsOfOwner(owner: InboxOwner): string[] {
  return [userHistoryKey(owner.userId), BROADCAST_HISTORY_KEY, ...[...new Set(owner.topics)].map(topicHistoryKey)];
}

/** The feeds an item published to `target` is kept in: one per user, or the topic's, or the broadcasts'. */
export function feedsOfTarget(target: PublishTarget): string[] {
  return historyKeysOf(target);
}
