// The demo page: sign-in, the user's stream (the SSE client, or native EventSource), the bell (the user's inbox on
// the server), publishing, the chat.
import { addLive, clearLive, closeInbox, followStream, loadMore, markAllRead, openInbox, render as renderBell, showView } from './bell.js';
import { ask, renderChat, resumeAnswer, stopAnswer } from './chat.js';
import { clearCookie, requestToken, session } from './session.js';
import { openClientStream, openNativeStream, signOutEverywhere } from './stream.js';

const $ = (id) => document.getElementById(id);
let auth = session.get('auth'); // { token, userId, admin, transport }
let stream = null; // this tab's stream while it runs (a closed-for-good one is dropped)

// ---- the stream and its state --------------------------------------------------------------

const clock = (at) => new Date(at).toLocaleTimeString();

/** What the user reads about the stream: a short label, a longer detail, and `data-state` for styling and tests. */
function describe(state, holder) {
  switch (state.status) {
    case 'open':
      return {
        kind: 'open',
        label: 'open',
        detail: holder === false ? 'Another tab of this user holds the stream; this one gets its events from it.' : 'This tab holds the stream.',
      };
    case 'reconnecting':
      return { kind: 'reconnecting', label: 'reconnecting', detail: state.retryAt ? `Trying again at ${clock(state.retryAt)}.` : '' };
    case 'closed':
      break;
    default:
      return { kind: state.status, label: state.status, detail: '' };
  }
  switch (state.reason) {
    case 'too-many-connections':
      return {
        kind: 'refused',
        label: 'too many connections',
        detail: `Every stream this user may hold is open elsewhere (${state.message}). This tab tries again at ${clock(state.retryAt)}, not sooner.`,
      };
    case 'unauthorized':
      return { kind: 'refused', label: 'signed out (token refused)', detail: state.message ?? '' };
    case 'refused':
      return { kind: 'refused', label: `refused (${state.httpStatus})`, detail: state.message ?? '' };
    case 'closed-by-server':
      return { kind: 'closed', label: 'closed by the server', detail: 'The server closed this stream on purpose; it does not reconnect.' };
    default:
      return { kind: 'closed', label: 'closed', detail: '' };
  }
}

function showState(state, { holder, lastEventId } = {}) {
  const final = state.status === 'closed' && state.retryAt === undefined;
  if (final) stream = null;
  if (state.reason === 'signed-out') return signedOut();
  const { kind, label, detail } = describe(state, holder);
  const el = $('state');
  el.textContent = label;
  el.className = `state state-${kind}`;
  el.dataset.state = kind;
  if (kind === 'open') el.dataset.role = holder === false ? 'follower' : 'holder';
  else delete el.dataset.role;
  $('state-detail').textContent = detail;
  if (lastEventId) $('last-id').textContent = lastEventId;
  renderButtons();
}

function renderButtons() {
  $('connect').disabled = !auth || stream !== null;
  $('disconnect').disabled = stream === null;
}

const view = {
  event: (event) => {
    $('last-id').textContent = event.id;
    addLive(event);
  },
  loss: () => addLive({ id: '', type: 'notice', data: 'Some notifications could not be replayed; the list may be incomplete.' }),
  state: showState,
};

function topics() {
  return $('topics').value.split(',').map((t) => t.trim()).filter(Boolean);
}

/** The event types the native EventSource listens for: the publish form's suggestions (it cannot listen to "any"). */
function suggestedTypes() {
  return [...document.querySelectorAll('#type-suggestions option')].map((option) => option.value);
}

function connect() {
  if (!auth || stream) return;
  if (auth.transport === 'cookie') {
    const lastId = session.get(`lastEventId:${auth.userId}`);
    const native = openNativeStream(auth, topics(), lastId, suggestedTypes(), {
      ...view,
      event: (event) => (session.set(`lastEventId:${auth.userId}`, event.id), view.event(event)),
    });
    stream = { ...native, close: () => (session.set(`lastEventId:${auth.userId}`, native.lastEventId()), native.close()) };
  } else {
    stream = openClientStream(auth, topics(), view);
  }
  stream.unfollow = followStream(stream.inboxStream);
  renderButtons();
}

function disconnect() {
  const current = stream;
  stream = null;
  current?.unfollow();
  current?.close();
  showState({ status: 'closed', reason: 'stopped' });
}

// ---- sign-in -------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const userId = $('user').value.trim();
  const admin = $('admin').checked;
  const transport = document.querySelector('input[name=transport]:checked').value;
  let token;
  try {
    token = await requestToken(userId, admin);
  } catch (err) {
    $('who').textContent = `Sign-in refused: ${err.message}`;
    return;
  }
  disconnect();
  if (auth && auth.userId !== userId) clearLive();
  auth = { token, userId, admin, transport };
  session.set('auth', auth);
  openInbox();
  renderAuth();
}

/** Signs out here, and in every other tab of this user (the client tells them). */
function signOut() {
  if (!auth) return;
  const { userId } = auth;
  if (stream?.signOut) stream.signOut();
  else signOutEverywhere(userId);
  signedOut();
}

function signedOut() {
  if (!auth) return;
  const current = stream;
  stream = null;
  current?.unfollow();
  current?.close();
  closeInbox();
  auth = null;
  session.remove('auth');
  clearCookie();
  renderAuth();
  showState({ status: 'closed', reason: 'stopped' });
}

function renderAuth() {
  $('who').textContent = auth
    ? `Signed in as ${auth.userId}${auth.admin ? ' (admin)' : ''}, using ${auth.transport === 'cookie' ? 'native EventSource with a cookie' : 'the SSE client'}.`
    : 'Not signed in.';
  $('signout').disabled = !auth;
  $('admin-card').hidden = !auth?.admin;
  renderChat(auth !== null);
  renderButtons();
}

// ---- publishing (admins) -------------------------------------------------------------------

async function publish(event) {
  event.preventDefault();
  const kind = $('target-kind').value;
  const type = $('type').value.trim();
  const body = { type, data: { text: $('message').value }, inbox: $('publish-inbox').checked };
  if (kind === 'broadcast') body.broadcast = true;
  else body[kind] = $('target').value.trim();
  stream?.hear?.(type);
  const response = await fetch('/notifications', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.get('auth').token}` },
    body: JSON.stringify(body),
  });
  const result = await response.json();
  $('publish-result').textContent = response.ok ? `Published, id ${result.id}` : `Refused: ${[].concat(result.message).join('; ')}`;
}

// ---- wiring --------------------------------------------------------------------------------

$('signin').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
$('connect').addEventListener('click', connect);
$('disconnect').addEventListener('click', disconnect);
$('mark-read').addEventListener('click', markAllRead);
$('more').addEventListener('click', loadMore);
for (const name of ['all', 'unread', 'archived']) $(`view-${name}`).addEventListener('click', () => showView(name));
$('bell').addEventListener('click', () => $('notifications').scrollIntoView({ behavior: 'smooth' }));
$('publish').addEventListener('submit', publish);
$('target-kind').addEventListener('change', () => ($('target-label').hidden = $('target-kind').value === 'broadcast'));
$('chat').addEventListener('submit', (event) => {
  event.preventDefault();
  const message = $('chat-input').value.trim();
  if (!auth || !message) return;
  $('chat-input').value = '';
  void ask(message);
});
$('chat-stop').addEventListener('click', stopAnswer);

if (auth) {
  $('user').value = auth.userId;
  $('admin').checked = auth.admin;
  document.querySelector(`input[name=transport][value=${auth.transport}]`).checked = true;
  openInbox();
}
renderAuth();
renderBell();
void resumeAnswer();
