import { LocalBroker } from '../delivery/local.broker.js';
import { InMemoryConnectionLimiter } from '../limits/in-memory-connection.limiter.js';
import { InMemoryHistoryStore } from '../delivery/in-memory-history.store.js';
import { NotificationService } from '../notification.service.js';
import type { SseEventOf } from './event-map.js';
import { resolveOptions } from '../sse.options.js';
import { NoSseMetrics } from '../observability/sse-metrics.js';
import { InMemoryRevocationStore } from '../auth/in-memory-revocation.store.js';

// The type checks below are the test: `npm test` type-checks this file first, and an
// `@ts-expect-error` that finds no error fails that check.
interface AppEvents {
  todo: { title: string; due?: string };
  badge: { unread: number };
}

function service<Events extends object>(): NotificationService<Events> {
  const options = resolveOptions({ auth: { jwt: { secret: 'typed-events' } } });
  const history = new InMemoryHistoryStore(options.history);
  const limiter = new InMemoryConnectionLimiter(5, 10, 'i');
  return new NotificationService<Events>(options, history, new LocalBroker(history), limiter, new NoSseMetrics(), new InMemoryRevocationStore(options.revocationTtlMs));
}

describe('typed events', () => {
  it('checks publish against the event map at compile time, and publishes as usual', async () => {
    const notifications = service<AppEvents>();
    await expect(notifications.publishToUser('alice', 'todo', { title: 'Call Bob' })).resolves.toMatch(/^\d+-\d+$/);
    await expect(notifications.broadcast('badge', { unread: 3 })).resolves.toMatch(/^\d+-\d+$/);

    // @ts-expect-error an event type the map does not declare
    await notifications.publishToUser('alice', 'unknown', {});
    // @ts-expect-error a payload of the wrong shape
    await notifications.publishToTopic('news', 'badge', { unread: 'three' });
    // @ts-expect-error a missing required field
    await notifications.publish({ userIds: ['alice'] }, 'todo', { due: 'today' });
  });

  it('narrows what a client receives by its type', () => {
    const received = { type: 'badge', id: '1-0', data: { unread: 2 } } as SseEventOf<AppEvents>;
    const unread = received.type === 'badge' ? received.data.unread : received.data.title.length;
    expect(unread).toBe(2);
    // @ts-expect-error `title` exists only on todo events
    void received.data.title;
  });

  it('keeps untyped use possible', async () => {
    const notifications = service<Record<string, unknown>>();
    await expect(notifications.publishToUser('alice', 'anything', [1, 2, 3])).resolves.toMatch(/^\d+-\d+$/);
  });
});
