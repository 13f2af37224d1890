import { InMemoryInboxStore } from './in-memory-inbox.store.js';

describe('InMemoryInboxStore', () => {
  it('drops the feeds nobody reads any more once what they hold has aged out (every minute, on an add)', async () => {
    let now = 1_000_000;
    const store = new InMemoryInboxStore({ maxItems: 10, maxAgeMs: 5_000 }, () => now);
    const item = (userId: string, ms: number) => ({
      id: `${ms}-0`,
      position: { ms, seq: 0 },
      target: { userIds: [userId] },
      type: 'todo',
      data: 'null',
      createdAt: new Date(ms),
    });
    await store.add(item('gone', now));
    const feeds = (store as unknown as { feeds: Map<string, unknown> }).feeds;
    expect([...feeds.keys()]).toEqual(['user:gone']);
    now += 30_000;
    await store.add(item('early', now));
    // Not a minute yet: nothing swept.
    expect([...feeds.keys()]).toEqual(['user:gone', 'user:early']);
    now += 31_000;
    await store.add(item('later', now));
    expect([...feeds.keys()]).toEqual(['user:later']);
  });
});
