import { jest } from '@jest/globals';
import type { Page, Request } from 'playwright-core';
import type { DemoServer } from './harness/demo-server.js';
import {
  connect as connectTab,
  type DemoBrowser,
  listedNotifications,
  pageSuite,
  recordRequests,
  screenshot,
  signIn as signInTab,
  WAIT_MS,
  waitForBadge,
  waitForCount,
} from './harness/demo-page.js';
import { rawConnect, type RawConnect } from './harness/raw-stream.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * The demo page in a real Chromium (Debian's, never a downloaded one) against
 * the real demo server, asserting what a user sees.
 */

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(45_000);

const TOKEN_DELAY_MS = 60;
const MAX_CONNECTIONS = 3;
const RETRY_AFTER_SECONDS = 4;

let server: DemoServer;
let browser: DemoBrowser;
pageSuite(
  {
    demoTokens: true,
    maxConnectionsPerUser: MAX_CONNECTIONS,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
    chatTokenDelayMs: TOKEN_DELAY_MS,
    chatDetachedGraceMs: 15_000,
  },
  (started, launched) => ([server, browser] = [started, launched]),
);

// ---- helpers -----------------------------------------------------------------------------

const openPage = () => browser.openPage(server.url);

async function signIn(page: Page, userId: string, options?: { admin?: boolean; transport?: 'client' | 'cookie' }): Promise<void> {
  await signInTab(page, userId, options);
  expect(await page.isEnabled('#connect')).toBe(true);
}

async function connect(page: Page): Promise<void> {
  await connectTab(page);
  expect(await page.textContent('#state')).toBe('open');
}

const lastAssistantText = (page: Page) =>
  page.$$eval('#chat-log .bubble.assistant', (bubbles) => bubbles.at(-1)?.textContent ?? '');

// ---- the tests ---------------------------------------------------------------------------

describe('demo page in Chromium', () => {
  it("shows notifications kept in the user's inbox, the server's count on the badge, and clears it on mark-as-read", async () => {
    const page = await openPage();
    expect(await page.textContent('#state')).toBe('closed');
    expect(await page.isHidden('#badge')).toBe(true);
    expect(await page.isDisabled('#connect')).toBe(true);

    await signIn(page, 'alice', { admin: true });
    expect(await page.textContent('#who')).toContain('Signed in as alice (admin)');
    expect(await page.isVisible('#admin-card')).toBe(true);
    await connect(page);
    expect(await page.textContent('#last-id')).toMatch(/^\d+-\d+$/);

    const first = await server.publishId({ userId: 'alice', type: 'todo', data: { text: 'Call Bob at 10:00' }, inbox: true });
    // Heard live, then listed from the inbox (fetched again on its sse.inbox), unread.
    await waitForCount(page, '#notifications .notification.unread', 1);
    await waitForBadge(page, '1');
    expect(await page.getAttribute('#bell', 'aria-label')).toBe('Notifications: 1 unread');
    expect(await page.isHidden('#empty')).toBe(true);

    const second = await server.publishId({ userId: 'alice', type: 'reminder', data: { text: 'Stand-up in 5 minutes' }, inbox: true });
    await waitForCount(page, '#notifications .notification.unread', 2);
    await waitForBadge(page, '2');
    expect(await listedNotifications(page)).toEqual([
      { id: second, type: 'reminder', text: 'Stand-up in 5 minutes', unread: true },
      { id: first, type: 'todo', text: 'Call Bob at 10:00', unread: true },
    ]);
    expect(await page.textContent('#last-id')).toBe(second);
    await screenshot(page, 'browser-1-signed-in-connected-notifications');

    await page.click('#mark-read');
    await page.locator('#badge').waitFor({ state: 'hidden' });
    expect(await page.getAttribute('#bell', 'aria-label')).toBe('Notifications: 0 unread');
    expect((await listedNotifications(page)).map((n) => n.unread)).toEqual([false, false]);
    expect(await page.textContent('#state')).toBe('open');
  });

  it('after Disconnect and Connect, shows what was published live meanwhile, once each (Last-Event-ID), counting none', async () => {
    const page = await openPage();
    await signIn(page, 'bob');
    await connect(page);
    const before = await server.publishId({ userId: 'bob', type: 'todo', data: { text: 'Before the break' } });
    await waitForCount(page, '#notifications .notification', 1);
    expect(await page.textContent('#last-id')).toBe(before);

    await page.click('#disconnect');
    await page.locator('#state[data-state=closed]').waitFor();
    expect(await page.isEnabled('#connect')).toBe(true);
    const away1 = await server.publishId({ userId: 'bob', type: 'reminder', data: { text: 'While away, one' } });
    const away2 = await server.publishId({ userId: 'bob', type: 'announcement', data: { text: 'While away, two' } });
    // Nothing reaches a disconnected tab.
    await sleep(300);
    expect(await page.$$('#notifications .notification')).toHaveLength(1);

    const streams = recordRequests(page, '/sse');
    await connect(page);
    await waitForCount(page, '#notifications .notification', 3);
    // Room for a duplicate to show up, had one been sent.
    await sleep(500);
    // Live only (published without the inbox): listed as heard, never counted on the badge, which is the server's.
    expect(await listedNotifications(page)).toEqual([
      { id: away2, type: 'announcement', text: 'While away, two', unread: false },
      { id: away1, type: 'reminder', text: 'While away, one', unread: false },
      { id: before, type: 'todo', text: 'Before the break', unread: false },
    ]);
    expect(await page.$$eval('#notifications .notification.live', (items) => items.length)).toBe(3);
    expect(await page.isHidden('#badge')).toBe(true);
    expect(await page.textContent('#last-id')).toBe(away2);
    // The tab resumed from the last event it had.
    expect(streams).toHaveLength(1);
    expect(streams[0].headers()['last-event-id']).toBe(before);
    await screenshot(page, 'browser-2-resumed-list');
  });

  it(`tells an over-limit tab why and when it tries again, sends nothing sooner, then connects by itself`, async () => {
    // The user's ${MAX_CONNECTIONS} streams are held elsewhere: other browsers or devices.
    const token = await signToken('carol');
    const elsewhere: RawConnect[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) elsewhere.push(await rawConnect(server.url, token));
    expect(elsewhere.map((stream) => stream.status)).toEqual(Array(MAX_CONNECTIONS).fill(200));

    const page = await openPage();
    await signIn(page, 'carol');
    const streams = recordRequests(page, '/sse');
    await page.click('#connect');
    await page.locator('#state[data-state=refused]').waitFor();
    const refusedAt = Date.now();
    expect(await page.textContent('#state')).toBe('too many connections');
    const detail = (await page.textContent('#state-detail'))!;
    expect(detail).toMatch(/Every stream this user may hold is open elsewhere/);
    expect(detail).toMatch(/at most 3 streams per user/);
    expect(detail).toMatch(/tries again at \d{1,2}:\d{2}:\d{2}/);
    // It is waiting, not stopped: Disconnect stops it; Connect has nothing to start.
    expect(await page.isDisabled('#connect')).toBe(true);
    expect(await page.isEnabled('#disconnect')).toBe(true);

    // It does not hammer the server: nothing before the server's Retry-After (checked a second before it is over).
    await sleep(refusedAt + (RETRY_AFTER_SECONDS - 1) * 1000 - Date.now());
    expect(streams).toHaveLength(1);
    expect(await page.getAttribute('#state', 'data-state')).toBe('refused');
    await screenshot(page, 'browser-3-too-many-connections');

    // Another device lets go: the tab connects when its wait is over, with no click. On a busy machine the server may
    // see the close after that wait, and refuse once more: then the tab waits again, just as long, and never sooner.
    const held = (await server.stats()).streams;
    elsewhere.pop()!.close();
    await eventually(async () => (await server.stats()).streams < held, 5000, 'the server to release the slot');
    await page.locator('#state[data-state=open]').waitFor();
    const statuses = await Promise.all(streams.map(async (request) => (await request.response())?.status()));
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.slice(0, -1)).toEqual(Array(streams.length - 1).fill(429));
    expect(streams.length).toBeLessThanOrEqual(3);
    // When the browser sent each (known once its response has come, as every one's has by now).
    const sentAt = streams.map((request) => request.timing().startTime);
    for (let i = 1; i < sentAt.length; i++) expect(sentAt[i] - sentAt[i - 1]).toBeGreaterThan((RETRY_AFTER_SECONDS - 0.25) * 1000);
    elsewhere.forEach((stream) => stream.close());
  });

  it('streams a chat answer token by token, and after a reload mid-answer, completes the same answer', async () => {
    const page = await openPage();
    await signIn(page, 'dave');
    expect(await page.isEnabled('#chat-send')).toBe(true);
    const question = 'What is Server-Sent Events?';

    // Every length the answer bubble goes through, as the user would see it grow.
    await page.evaluate(() => {
      const lengths: number[] = [];
      (window as unknown as { answerLengths: number[] }).answerLengths = lengths;
      new MutationObserver(() => {
        const bubble = [...document.querySelectorAll('#chat-log .bubble.assistant')].at(-1);
        if (bubble) lengths.push(bubble.textContent?.length ?? 0);
      }).observe(document.getElementById('chat-log')!, { childList: true, subtree: true, characterData: true });
    });

    await page.fill('#chat-input', question);
    await page.click('#chat-send');
    await page.locator('#chat-state[data-state=streaming]').waitFor();
    expect(await page.isEnabled('#chat-stop')).toBe(true);
    await page.locator('#chat-state[data-state=done]').waitFor({ timeout: 30_000 });
    expect(await page.textContent('#chat-state')).toBe('Answer complete.');
    expect(await page.isEnabled('#chat-send')).toBe(true);
    expect(await page.isDisabled('#chat-stop')).toBe(true);

    const full = await lastAssistantText(page);
    expect(full.startsWith(`You asked: "${question}". `)).toBe(true);
    expect(full.endsWith('without repeating a word.')).toBe(true);
    expect(await page.$$eval('#chat-log .bubble.user', (bubbles) => bubbles.map((b) => b.textContent))).toEqual([question]);

    const lengths = await page.evaluate(() => (window as unknown as { answerLengths: number[] }).answerLengths);
    const intermediate = new Set(lengths.filter((length) => length > 0 && length < full.length));
    expect(intermediate.size).toBeGreaterThanOrEqual(3);
    // It only ever grows.
    for (let i = 1; i < lengths.length; i++) expect(lengths[i]).toBeGreaterThanOrEqual(lengths[i - 1]);

    // The same question again; reload while the answer is being written.
    await page.fill('#chat-input', question);
    await page.click('#chat-send');
    await page.waitForFunction(
      () => {
        const bubbles = document.querySelectorAll('#chat-log .bubble.assistant');
        return bubbles.length === 2 && (bubbles[1].textContent?.length ?? 0) > 40;
      },
      null,
      { timeout: WAIT_MS },
    );
    expect(await page.getAttribute('#chat-state', 'data-state')).toBe('streaming');
    await screenshot(page, 'browser-4-chat-mid-answer');
    const partial = await lastAssistantText(page);
    expect(partial.length).toBeLessThan(full.length);
    expect(full.startsWith(partial)).toBe(true);

    const resumes = recordRequests(page, '/chat');
    const resumeRequests: Request[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/chat/')) resumeRequests.push(request);
    });
    await page.reload();
    await page.locator('#chat-state[data-state=streaming], #chat-state[data-state=done]').waitFor();
    await page.locator('#chat-state[data-state=done]').waitFor({ timeout: 30_000 });
    expect(await page.textContent('#chat-state')).toBe('Answer complete.');

    // One question and one answer after the reload: the answer that was being written, complete.
    expect(await page.$$eval('#chat-log .bubble.user', (bubbles) => bubbles.map((b) => b.textContent))).toEqual([question]);
    expect(await page.$$('#chat-log .bubble.assistant')).toHaveLength(1);
    const resumed = await lastAssistantText(page);
    expect(resumed).toBe(full);
    expect(resumed.split(' ')).toEqual(full.split(' '));
    // It went on from where it was (a GET after the last event), not by asking again.
    expect(resumes.filter((request) => request.method() === 'POST')).toHaveLength(0);
    expect(resumeRequests).toHaveLength(1);
    expect(resumeRequests[0].method()).toBe('GET');
    expect(resumeRequests[0].headers()['last-event-id']).toMatch(/^\d+-\d+$/);
    await screenshot(page, 'browser-5-chat-resumed-complete');
  });

  it('with the native EventSource and the cookie, shows a published notification', async () => {
    const page = await openPage();
    await signIn(page, 'erin', { transport: 'cookie' });
    expect(await page.textContent('#who')).toContain('native EventSource with a cookie');
    // The token went into an HttpOnly cookie as well.
    const cookies = await page.context().cookies(server.url);
    const cookie = cookies.find((c) => c.name === 'sse_token');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');

    const streams = recordRequests(page, '/sse');
    await connect(page);
    const id = await server.publishId({ userId: 'erin', type: 'announcement', data: { text: 'Hello from the cookie' }, inbox: true });
    await waitForBadge(page, '1');
    await waitForCount(page, '#notifications .notification.unread', 1);
    expect(await listedNotifications(page)).toEqual([
      { id, type: 'announcement', text: 'Hello from the cookie', unread: true },
    ]);
    expect(await page.textContent('#last-id')).toBe(id);

    // The browser's own EventSource, with no Authorization header: the cookie carried the token.
    expect(streams).toHaveLength(1);
    expect(streams[0].resourceType()).toBe('eventsource');
    expect(streams[0].headers().authorization).toBeUndefined();
    expect((await streams[0].allHeaders()).cookie).toContain('sse_token=');
    await screenshot(page, 'browser-6-native-eventsource');
  });
});
