import { jest } from '@jest/globals';
import type { Page } from 'playwright-core';
import { TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import {
  connect,
  type DemoBrowser,
  listedNotifications,
  pageSuite,
  recordRequests,
  screenshot,
  signIn,
  WAIT_MS,
  waitForBadge,
  waitForCount,
} from './harness/demo-page.js';
import { getInbox, mark } from './harness/inbox-api.js';
import { signToken } from './harness/tokens.js';
import { eventually } from './harness/waiting.js';

/**
 * The demo page's bell on the user's inbox (the client's inbox add-on), in a
 * real Chromium: the badge is the server's unread count, in a new tab at once;
 * a read, a mark-all and an archive in one tab show in the user's other tabs,
 * which share one stream.
 */

jest.setTimeout(45_000);

let server: DemoServer;
let browser: DemoBrowser;
pageSuite({ demoTokens: true }, (started, launched) => ([server, browser] = [started, launched]));

const user = (name: string) => `bell-${name}-${TEST_ADAPTER}`;

const keep = (userId: string, title: string, type = 'todo') => server.publishId({ userId, type, data: { title }, inbox: true });

/** Whether each listed item shows as unread, by id. */
async function unreadById(tab: Page): Promise<Record<string, boolean>> {
  return Object.fromEntries((await listedNotifications(tab)).map((n) => [n.id, n.unread]));
}

async function waitForNoBadge(tab: Page): Promise<void> {
  await tab.locator('#badge').waitFor({ state: 'hidden', timeout: WAIT_MS });
}

describe(`the bell on the inbox in Chromium (${TEST_ADAPTER})`, () => {
  it('a new tab shows the server\'s count at once, and what was published while the user was away, before any stream', async () => {
    const userId = user('away');
    // Published while the user had no tab open; one of them read on another device.
    const ids = [await keep(userId, 'Call Bob'), await keep(userId, 'Water the plants'), await keep(userId, 'Book the flights')];
    await mark(server.url, await signToken(userId), 'read', { ids: [ids[1]] });

    const tab = await browser.openPage(server.url);
    const streams = recordRequests(tab, '/sse');
    await signIn(tab, userId);
    await waitForBadge(tab, '2');
    expect(await tab.getAttribute('#bell', 'aria-label')).toBe('Notifications: 2 unread');
    expect(await listedNotifications(tab)).toEqual([
      { id: ids[2], type: 'todo', text: 'Book the flights', unread: true },
      { id: ids[1], type: 'todo', text: 'Water the plants', unread: false },
      { id: ids[0], type: 'todo', text: 'Call Bob', unread: true },
    ]);
    // From GET /inbox: no stream was opened for it.
    expect(streams).toHaveLength(0);

    // A tab opened after that one (its own session, as a new tab has) shows the same at once.
    const another = await browser.openPage(server.url, tab.context());
    await signIn(another, userId);
    await waitForBadge(another, '2');
    expect(await unreadById(another)).toEqual(await unreadById(tab));
  });

  it('two tabs of one user: a read in one drops the badge in both; "Mark all as read" clears both; an archived item leaves both, and the Archived view lists it', async () => {
    const userId = user('two-tabs');
    const context = await browser.newContext();
    const tabs = await Promise.all(
      [true, false].map(async (admin) => {
        const tab = await browser.openPage(server.url, context);
        await signIn(tab, userId, { admin });
        await connect(tab);
        return tab;
      }),
    );
    // One stream for both: one tab holds it, and the other hears its events through it.
    await eventually(async () => (await server.stats()).streams === 1, WAIT_MS, 'one stream');
    const roles = await Promise.all(tabs.map((tab) => tab.getAttribute('#state', 'data-role')));
    const holder = tabs[roles.indexOf('holder')];
    const follower = tabs[roles.indexOf('follower')];
    expect([holder, follower].every(Boolean)).toBe(true);

    const ids = [await keep(userId, 'Call Bob'), await keep(userId, 'Stand-up at 9:30', 'reminder')];
    // And one from the page's own admin form, which keeps it in the inbox too.
    const admin = tabs[0];
    await admin.selectOption('#target-kind', 'userId');
    await admin.fill('#target', userId);
    await admin.fill('#message', 'Review the release notes');
    await admin.click('#publish button[type=submit]');
    await admin.locator('#publish-result', { hasText: 'Published, id' }).waitFor();
    ids.push((await admin.textContent('#publish-result'))!.replace('Published, id ', ''));
    for (const tab of tabs) {
      await waitForBadge(tab, '3');
      // Heard live, then listed from the inbox, fetched again on its sse.inbox.
      await waitForCount(tab, '#notifications .notification.unread', 3);
    }
    expect((await getInbox(server.url, await signToken(userId))).json.unread).toBe(3);

    // Read in the tab that holds the stream: the other learns it only through the stream the tabs share.
    await holder.click(`#notifications [data-id="${ids[0]}"]`);
    for (const tab of tabs) await waitForBadge(tab, '2');
    for (const tab of tabs) {
      await tab.locator(`#notifications [data-id="${ids[0]}"]:not(.unread)`).waitFor();
      expect(await unreadById(tab)).toEqual({ [ids[2]]: true, [ids[1]]: true, [ids[0]]: false });
    }
    await screenshot(admin, 'bell-two-tabs');

    // Mark all as read in the other one.
    await follower.click('#mark-read');
    for (const tab of tabs) await waitForNoBadge(tab);
    for (const tab of tabs) {
      await tab.waitForFunction(() => document.querySelectorAll('#notifications .notification.unread').length === 0, null, { timeout: WAIT_MS });
      expect(await tab.getAttribute('#bell', 'aria-label')).toBe('Notifications: 0 unread');
      expect(Object.keys(await unreadById(tab))).toEqual([ids[2], ids[1], ids[0]]);
    }

    // Archive one: it leaves both lists, and the Archived view lists it.
    await follower.click(`#notifications [data-id="${ids[1]}"] button:text("Archive")`);
    for (const tab of tabs) await tab.locator(`#notifications [data-id="${ids[1]}"]`).waitFor({ state: 'detached' });
    await holder.click('#view-archived');
    await holder.locator(`#notifications [data-id="${ids[1]}"]`).waitFor();
    expect((await listedNotifications(holder)).map((n) => n.id)).toEqual([ids[1]]);
    expect(await holder.getAttribute('#view-archived', 'aria-pressed')).toBe('true');
    expect(await follower.$$eval('#notifications .notification', (items) => items.length)).toBe(2);
  });
});
