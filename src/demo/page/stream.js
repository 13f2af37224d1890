// The user's stream, two ways: the SSE client (the default), or the browser's own EventSource with a cookie.
import { SseClient } from '/client.js';
import { currentToken } from './session.js';

/**
 * The client: every event whatever its type, one stream for all of this user's tabs, the token asked for on
 * every attempt (a new one after a 401), resumed after the last id (kept in sessionStorage across reloads).
 */
export function openClientStream(auth, topics, view) {
  const client = new SseClient({
    url: '/sse',
    topics,
    userId: auth.userId,
    getToken: ({ refresh }) => currentToken(refresh),
    storage: sessionStorage,
  });
  client.onAny((event) => view.event(event));
  client.onLoss(() => view.loss());
  client.onState((state) => view.state(state, { holder: client.holdsStream, lastEventId: client.lastEventId }));
  client.connect();
  return { close: () => client.close(), signOut: () => client.signOut(), inboxStream: client };
}

/** Tells the user's other tabs (connected or not here) that this user signed out. */
export function signOutEverywhere(userId) {
  new SseClient({ url: '/sse', userId }).signOut();
}

/**
 * The documented alternative: the browser's EventSource, which cannot send a header (the HttpOnly cookie carries
 * the token), cannot see why a request was refused (a 429 looks like any failure), and hands a named event only to
 * a listener of that name: this mode hears the types the publish form suggests and those published from this tab.
 */
export function openNativeStream(auth, topics, lastEventId, types, view) {
  const inboxStream = nativeInboxStream();
  const query = new URLSearchParams();
  if (topics.length) query.set('topics', topics.join(','));
  // EventSource sends Last-Event-ID only on its own reconnects: the query carries it after a Disconnect.
  if (lastEventId) query.set('lastEventId', lastEventId);
  const source = new EventSource(`/sse?${query}`, { withCredentials: true });
  let lastId = lastEventId;
  const heard = (event) => {
    lastId = event.lastEventId || lastId;
    return lastId;
  };
  const listen = (type) =>
    source.addEventListener(type, (event) => view.event({ type, id: heard(event), data: JSON.parse(event.data) }));
  const setState = (state, id) => {
    inboxStream.tell('state', state);
    view.state(state, { lastEventId: id });
  };
  setState({ status: 'connecting' }, lastEventId);
  source.addEventListener('open', () => setState({ status: 'open' }, lastId));
  source.addEventListener('sse.ready', (event) => setState({ status: 'open' }, heard(event)));
  source.addEventListener('sse.loss', (event) => {
    heard(event);
    view.loss();
    inboxStream.tell('loss', JSON.parse(event.data));
  });
  source.addEventListener('sse.inbox', (event) => inboxStream.tell('sse.inbox', JSON.parse(event.data)));
  source.addEventListener('sse.close', (event) => {
    source.close();
    setState({ status: 'closed', reason: JSON.parse(event.data).reason }, lastId);
  });
  source.addEventListener('error', () => {
    setState(source.readyState === EventSource.CLOSED ? { status: 'closed', reason: 'failed' } : { status: 'reconnecting' }, lastId);
  });
  const known = new Set();
  const hear = (type) => {
    if (known.has(type)) return;
    known.add(type);
    listen(type);
  };
  types.forEach(hear);
  return { close: () => source.close(), hear, lastEventId: () => lastId, inboxStream };
}

/** What the inbox follows, as it follows the SSE client: the stream's state, its sse.inbox events and its losses. */
function nativeInboxStream() {
  const listeners = { state: new Set(), 'sse.inbox': new Set(), loss: new Set() };
  const add = (kind, listener) => (listeners[kind].add(listener), () => listeners[kind].delete(listener));
  return {
    state: { status: 'connecting' },
    on: (type, handler) => add(type, handler),
    onState: (listener) => add('state', listener),
    onLoss: (listener) => add('loss', listener),
    tell(kind, value) {
      if (kind === 'state') this.state = value;
      listeners[kind].forEach((listener) => listener(value));
    },
  };
}
