import type { PublishedEvent } from '../events/published-event.js';
import type { BrokerListener } from './broker.js';
import { InMemoryHistoryStore } from './in-memory-history.store.js';
import { LocalBroker } from './local.broker.js';

function listening(broker: LocalBroker): PublishedEvent[] {
  const heard: PublishedEvent[] = [];
  const listener: BrokerListener = { onEvent: (event) => heard.push(event), onDisconnect: () => undefined, onGap: () => undefined };
  broker.listen(listener);
  return heard;
}

describe('LocalBroker', () => {
  it('delivers an unrecorded event live, in order with the others, and keeps it out of the history', async () => {
    const history = new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 });
    const broker = new LocalBroker(history);
    const heard = listening(broker);
    const start = await history.head();
    const first = await broker.publish({ userIds: ['alice'] }, 'todo', '1');
    const unrecorded = await broker.publish({ userIds: ['alice'] }, 'sse.inbox', '{"unread":1}', { record: false });
    const last = await broker.publish({ userIds: ['alice'] }, 'todo', '2');
    expect(heard.map((event) => event.message.id)).toEqual([first.message.id, unrecorded.message.id, last.message.id]);
    const read = await history.read(['user:alice'], start);
    expect(read.events.map((event) => event.message.id)).toEqual([first.message.id, last.message.id]);
    // Its id is a position like any other: a cursor at it resumes with what came after.
    const after = await history.read(['user:alice'], unrecorded.position);
    expect(after.events.map((event) => event.message.id)).toEqual([last.message.id]);
    expect(after.loss).toBeUndefined();
  });

  it('hands a signal to the handlers of its channel only, until they unregister', async () => {
    const broker = new LocalBroker(new InMemoryHistoryStore({ maxEvents: 10, ttlMs: 60_000 }));
    const heard = listening(broker);
    const cancels: string[] = [];
    const others: string[] = [];
    const stop = broker.onSignal('cancel', (data) => cancels.push(data));
    broker.onSignal('other', (data) => others.push(data));
    await broker.signal('cancel', 'job-1');
    await broker.signal('other', 'x');
    stop();
    await broker.signal('cancel', 'job-2');
    expect(cancels).toEqual(['job-1']);
    expect(others).toEqual(['x']);
    // No stream sees a signal.
    expect(heard).toEqual([]);
  });
});
