import {
  BROADCAST_HISTORY_KEY,
  historyKeysOf,
  normalizeTarget,
  type PublishTarget,
  targetOfHistoryKey,
  topicHistoryKey,
  userHistoryKey,
} from './publish-target.js';
import { InvalidSseInputError } from './sse-name.js';

describe('publish-target', () => {
  describe('normalizeTarget', () => {
    it('drops repeated user ids, keeping the first order', () => {
      expect(normalizeTarget({ userIds: ['bob', 'alice', 'bob', 'carol', 'alice'] })).toEqual({
        userIds: ['bob', 'alice', 'carol'],
      });
    });

    it('returns a new target and does not change the one given', () => {
      const userIds = ['a', 'a'];
      const target = { userIds };
      const normalized = normalizeTarget(target);
      expect(normalized).not.toBe(target);
      expect(userIds).toEqual(['a', 'a']);
    });

    it('keeps a topic and a broadcast, dropping extra properties', () => {
      expect(normalizeTarget({ topic: 'orders' })).toEqual({ topic: 'orders' });
      expect(normalizeTarget({ broadcast: true })).toEqual({ broadcast: true });
      expect(normalizeTarget({ topic: 'orders', extra: 1 } as unknown as PublishTarget)).toEqual({ topic: 'orders' });
    });

    it('refuses an empty userIds array', () => {
      expect(() => normalizeTarget({ userIds: [] })).toThrow(InvalidSseInputError);
      expect(() => normalizeTarget({ userIds: [] })).toThrow('userIds must be a non-empty array');
    });

    it('refuses userIds that is not an array', () => {
      expect(() => normalizeTarget({ userIds: 'alice' } as unknown as PublishTarget)).toThrow(InvalidSseInputError);
      expect(() => normalizeTarget({ userIds: undefined } as unknown as PublishTarget)).toThrow(InvalidSseInputError);
    });

    it.each([
      ['LF', 'a\nb'],
      ['CR', 'a\rb'],
      ['comma', 'a,b'],
      ['empty', ''],
      ['too long', 'u'.repeat(201)],
    ])('refuses a user id with %s, even among good ones', (_label, bad) => {
      expect(() => normalizeTarget({ userIds: ['alice', bad] })).toThrow(InvalidSseInputError);
    });

    it('refuses a non-string user id', () => {
      expect(() => normalizeTarget({ userIds: ['alice', 7] } as unknown as PublishTarget)).toThrow(
        'The user id must be a non-empty string',
      );
    });

    it.each([
      ['LF', 'orders\n'],
      ['comma', 'a,b'],
      ['empty', ''],
    ])('refuses a topic with %s', (_label, topic) => {
      expect(() => normalizeTarget({ topic })).toThrow(InvalidSseInputError);
    });

    it('refuses a non-string topic', () => {
      expect(() => normalizeTarget({ topic: 1 } as unknown as PublishTarget)).toThrow(/topic must be a non-empty string/);
    });

    it.each<[string, unknown]>([
      ['an empty object', {}],
      ['broadcast: false', { broadcast: false }],
      ['broadcast: "true"', { broadcast: 'true' }],
      ['an unknown key', { users: ['alice'] }],
    ])('refuses %s', (_label, target) => {
      expect(() => normalizeTarget(target as PublishTarget)).toThrow(InvalidSseInputError);
      expect(() => normalizeTarget(target as PublishTarget)).toThrow('A target is { userIds }, { topic } or { broadcast: true }');
    });
  });

  describe('historyKeysOf', () => {
    it('gives one user key per user', () => {
      expect(historyKeysOf({ userIds: ['alice', 'bob'] })).toEqual(['user:alice', 'user:bob']);
      expect(userHistoryKey('alice')).toBe('user:alice');
    });

    it('gives the topic key for a topic', () => {
      expect(historyKeysOf({ topic: 'orders' })).toEqual(['topic:orders']);
      expect(topicHistoryKey('orders')).toBe('topic:orders');
    });

    it('gives the broadcast key for a broadcast', () => {
      expect(historyKeysOf({ broadcast: true })).toEqual([BROADCAST_HISTORY_KEY]);
      expect(BROADCAST_HISTORY_KEY).toBe('all');
    });

    it('keeps users and topics of the same name apart', () => {
      const [userKey] = historyKeysOf({ userIds: ['x'] });
      const [topicKey] = historyKeysOf({ topic: 'x' });
      expect(userKey).not.toBe(topicKey);
    });
  });

  describe('targetOfHistoryKey', () => {
    it.each<PublishTarget>([
      { userIds: ['alice'] },
      { userIds: ['tenant:7:user:1'] },
      { userIds: ['all'] },
      { topic: 'orders' },
      { topic: 'user:alice' },
      { topic: 'all' },
      { broadcast: true },
    ])('gives back the target of the key of %o', (target) => {
      const [key] = historyKeysOf(target);
      expect(targetOfHistoryKey(key)).toEqual(target);
    });
  });
});
