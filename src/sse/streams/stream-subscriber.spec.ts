import { afterEach, jest } from '@jest/globals';
import type { MessageEvent } from '@nestjs/common';
import { Observable, type Subscription } from 'rxjs';
import type { EventPosition } from '../events/event-position.js';
import type { Principal } from '../auth/principal.js';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import type { PublishTarget } from '../events/publish-target.js';
import { CLOSE_EVENT, LOSS_EVENT, READY_EVENT, RESUME_EVENT } from '../../protocol/reserved-events.js';
import { FULL_SCOPE, type StreamScope, StreamSubscriber, type SubscriberSettings } from './stream-subscriber.js';

const SETTINGS: SubscriberSettings = { retryMs: 3000, heartbeatMs: 15_000, maxHeldEvents: 10 };

function principal(overrides: Partial<Principal> = {}): Principal {
  return { userId: 'alice', roles: [], claims: {}, ...overrides };
}

function event(ms: number, seq: number, data = `${ms}-${seq}`, target: PublishTarget = { userIds: ['alice'] }): PublishedEvent {
  return createPublishedEvent({ ms, seq }, target, 'note', data);
}

/** A StreamSubscriber on a real rxjs Subscriber, with what reached the observer. */
function openStream(
  p: Principal = principal(),
  settings: SubscriberSettings = SETTINGS,
  topics: string[] = [],
  scope: StreamScope = FULL_SCOPE,
) {
  const messages: MessageEvent[] = [];
  const state = { completed: false, error: undefined as unknown, tornDown: false };
  let stream!: StreamSubscriber;
  const subscription: Subscription = new Observable<MessageEvent>((sink) => {
    stream = new StreamSubscriber(p, topics, sink, settings, scope);
    return () => {
      state.tornDown = true;
    };
  }).subscribe({
    next: (message) => messages.push(message),
    complete: () => (state.completed = true),
    error: (err) => (state.error = err),
  });
  return { stream, messages, state, subscription };
}

function ready(at: EventPosition, settings: SubscriberSettings = SETTINGS): MessageEvent {
  return {
    id: `${at.ms}-${at.seq}`,
    type: READY_EVENT,
    retry: settings.retryMs,
    data: JSON.stringify({ heartbeatMs: settings.heartbeatMs }),
  };
}

describe('StreamSubscriber', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('listens to its user, its topics and the broadcasts', () => {
    const { stream } = openStream(principal({ userId: 'bob' }), SETTINGS, ['orders', 'news']);
    expect(stream.keys).toEqual(['user:bob', 'topic:orders', 'topic:news', 'all']);
    expect(stream.userId).toBe('bob');
    expect(stream.topics).toEqual(['orders', 'news']);
  });

  it('sends nothing before it starts', () => {
    const { stream, messages } = openStream();
    stream.deliver(event(5, 0));
    stream.heartbeat();
    expect(messages).toEqual([]);
  });

  it('starts with the ready event carrying retry and the start id', () => {
    const settings = { retryMs: 1234, heartbeatMs: 777, maxHeldEvents: 5 };
    const { stream, messages } = openStream(principal(), settings);
    stream.start({ ms: 1000, seq: 2 }, []);
    expect(messages).toEqual([
      { id: '1000-2', type: READY_EVENT, retry: 1234, data: '{"heartbeatMs":777}' },
    ]);
  });

  it('sends the replay after the ready event, then live events', () => {
    const { stream, messages } = openStream();
    stream.start({ ms: 10, seq: 0 }, [event(11, 0), event(12, 0)]);
    stream.deliver(event(13, 0));
    expect(messages).toEqual([ready({ ms: 10, seq: 0 }), event(11, 0).message, event(12, 0).message, event(13, 0).message]);
  });

  it('sends the loss event right after the ready event, with the start id', () => {
    const { stream, messages } = openStream();
    stream.start({ ms: 50, seq: 1 }, [], { reason: 'expired', lastEventId: '3-0' });
    stream.deliver(event(51, 0));
    expect(messages).toEqual([
      ready({ ms: 50, seq: 1 }),
      { id: '50-1', type: LOSS_EVENT, data: JSON.stringify({ reason: 'expired', lastEventId: '3-0' }) },
      event(51, 0).message,
    ]);
  });

  it('holds live events until it starts, then sends them after the replay without duplicates', () => {
    const { stream, messages } = openStream();
    // Arrived live while the replay was being read; 12 and 13 are also in the replay.
    stream.deliver(event(12, 0));
    stream.deliver(event(13, 0));
    stream.deliver(event(14, 0));
    stream.deliver(event(14, 1));
    expect(messages).toEqual([]);
    stream.start({ ms: 10, seq: 0 }, [event(11, 0), event(12, 0), event(13, 0)]);
    expect(messages.map((m) => m.id)).toEqual(['10-0', '11-0', '12-0', '13-0', '14-0', '14-1']);
    expect(messages.slice(1).map((m) => m.data)).toEqual(['11-0', '12-0', '13-0', '14-0', '14-1']);
  });

  it('does not send positions at or before where it started', () => {
    const { stream, messages } = openStream();
    stream.deliver(event(9, 5));
    stream.deliver(event(10, 3));
    stream.start({ ms: 10, seq: 3 }, [event(9, 0), event(10, 3), event(10, 4)]);
    stream.deliver(event(10, 4));
    stream.deliver(event(2, 0));
    stream.deliver(event(10, 5));
    expect(messages.map((m) => m.id)).toEqual(['10-3', '10-4', '10-5']);
  });

  it('does not send a live event twice, nor one older than the newest sent', () => {
    const { stream, messages } = openStream();
    stream.start({ ms: 1, seq: 0 }, []);
    stream.deliver(event(5, 0));
    stream.deliver(event(5, 0));
    stream.deliver(event(4, 9));
    stream.deliver(event(6, 0));
    expect(messages.map((m) => m.id)).toEqual(['1-0', '5-0', '6-0']);
  });

  it('shares the published message object as it is', () => {
    const { stream, messages } = openStream();
    stream.start({ ms: 1, seq: 0 }, []);
    const published = event(2, 0);
    stream.deliver(published);
    expect(messages[1]).toBe(published.message);
  });

  it('ends the stream when too many live events wait for the start', () => {
    const { stream, messages, state } = openStream(principal(), { ...SETTINGS, maxHeldEvents: 2 });
    stream.deliver(event(2, 0));
    stream.deliver(event(3, 0));
    expect(state.completed).toBe(false);
    stream.deliver(event(4, 0));
    expect(state.completed).toBe(true);
    expect(state.tornDown).toBe(true);
    stream.start({ ms: 1, seq: 0 }, []);
    expect(messages).toEqual([]);
  });

  describe('heartbeat', () => {
    it('sends a comment-only message once started, and nothing before', () => {
      const { stream, messages } = openStream();
      stream.heartbeat();
      expect(messages).toEqual([]);
      stream.start({ ms: 1, seq: 0 }, []);
      stream.heartbeat();
      stream.heartbeat();
      expect(messages.slice(1)).toEqual([{ comment: '' }, { comment: '' }]);
      // A comment has no id, type or data: the client's last event id does not move.
      expect(Object.keys(messages[1])).toEqual(['comment']);
    });
  });

  describe('close', () => {
    it('sends the close event at the newest position, then completes', () => {
      const { stream, messages, state } = openStream();
      stream.start({ ms: 1, seq: 0 }, [event(2, 0)]);
      stream.close('closed-by-server');
      expect(messages.at(-1)).toEqual({ id: '2-0', type: CLOSE_EVENT, data: '{"reason":"closed-by-server"}' });
      expect(state.completed).toBe(true);
      expect(state.tornDown).toBe(true);
      // Nothing goes out once closed.
      stream.deliver(event(3, 0));
      stream.heartbeat();
      stream.close('again');
      expect(messages.map((m) => m.type)).toEqual([READY_EVENT, 'note', CLOSE_EVENT]);
    });

    it('only completes a stream that has not started', () => {
      const { stream, messages, state } = openStream();
      stream.close('bye');
      expect(messages).toEqual([]);
      expect(state.completed).toBe(true);
    });

    it('end completes without a close event', () => {
      const { stream, messages, state } = openStream();
      stream.start({ ms: 1, seq: 0 }, []);
      stream.end();
      expect(state.completed).toBe(true);
      expect(messages.map((m) => m.type)).toEqual([READY_EVENT]);
    });

    it('fail errors the stream', () => {
      const { stream, state } = openStream();
      const err = new Error('store down');
      stream.fail(err);
      expect(state.error).toBe(err);
      expect(state.completed).toBe(false);
    });
  });

  describe('token expiry', () => {
    it('completes the stream when the token expires', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const { stream, messages, state } = openStream(principal({ expiresAt: Date.now() + 50 }));
      stream.start({ ms: 1, seq: 0 }, []);
      jest.advanceTimersByTime(49);
      expect(state.completed).toBe(false);
      jest.advanceTimersByTime(1);
      expect(state.completed).toBe(true);
      expect(state.tornDown).toBe(true);
      // Ended, not closed: the client may reconnect with a fresh token.
      expect(messages.map((m) => m.type)).toEqual([READY_EVENT]);
      stream.dispose();
    });

    it('completes at once (on the next tick) when the token has already expired', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const { stream, state } = openStream(principal({ expiresAt: Date.now() - 1000 }));
      expect(state.completed).toBe(false);
      jest.advanceTimersByTime(0);
      expect(state.completed).toBe(true);
      stream.dispose();
    });

    it('completes with real timers too', async () => {
      const { stream, state } = openStream(principal({ expiresAt: Date.now() + 30 }));
      stream.start({ ms: 1, seq: 0 }, []);
      expect(state.completed).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(state.completed).toBe(true);
      stream.dispose();
    });

    it('completes the stream when a long-lived token (past the 24.8-day setTimeout limit) expires', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const thirtyDays = 30 * 24 * 3600 * 1000;
      const { stream, state } = openStream(principal({ expiresAt: Date.now() + thirtyDays }));
      stream.start({ ms: 1, seq: 0 }, []);
      jest.advanceTimersByTime(thirtyDays - 1000);
      expect(state.completed).toBe(false);
      jest.advanceTimersByTime(1000);
      // Principal.expiresAt: "a stream is closed then".
      expect(state.completed).toBe(true);
      stream.dispose();
    });

    it('sets no timer without expiresAt', () => {
      jest.useFakeTimers();
      const { stream, state } = openStream(principal());
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(365 * 24 * 3600 * 1000);
      expect(state.completed).toBe(false);
      stream.dispose();
    });

    it('dispose clears the expiry timer', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const { stream, state } = openStream(principal({ expiresAt: Date.now() + 50 }));
      stream.start({ ms: 1, seq: 0 }, []);
      expect(jest.getTimerCount()).toBe(1);
      stream.dispose();
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(1000);
      expect(state.completed).toBe(false);
    });
  });

  describe('scope', () => {
    const NO_READY: StreamScope = { userEvents: true, broadcasts: true, ready: false };

    it('listens only to the keys its scope asks for', () => {
      const topicsOnly = openStream(principal(), SETTINGS, ['room'], { userEvents: false, broadcasts: false, ready: true });
      expect(topicsOnly.stream.keys).toEqual(['topic:room']);
      const noBroadcasts = openStream(principal(), SETTINGS, [], { userEvents: true, broadcasts: false, ready: true });
      expect(noBroadcasts.stream.keys).toEqual(['user:alice']);
    });

    it('without the ready event, puts retry on the first event only', () => {
      const { stream, messages } = openStream(principal(), SETTINGS, [], NO_READY);
      stream.start({ ms: 1, seq: 0 }, [event(2, 0)]);
      stream.deliver(event(3, 0));
      expect(messages).toEqual([
        { ...event(2, 0).message, retry: 3000 },
        event(3, 0).message,
      ]);
      expect(messages[1]).not.toHaveProperty('retry');
    });

    it('without the ready event, writes nothing at start and no heartbeat before the first event', () => {
      const { stream, messages } = openStream(principal(), SETTINGS, [], NO_READY);
      stream.start({ ms: 1, seq: 0 }, []);
      stream.heartbeat();
      expect(messages).toEqual([]);
      stream.deliver(event(2, 0));
      stream.heartbeat();
      expect(messages).toEqual([{ ...event(2, 0).message, retry: 3000 }, { comment: '' }]);
    });

    it('without the ready event, puts retry on a loss event that comes first', () => {
      const { stream, messages } = openStream(principal(), SETTINGS, [], NO_READY);
      stream.start({ ms: 9, seq: 0 }, [], { reason: 'malformed', lastEventId: 'x' });
      expect(messages).toEqual([
        { id: '9-0', type: LOSS_EVENT, retry: 3000, data: JSON.stringify({ reason: 'malformed', lastEventId: 'x' }) },
      ]);
    });

    it('without the ready event, puts retry on a close event that comes first', () => {
      const { stream, messages, state } = openStream(principal(), SETTINGS, [], NO_READY);
      stream.start({ ms: 9, seq: 0 }, []);
      stream.close('bye');
      expect(messages).toEqual([{ id: '9-0', type: CLOSE_EVENT, retry: 3000, data: '{"reason":"bye"}' }]);
      expect(state.completed).toBe(true);
    });
  });

  describe('a resumable POST stream', () => {
    const POST: StreamScope = { userEvents: false, broadcasts: false, ready: false, resumeUrl: '/chat/42' };

    it('begins with sse.resume at its start position, carrying retry: and the url', () => {
      const { stream, messages } = openStream(principal(), SETTINGS, ['job'], POST);
      stream.start({ ms: 7, seq: 1 }, [event(8, 0, 'x', { topic: 'job' })]);
      expect(messages).toEqual([
        { id: '7-1', type: RESUME_EVENT, retry: 3000, data: '{"url":"/chat/42"}' },
        event(8, 0, 'x', { topic: 'job' }).message,
      ]);
    });

    it('ends after an sse.close among its events, replayed or live, and sends nothing after it', () => {
      const close = createPublishedEvent({ ms: 9, seq: 0 }, { topic: 'job' }, CLOSE_EVENT, '{"reason":"completed"}');
      const replayed = openStream(principal(), SETTINGS, ['job'], POST);
      replayed.stream.start({ ms: 7, seq: 0 }, [event(8, 0, 'x', { topic: 'job' }), close, event(10, 0, 'late', { topic: 'job' })]);
      expect(replayed.messages.map((m) => m.type)).toEqual([RESUME_EVENT, 'note', CLOSE_EVENT]);
      expect(replayed.state.completed).toBe(true);

      const live = openStream(principal(), SETTINGS, ['job'], POST);
      live.stream.start({ ms: 7, seq: 0 }, []);
      live.stream.deliver(close);
      expect(live.state.completed).toBe(true);
      expect(live.messages.at(-1)).toEqual(close.message);
    });
  });
});
