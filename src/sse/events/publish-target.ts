import { assertSseName, InvalidSseInputError } from './sse-name.js';

/** Who receives a published event. */
export type PublishTarget =
  | { readonly userIds: readonly string[] }
  | { readonly topic: string }
  | { readonly broadcast: true };

/** Checks a target and drops repeated user ids, so that each recipient gets an event once. */
export function normalizeTarget(target: PublishTarget): PublishTarget {
  if (typeof target !== 'object' || target === null) {
    throw new InvalidSseInputError('A target is { userIds }, { topic } or { broadcast: true }');
  }
  if ('userIds' in target) {
    if (!Array.isArray(target.userIds) || target.userIds.length === 0) {
      throw new InvalidSseInputError('userIds must be a non-empty array');
    }
    target.userIds.forEach((userId) => assertSseName('user id', userId));
    return { userIds: [...new Set(target.userIds)] };
  }
  if ('topic' in target) {
    assertSseName('topic', target.topic);
    return { topic: target.topic };
  }
  if ('broadcast' in target && target.broadcast === true) {
    return { broadcast: true };
  }
  throw new InvalidSseInputError('A target is { userIds }, { topic } or { broadcast: true }');
}

/** The history keys an event of this target is kept under. */
export function historyKeysOf(target: PublishTarget): string[] {
  if ('userIds' in target) return target.userIds.map(userHistoryKey);
  if ('topic' in target) return [topicHistoryKey(target.topic)];
  return [BROADCAST_HISTORY_KEY];
}

export const BROADCAST_HISTORY_KEY = 'all';

export function userHistoryKey(userId: string): string {
  return `user:${userId}`;
}

export function topicHistoryKey(topic: string): string {
  return `topic:${topic}`;
}

/** The part of a target that a history key stands for: what a replayed event needs of its target. */
export function targetOfHistoryKey(key: string): PublishTarget {
  if (key === BROADCAST_HISTORY_KEY) return { broadcast: true };
  if (key.startsWith('user:')) return { userIds: [key.slice('user:'.length)] };
  return { topic: key.slice('topic:'.length) };
}
