// The demo page: a notification bell fed by one SSE stream, and a chat whose answer streams over a POST.
import { EventSource as HeaderEventSource } from 'eventsource';
import { EventSourceParserStream } from 'eventsource-parser/stream';

/** Event types the bell shows (EventSource dispatches named events only to listeners of that name). */
const NOTIFICATION_TYPES = ['todo', 'reminder', 'announcement', 'progress', 'notification', 'message'];
const CHAT_ENDINGS = new Set(['done', 'error', 'cancelled', 'sse.loss', 'sse.close']);

const $ = (id) => document.getElementById(id);
const session = {
  get: (key) => JSON.parse(sessionStorage.getItem(key) ?? 'null'),
  set: (key, value) => sessionStorage.setItem(key, JSON.stringify(value)),
  remove: (key) => sessionStorage.removeItem(key),
};

let auth = session.get('auth'); // { token, userId, admin, transport }
let source = null; // the one open stream of this tab
let notifications = session.get('notifications') ?? [];

// ---- connection state ----------------------------------------------------------------

function setState(state, label = state) {
  const el = $('state');
  el.textContent = label;
  el.className = `state state-${state}`;
  el.dataset.state = state;
  $('connect').disabled = !auth || source !== null;
  $('disconnect').disabled = source === null;
}

function rememberLastId(id) {
  if (!id) return;
  session.set(`lastEventId:${auth.userId}`, id);
  $('last-id').textContent = id;
}

function storedLastId() {
  return auth ? session.get(`lastEventId:${auth.userId}`) : null;
}

function connect() {
  if (!auth || source) return; // never a second stream by accident
  const topics = $('topics').value.split(',').map((t) => t.trim()).filter(Boolean);
  const query = new URLSearchParams();
  if (topics.length) query.set('topics', topics.join(','));
  const lastId = storedLastId();
  if (auth.transport === 'cookie') {
    // Native EventSource sends no headers: the cookie carries the token, and the query the resume point.
    if (lastId) query.set('lastEventId', lastId);
    source = new EventSource(`/sse?${query}`, { withCredentials: true });
  } else {
    source = new HeaderEventSource(`/sse?${query}`, {
      fetch: (input, init) => {
        const headers = new Headers(init.headers);
        headers.set('Authorization', `Bearer ${auth.token}`);
        // After a Disconnect the client starts afresh: resume from where this tab got to.
        if (!headers.has('Last-Event-ID') && storedLastId()) headers.set('Last-Event-ID', storedLastId());
        return fetch(input, { ...init, headers });
      },
    });
  }
  setState('connecting');
  const stream = source;
  stream.addEventListener('open', () => stream === source && setState('open'));
  stream.addEventListener('error', (event) => {
    if (stream !== source) return;
    if (stream.readyState === 2) {
      // Closed for good: the browser's EventSource, like this client, does not retry a refused request.
      source = null;
      if (event.code === 429) setState('refused', 'too many connections');
      else if (event.code === 401) setState('refused', 'signed out (token refused)');
      else setState('closed');
    } else {
      setState('reconnecting');
    }
  });
  stream.addEventListener('sse.ready', (event) => rememberLastId(event.lastEventId));
  stream.addEventListener('sse.loss', (event) => {
    rememberLastId(event.lastEventId);
    addNotification({ id: event.lastEventId, type: 'notice', text: 'Some notifications could not be replayed; the list may be incomplete.' });
  });
  stream.addEventListener('sse.close', () => disconnect());
  for (const type of NOTIFICATION_TYPES) {
    stream.addEventListener(type, (event) => {
      rememberLastId(event.lastEventId);
      const data = JSON.parse(event.data);
      addNotification({ id: event.lastEventId, type, text: typeof data === 'string' ? data : data?.text ?? JSON.stringify(data) });
    });
  }
}

function disconnect() {
  if (!source) return;
  source.close();
  source = null;
  setState('closed');
}

// ---- notifications and the bell --------------------------------------------------------

function addNotification({ id, type, text }) {
  if (notifications.some((n) => n.id === id && n.type === type)) return;
  notifications.unshift({ id, type, text, at: Date.now(), read: false });
  notifications = notifications.slice(0, 100);
  renderNotifications();
}

function renderNotifications() {
  session.set('notifications', notifications);
  const list = $('notifications');
  list.replaceChildren(
    ...notifications.map((n) => {
      const item = document.createElement('li');
      item.className = `notification${n.read ? '' : ' unread'}`;
      item.dataset.id = n.id;
      item.tabIndex = 0;
      const type = Object.assign(document.createElement('span'), { className: 'type', textContent: n.type });
      const text = Object.assign(document.createElement('span'), { textContent: n.text });
      const time = Object.assign(document.createElement('time'), { textContent: new Date(n.at).toLocaleTimeString() });
      item.append(type, text, time);
      const markRead = () => {
        n.read = true;
        renderNotifications();
      };
      item.addEventListener('click', markRead);
      item.addEventListener('keydown', (e) => e.key === 'Enter' && markRead());
      return item;
    }),
  );
  $('empty').hidden = notifications.length > 0;
  const unread = notifications.filter((n) => !n.read).length;
  $('badge').hidden = unread === 0;
  $('badge').textContent = String(unread);
  $('bell').setAttribute('aria-label', `Notifications: ${unread} unread`);
}

// ---- sign-in ---------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const userId = $('user').value.trim();
  const admin = $('admin').checked;
  const transport = document.querySelector('input[name=transport]:checked').value;
  const response = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId, admin }),
  });
  if (!response.ok) {
    $('who').textContent = `Sign-in refused: ${(await response.json()).message}`;
    return;
  }
  const { token } = await response.json();
  disconnect();
  auth = { token, userId, admin, transport };
  session.set('auth', auth);
  renderAuth();
}

function signOut() {
  disconnect();
  auth = null;
  session.remove('auth');
  renderAuth();
  // The cookie of the native EventSource is HttpOnly: only the server can clear it.
  void fetch('/demo/token', { method: 'DELETE' });
}

function renderAuth() {
  $('who').textContent = auth
    ? `Signed in as ${auth.userId}${auth.admin ? ' (admin)' : ''}, using ${auth.transport === 'cookie' ? 'native EventSource with a cookie' : 'eventsource with a header'}.`
    : 'Not signed in.';
  $('signout').disabled = !auth;
  $('admin-card').hidden = !auth?.admin;
  $('chat-send').disabled = !auth;
  $('last-id').textContent = storedLastId() ?? 'none';
  setState(source ? $('state').dataset.state : 'closed');
}

// ---- publishing (admins) ---------------------------------------------------------------

async function publish(event) {
  event.preventDefault();
  const kind = $('target-kind').value;
  const body = { type: $('type').value, data: { text: $('message').value } };
  if (kind === 'broadcast') body.broadcast = true;
  else body[kind] = $('target').value.trim();
  const response = await fetch('/notifications', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${auth.token}` },
    body: JSON.stringify(body),
  });
  const result = await response.json();
  $('publish-result').textContent = response.ok ? `Published, id ${result.id}` : `Refused: ${[].concat(result.message).join('; ')}`;
}

// ---- chat --------------------------------------------------------------------------------

let chatAbort = null;

function bubble(kind, text) {
  const el = Object.assign(document.createElement('div'), { className: `bubble ${kind}`, textContent: text });
  $('chat-log').append(el);
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
  return el;
}

async function readAnswer(response, answer, el) {
  if (!response.ok) {
    $('chat-state').textContent = `Refused (${response.status})`;
    return;
  }
  const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    if (event.event === 'chat') answer.id = JSON.parse(event.data).id;
    if (event.event === 'token') {
      answer.text += JSON.parse(event.data);
      el.textContent = answer.text;
    }
    if (event.id) answer.lastEventId = event.id;
    session.set('answer', answer);
    if (CHAT_ENDINGS.has(event.event)) {
      finishAnswer(answer, el, event.event, event.data);
      return;
    }
  }
  // The response ended before the answer did (e.g. the server restarted): it stays resumable.
  chatAbort = null;
  $('chat-stop').disabled = true;
  $('chat-send').disabled = !auth;
  $('chat-state').textContent = 'Connection lost; reload to resume the answer.';
  $('chat-state').dataset.state = 'interrupted';
}

function finishAnswer(answer, el, ending, data) {
  session.remove('answer');
  chatAbort = null;
  $('chat-stop').disabled = true;
  $('chat-send').disabled = !auth;
  const messages = { done: 'Answer complete.', cancelled: 'Answer stopped.', 'sse.loss': 'Part of the answer was lost.' };
  if (ending === 'error') el.classList.add('failed');
  $('chat-state').textContent = ending === 'error' ? `The assistant failed: ${JSON.parse(data).message}` : messages[ending] ?? 'Answer ended.';
  $('chat-state').dataset.state = ending;
}

async function streamAnswer(request, answer, el) {
  chatAbort = new AbortController();
  $('chat-stop').disabled = false;
  $('chat-send').disabled = true;
  $('chat-state').textContent = 'The assistant is answering…';
  $('chat-state').dataset.state = 'streaming';
  try {
    await readAnswer(await fetch(request.url, { ...request, signal: chatAbort.signal }), answer, el);
  } catch (err) {
    if (err.name !== 'AbortError') $('chat-state').textContent = 'Connection lost; reload to resume the answer.';
  }
}

async function ask(event) {
  event.preventDefault();
  if (!auth || chatAbort) return;
  const message = $('chat-input').value.trim();
  $('chat-input').value = '';
  bubble('user', message);
  const answer = { id: null, lastEventId: null, text: '', question: message };
  await streamAnswer(
    {
      url: '/chat',
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${auth.token}` },
      body: JSON.stringify({ message }),
    },
    answer,
    bubble('assistant', ''),
  );
}

/** After a reload mid-answer: show what arrived, then fetch the rest after the last event received. */
async function resumeAnswer() {
  const answer = session.get('answer');
  if (!auth || !answer?.id) return;
  bubble('user', answer.question);
  const el = bubble('assistant', answer.text);
  const headers = { Authorization: `Bearer ${auth.token}` };
  if (answer.lastEventId) headers['Last-Event-ID'] = answer.lastEventId;
  await streamAnswer({ url: `/chat/${encodeURIComponent(answer.id)}`, method: 'GET', headers }, answer, el);
}

async function stopAnswer() {
  const answer = session.get('answer');
  chatAbort?.abort();
  if (answer?.id) {
    await fetch(`/chat/${encodeURIComponent(answer.id)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${auth.token}` } });
  }
  session.remove('answer');
  chatAbort = null;
  $('chat-stop').disabled = true;
  $('chat-send').disabled = !auth;
  $('chat-state').textContent = 'Answer stopped.';
  $('chat-state').dataset.state = 'cancelled';
}

// ---- wiring ------------------------------------------------------------------------------

$('signin').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
$('connect').addEventListener('click', connect);
$('disconnect').addEventListener('click', disconnect);
$('mark-read').addEventListener('click', () => {
  notifications.forEach((n) => (n.read = true));
  renderNotifications();
});
$('bell').addEventListener('click', () => $('notifications').scrollIntoView({ behavior: 'smooth' }));
$('publish').addEventListener('submit', publish);
$('target-kind').addEventListener('change', () => ($('target-label').hidden = $('target-kind').value === 'broadcast'));
$('chat').addEventListener('submit', ask);
$('chat-stop').addEventListener('click', stopAnswer);

if (auth) {
  $('user').value = auth.userId;
  $('admin').checked = auth.admin;
}
renderAuth();
renderNotifications();
void resumeAnswer();
