// The bell: the user's inbox, kept on the server and read with the client's inbox add-on. The badge is the server's
// unread count, the same in every tab and device; the list is one view of the inbox (all, unread or archived), kept
// live by the stream's sse.inbox events. Events this tab heard that the inbox does not keep are listed too, in the
// "all" view, marked "live".
import { InboxClient } from '/client.js';
import { currentToken, session } from './session.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['all', 'unread', 'archived'];
let inbox = null; // the signed-in user's InboxClient
let view = 'all';
/** Why the user's last change was refused, until the next one. */
let refused = '';
/**
 * Events this tab heard, newest first: { id, type, text, at, after, kept } (`after`: where a notice without id goes;
 * `kept`: the inbox has it, so it is listed from there).
 */
let live = session.get('live') ?? [];

const textOf = (data) => (typeof data === 'string' ? data : (data?.title ?? data?.text ?? JSON.stringify(data)));

/** Opens the signed-in user's inbox: its count at once, then the first page of the view. */
export function openInbox() {
  closeInbox();
  inbox = new InboxClient({ url: '/inbox', getToken: ({ refresh }) => currentToken(refresh) });
  inbox.onState(render);
  // A failure shows in the state (and is tried again when that may help).
  inbox.show(view).catch(() => undefined);
}

export function closeInbox() {
  inbox?.close();
  inbox = null;
  render();
}

/** Keeps the inbox live with a stream (the SSE client, or the native one's stand-in); returns what stops it. */
export function followStream(stream) {
  return inbox?.follow(stream) ?? (() => undefined);
}

/** An event this tab heard (or a notice, without id). */
export function addLive({ id, type, data }) {
  live.unshift({ id, type, text: textOf(data), at: Date.now(), after: id || live[0]?.after || '' });
  live = live.slice(0, 100);
  render();
}

export function clearLive() {
  live = [];
  render();
}

export function markAllRead() {
  if (inbox) change(inbox.markRead('all'));
}

export function showView(name) {
  view = name;
  inbox?.show(view).catch(() => undefined);
  render();
}

export function loadMore() {
  inbox?.more().catch(() => undefined);
}

/** A change the user asked for: its outcome comes as the inbox's new state, or as its refusal. */
function change(request) {
  refused = '';
  request.catch((err) => {
    refused = `The inbox refused: ${err.message}`;
    render();
  });
}

export function render() {
  const state = inbox?.state;
  const items = (state?.items ?? []).map((item) => ({ ...item, text: textOf(item.data), at: item.createdAt, after: item.id }));
  const inInbox = new Set(items.map((item) => item.id));
  live.forEach((n) => (n.kept ||= inInbox.has(n.id)));
  session.set('live', live);
  const heard = view === 'all' ? live.filter((n) => !n.kept).map((n) => ({ ...n, live: true })) : [];
  const listed = newestFirst(items, heard);
  $('notifications').replaceChildren(...listed.map(entry));
  $('empty').hidden = listed.length > 0;
  const unread = state?.unread ?? 0;
  $('badge').hidden = unread === 0;
  $('badge').textContent = String(unread);
  $('bell').setAttribute('aria-label', `Notifications: ${unread} unread`);
  $('more').hidden = !state?.more;
  $('mark-read').disabled = !inbox;
  $('inbox-error').textContent = state?.error ? `The inbox could not be fetched: ${state.error.message}` : refused;
  for (const name of VIEWS) $(`view-${name}`).setAttribute('aria-pressed', String(name === view));
}

/** Event ids (`<ms>-<seq>`) in order; one without (a notice) goes where it was heard. */
function compareIds(a, b) {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Two lists, each newest first, as one. */
function newestFirst(a, b) {
  const merged = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const fromA = j >= b.length || (i < a.length && compareIds(a[i].after, b[j].after) >= 0);
    merged.push(fromA ? a[i++] : b[j++]);
  }
  return merged;
}

function button(text, action) {
  const el = Object.assign(document.createElement('button'), { type: 'button', className: 'secondary small', textContent: text });
  el.addEventListener('click', (event) => {
    event.stopPropagation();
    change(action());
  });
  return el;
}

function entry(n) {
  const unread = !n.live && !n.readAt && !n.archivedAt;
  const li = document.createElement('li');
  li.className = `notification${unread ? ' unread' : ''}${n.live ? ' live' : ''}`;
  li.dataset.id = n.id;
  const type = Object.assign(document.createElement('span'), { className: 'type', textContent: n.type });
  const text = Object.assign(document.createElement('span'), { textContent: n.text });
  const time = Object.assign(document.createElement('time'), { textContent: new Date(n.at).toLocaleTimeString() });
  const actions = Object.assign(document.createElement('span'), { className: 'actions' });
  li.append(type, text, time, actions);
  if (n.live) {
    actions.append(Object.assign(document.createElement('span'), { className: 'tag', textContent: 'live', title: 'Not kept in the inbox' }));
    return li;
  }
  if (!n.archivedAt) {
    if (n.readAt) actions.append(button('Mark unread', () => inbox.markUnread([n.id])));
    actions.append(button('Archive', () => inbox.archive([n.id])));
  }
  if (unread) {
    li.tabIndex = 0;
    const markRead = () => change(inbox.markRead([n.id]));
    li.addEventListener('click', markRead);
    li.addEventListener('keydown', (e) => e.key === 'Enter' && markRead());
  }
  return li;
}
