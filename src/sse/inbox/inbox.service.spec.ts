import type { MessageEvent } from '@nestjs/common';
import { LocalBroker } from '../delivery/local.broker.js';
import { InMemoryHistoryStore } from '../delivery/in-memory-history.store.js';
import { InMemoryConnectionLimiter } from '../limits/in-memory-connection.limiter.js';
import { NotificationService } from '../notification.service.js';
import { NoSseMetrics } from '../observability/sse-metrics.js';
import { resolveOptions } from '../sse.options.js';
import { InMemoryRevocationStore } from '../auth/in-memory-revocation.store.js';
import { InMemoryInboxStore } from './in-memory-inbox.store.js';
import { InboxCursors } from './inbox-cursor.js';
import { InboxService } from './inbox.service.js';
import type { InboxOwner } from './inbox.store.js';

// The type checks below are part of the test: `npm test` type-checks this file first, and an
// `@ts-expect-error` that finds no error fails that check.

interface AppEvents {
  todo: { title: string };
  badge: { unread: number };
}

function service<Events extends object>(store?: InMemoryInboxStore): InboxService<Events> {
  return parts<Events>(store).inbox;
}

function parts<Events extends object>(store?: InMemoryInboxStore) {
  const options = resolveOptions({ auth: { jwt: { secret: 'inbox-service' } } });
  const history = new InMemoryHistoryStore(options.history);
  const broker = new LocalBroker(history);
  const notifications = new NotificationService(options, history, broker, new InMemoryConnectionLimiter(5, 10, 'i'), new NoSseMetrics(), new InMemoryRevocationStore(1000));
  const inbox = new InboxService<Events>(options, store ?? new InMemoryInboxStore(options.inbox), notifications, broker, new NoSseMetrics());
  inbox.onModuleInit();
  return { inbox, notifications };
}

/** A store whose next count answers late, with what it read at once: a slow database answer. */
class SlowCountStore extends InMemoryInboxStore {
  slowNext = false;

  override async unread(owner: InboxOwner): Promise<number> {
    const unread = await super.unread(owner);
    if (this.slowNext) {
      this.slowNext = false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return unread;
  }
}

describe('InboxService', () => {
  it("checks publishing against the app's event map, and keeps what it publishes", async () => {
    const inbox = service<AppEvents>();
    const id = await inbox.publishToUser('alice', 'todo', { title: 'Call Bob' });
    // @ts-expect-error an event type the map does not declare
    await expect(inbox.publishToUser('alice', 'unknown', {})).resolves.toBeDefined();
    // @ts-expect-error a payload of the wrong shape
    await inbox.broadcast('badge', { unread: 'three' });
    const page = await inbox.page('alice');
    expect(page.items.find((item) => item.id === id)).toMatchObject({ type: 'todo', data: { title: 'Call Bob' } });
  });

  it("writes a user's counts to their streams in the order of the changes, even when a count answers late", async () => {
    const store = new SlowCountStore({ maxItems: 100, maxAgeMs: 60_000 });
    const { inbox, notifications } = parts<Record<string, unknown>>(store);
    const written: MessageEvent[] = [];
    const sink = { closed: false, next: (message: MessageEvent) => written.push(message), complete: () => undefined, error: () => undefined };
    const close = notifications.stream({ userId: 'alice', roles: [], claims: {} }).serve(sink);
    try {
      store.slowNext = true;
      const id = await inbox.publishToUser('alice', 'todo', {});
      // Read at once (1), answered after the mark's count (0) would be.
      expect(await inbox.markRead('alice', [id])).toBe(0);
      const counts = () => written.filter((m) => m.type === 'sse.inbox').map((m) => JSON.parse(String(m.data)).unread);
      const deadline = Date.now() + 2000;
      while (counts().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(counts()).toEqual([1, 0]);
    } finally {
      close();
    }
  });

  it('refuses a limit out of range, an unknown status and too many ids, with 400s', async () => {
    const inbox = service<Record<string, unknown>>();
    for (const limit of [0, 101, 1.5, Number.NaN]) await expect(inbox.page('alice', { limit })).rejects.toMatchObject({ status: 400 });
    await expect(inbox.page('alice', { status: 'read' as 'all' })).rejects.toMatchObject({ status: 400 });
    await expect(inbox.markRead('alice', Array.from({ length: 1001 }, (_, i) => String(i)))).rejects.toMatchObject({ status: 400 });
    await expect(inbox.archive('alice', [7 as unknown as string])).rejects.toMatchObject({ status: 400 });
    await expect(inbox.unread('bad\nuser')).rejects.toMatchObject({ status: 400 });
  });
});

describe('InboxCursors', () => {
  const cursors = new InboxCursors(InboxCursors.keyOf('secret').key);
  const at = { ms: 1_796_227_268_133, seq: 4 };

  it('reads back what it issued, for the same user and status only', () => {
    const cursor = cursors.issue('alice', 'all', at);
    expect(cursors.read('alice', 'all', cursor)).toEqual(at);
    expect(() => cursors.read('bob', 'all', cursor)).toThrow(/not one this server issued/);
    expect(() => cursors.read('alice', 'unread', cursor)).toThrow(/not one this server issued/);
  });

  it('refuses garbage and edits, and a cursor signed with another key', () => {
    const cursor = cursors.issue('alice', 'all', at);
    const other = new InboxCursors(InboxCursors.keyOf('another secret').key).issue('alice', 'all', at);
    for (const bad of ['', '.', 'x', `${cursor}.x`, `${cursor}x`, `x${cursor}`, cursor.replace('.', '..'), other, 'a'.repeat(5000)]) {
      expect(() => cursors.read('alice', 'all', bad)).toThrow(/not one this server issued/);
    }
  });

  it('derives the same key on every instance from the same secret, and not the secret itself', () => {
    expect(InboxCursors.keyOf(undefined, { secret: 's' })).toEqual(InboxCursors.keyOf(undefined, { secret: 's' }));
    expect(InboxCursors.keyOf(undefined, { secret: 's' }).shared).toBe(true);
    expect(InboxCursors.keyOf(undefined, { secret: 's' }).key).toHaveLength(32);
    expect(InboxCursors.keyOf(undefined, {}).shared).toBe(false);
  });
});
