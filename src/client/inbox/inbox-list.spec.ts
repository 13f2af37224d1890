import { applyChange, bringsItems, isListedAs } from './inbox-list.js';

const AT = '2026-01-01T00:00:00.000Z';
const EARLIER = '2025-12-31T00:00:00.000Z';

const item = (id: string, readAt: string | null = null, archivedAt: string | null = null) => ({ id, readAt, archivedAt });

describe("the inbox's list, kept by changes", () => {
  it('lists as the server does: all is every item not archived, unread neither read nor archived, archived the archived', () => {
    const unread = item('1-0');
    const read = item('2-0', EARLIER);
    const archived = item('3-0', null, EARLIER);
    const both = item('4-0', EARLIER, EARLIER);
    const listed = (status: 'all' | 'unread' | 'archived') =>
      [unread, read, archived, both].filter((it) => isListedAs(status, it)).map((it) => it.id);
    expect(listed('all')).toEqual(['1-0', '2-0']);
    expect(listed('unread')).toEqual(['1-0']);
    expect(listed('archived')).toEqual(['3-0', '4-0']);
  });

  it('marks the items named read, unread or archived, keeping an earlier time, and drops those no longer listed', () => {
    const items = [item('3-0'), item('2-0', EARLIER), item('1-0')];
    expect(applyChange(items, 'all', { change: 'read', ids: ['3-0', '2-0'] }, AT)).toEqual([
      item('3-0', AT),
      item('2-0', EARLIER),
      item('1-0'),
    ]);
    expect(applyChange(items, 'all', { change: 'unread', ids: ['2-0'] }, AT)).toEqual([item('3-0'), item('2-0'), item('1-0')]);
    expect(applyChange(items, 'all', { change: 'archived', ids: ['1-0'] }, AT)).toEqual([item('3-0'), item('2-0', EARLIER)]);
    expect(applyChange(items, 'unread', { change: 'read', ids: ['3-0'] }, AT)).toEqual([item('1-0')]);
    expect(applyChange(items, 'archived', { change: 'archived', ids: ['9-9'] }, AT)).toEqual([]);
  });

  it('reads every item on read-all (which names none), and leaves the list be on added', () => {
    const items = [item('2-0'), item('1-0', EARLIER)];
    expect(applyChange(items, 'all', { change: 'read-all' }, AT)).toEqual([item('2-0', AT), item('1-0', EARLIER)]);
    expect(applyChange(items, 'unread', { change: 'read-all' }, AT)).toEqual([]);
    expect(applyChange(items, 'all', { change: 'added', ids: ['3-0'] }, AT)).toEqual(items);
  });

  it('gives the same list when a run of changes is applied again (an answer that overlapped them)', () => {
    const changes = [
      { change: 'read', ids: ['1-0'] },
      { change: 'unread', ids: ['1-0', '2-0'] },
      { change: 'archived', ids: ['3-0'] },
      { change: 'read', ids: ['2-0'] },
    ] as const;
    const run = (items: ReturnType<typeof item>[]) => changes.reduce((list, change) => applyChange(list, 'all', change, AT), items);
    const once = run([item('3-0'), item('2-0'), item('1-0', EARLIER)]);
    expect(once).toEqual([item('2-0', AT), item('1-0')]);
    expect(run(once)).toEqual(once);
  });

  it('fetches a list again only for changes that may bring items it has not loaded', () => {
    const brings = (status: 'all' | 'unread' | 'archived') =>
      (['added', 'read', 'unread', 'archived', 'read-all'] as const).filter((change) => bringsItems(status, change));
    expect(brings('all')).toEqual(['added']);
    expect(brings('unread')).toEqual(['added', 'unread']);
    expect(brings('archived')).toEqual(['archived']);
  });
});
