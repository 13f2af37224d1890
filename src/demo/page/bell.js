// The bell: the list of notifications this tab received, and the unread count on its badge.
// The count is this tab's own for now; an inbox on the server (sse.inbox) would give it instead.
import { session } from './session.js';

const $ = (id) => document.getElementById(id);
let notifications = session.get('notifications') ?? [];

/** Shows any event as a notification: its `title` or `text`, else its data as JSON. */
export function addNotification({ id, type, data }) {
  const text = typeof data === 'string' ? data : (data?.title ?? data?.text ?? JSON.stringify(data));
  notifications.unshift({ id, type, text, at: Date.now(), read: false });
  notifications = notifications.slice(0, 100);
  render();
}

export function markAllRead() {
  notifications.forEach((n) => (n.read = true));
  render();
}

export function clearNotifications() {
  notifications = [];
  render();
}

export function render() {
  session.set('notifications', notifications);
  $('notifications').replaceChildren(...notifications.map(item));
  $('empty').hidden = notifications.length > 0;
  const unread = notifications.filter((n) => !n.read).length;
  $('badge').hidden = unread === 0;
  $('badge').textContent = String(unread);
  $('bell').setAttribute('aria-label', `Notifications: ${unread} unread`);
}

function item(n) {
  const li = document.createElement('li');
  li.className = `notification${n.read ? '' : ' unread'}`;
  li.dataset.id = n.id;
  li.tabIndex = 0;
  const type = Object.assign(document.createElement('span'), { className: 'type', textContent: n.type });
  const text = Object.assign(document.createElement('span'), { textContent: n.text });
  const time = Object.assign(document.createElement('time'), { textContent: new Date(n.at).toLocaleTimeString() });
  li.append(type, text, time);
  const markRead = () => {
    n.read = true;
    render();
  };
  li.addEventListener('click', markRead);
  li.addEventListener('keydown', (e) => e.key === 'Enter' && markRead());
  return li;
}
