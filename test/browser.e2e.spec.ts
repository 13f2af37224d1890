import { jest } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import { startDemoServer, type DemoServer, TEST_ADAPTER } from './harness/demo-server.js';
import { sleep } from './harness/waiting.js';

/**
 * The demo page in a real Chromium (Debian's, never a downloaded one) against
 * the real demo server, asserting what a user sees.
 */

// Generous: other suites share the machine. Every wait inside is bounded on its own.
jest.setTimeout(45_000);

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
/** Every wait is bounded; generous, as other suites share the machine. */
const WAIT_MS = 15_000;
const TOKEN_DELAY_MS = 60;
const MAX_CONNECTIONS = 3;

let server: DemoServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [server, browser] = await Promise.all([
    startDemoServer({
      demoTokens: true,
      maxConnectionsPerUser: MAX_CONNECTIONS,
      chatTokenDelayMs: TOKEN_DELAY_MS,
      chatDetachedGraceMs: 15_000,
    }),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    }),
  ]);
}, 40_000);

afterEach(async () => {
  // A test's tabs go when it ends: their streams free their slots.
  for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
  const errors = pageErrors.splice(0);
  expect(errors).toEqual([]);
});

afterAll(async () => {
  for (const context of contexts.splice(0)) {
    for (const page of context.pages()) await page.close().catch(() => undefined);
    await context.close().catch(() => undefined);
  }
  await browser?.close();
  await server?.close();
}, 30_000);

// ---- helpers -----------------------------------------------------------------------------

/** A fresh tab (its own context unless one is given) on the demo page. */
async function openPage(context?: BrowserContext): Promise<Page> {
  if (!context) {
    context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    contexts.push(context);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  await page.goto(`${server.url}/`);
  return page;
}

async function signIn(
  page: Page,
  userId: string,
  { admin = false, transport = 'client' }: { admin?: boolean; transport?: 'client' | 'cookie' } = {},
): Promise<void> {
  await page.fill('#user', userId);
  await page.setChecked('#admin', admin);
  await page.check(`input[name=transport][value=${transport}]`);
  await page.click('#signin-button');
  await page.locator('#who', { hasText: `Signed in as ${userId}` }).waitFor();
  expect(await page.isEnabled('#connect')).toBe(true);
}

async function connect(page: Page): Promise<void> {
  await page.click('#connect');
  await page.locator('#state[data-state=open]').waitFor();
  expect(await page.textContent('#state')).toBe('open');
}

/** Waits until the unread badge shows `text` (and is visible). */
async function waitForBadge(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (expected) => {
      const badge = document.getElementById('badge')!;
      return !badge.hidden && badge.textContent === expected;
    },
    text,
    { timeout: WAIT_MS },
  );
}

async function waitForCount(page: Page, selector: string, count: number): Promise<void> {
  await page.waitForFunction(
    ({ selector, count }) => document.querySelectorAll(selector).length === count,
    { selector, count },
    { timeout: WAIT_MS },
  );
}

/** The notifications on the page, newest first, as the user reads them. */
async function listedNotifications(page: Page): Promise<Array<{ id: string; type: string; text: string; unread: boolean }>> {
  return page.$$eval('#notifications .notification', (items) =>
    items.map((item) => ({
      id: (item as HTMLElement).dataset.id ?? '',
      type: item.querySelector('.type')?.textContent ?? '',
      text: item.children[1]?.textContent ?? '',
      unread: item.classList.contains('unread'),
    })),
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}-${TEST_ADAPTER}.png`, fullPage: true });
}

/** Requests of a tab to one path, recorded from now on. */
function recordRequests(page: Page, pathname: string): Request[] {
  const requests: Request[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === pathname) requests.push(request);
  });
  return requests;
}

const lastAssistantText = (page: Page) =>
  page.$$eval('#chat-log .bubble.assistant', (bubbles) => bubbles.at(-1)?.textContent ?? '');

// ---- the tests ---------------------------------------------------------------------------

describe('demo page in Chromium', () => {
  it('shows notifications published through the API, counts them on the badge, and clears it on mark-as-read', async () => {
    const page = await openPage();
    expect(await page.textContent('#state')).toBe('closed');
    expect(await page.isHidden('#badge')).toBe(true);
    expect(await page.isDisabled('#connect')).toBe(true);

    await signIn(page, 'alice', { admin: true });
    expect(await page.textContent('#who')).toContain('Signed in as alice (admin)');
    expect(await page.isVisible('#admin-card')).toBe(true);
    await connect(page);
    expect(await page.textContent('#last-id')).toMatch(/^\d+-\d+$/);

    const first = await server.publishId({ userId: 'alice', type: 'todo', data: { text: 'Call Bob at 10:00' } });
    await waitForCount(page, '#notifications .notification', 1);
    await waitForBadge(page, '1');
    expect(await page.getAttribute('#bell', 'aria-label')).toBe('Notifications: 1 unread');
    expect(await page.isHidden('#empty')).toBe(true);

    const second = await server.publishId({ userId: 'alice', type: 'reminder', data: { text: 'Stand-up in 5 minutes' } });
    await waitForCount(page, '#notifications .notification', 2);
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

  it('after Disconnect and Connect, shows what was published meanwhile, once each (Last-Event-ID)', async () => {
    const page = await openPage();
    await signIn(page, 'bob');
    await connect(page);
    const before = await server.publishId({ userId: 'bob', type: 'todo', data: { text: 'Before the break' } });
    await waitForBadge(page, '1');
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
    await waitForBadge(page, '3');
    // Room for a duplicate to show up, had one been sent.
    await sleep(500);
    expect(await listedNotifications(page)).toEqual([
      { id: away2, type: 'announcement', text: 'While away, two', unread: true },
      { id: away1, type: 'reminder', text: 'While away, one', unread: true },
      { id: before, type: 'todo', text: 'Before the break', unread: true },
    ]);
    expect(await page.textContent('#badge')).toBe('3');
    expect(await page.textContent('#last-id')).toBe(away2);
    // The tab resumed from the last event it had.
    expect(streams).toHaveLength(1);
    expect(streams[0].headers()['last-event-id']).toBe(before);
    await screenshot(page, 'browser-2-resumed-list');
  });

  it(`refuses a fourth tab of a user limited to ${MAX_CONNECTIONS} with "too many connections", which then stays quiet`, async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    contexts.push(context);
    // sessionStorage is per tab: each tab signs in.
    const tabs: Page[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const tab = await openPage(context);
      await signIn(tab, 'carol');
      await connect(tab);
      tabs.push(tab);
    }

    const fourth = await openPage(context);
    await signIn(fourth, 'carol');
    const streams = recordRequests(fourth, '/sse');
    await fourth.click('#connect');
    await fourth.locator('#state[data-state=refused]').waitFor();
    expect(await fourth.textContent('#state')).toBe('too many connections');
    // Connect is offered again, for the user to try later; Disconnect has nothing to close.
    expect(await fourth.isEnabled('#connect')).toBe(true);
    expect(await fourth.isDisabled('#disconnect')).toBe(true);

    // It does not hammer the server: one request, however long it is left alone.
    await sleep(3000);
    expect(streams).toHaveLength(1);
    expect(await fourth.getAttribute('#state', 'data-state')).toBe('refused');
    for (const tab of tabs) expect(await tab.getAttribute('#state', 'data-state')).toBe('open');
    await screenshot(fourth, 'browser-3-too-many-connections');

    // Once a tab lets go, the fourth can connect.
    await tabs[0].click('#disconnect');
    await tabs[0].locator('#state[data-state=closed]').waitFor();
    const deadline = Date.now() + 5000;
    for (;;) {
      await fourth.click('#connect');
      await fourth.locator('#state[data-state=open], #state[data-state=refused]').waitFor();
      if ((await fourth.getAttribute('#state', 'data-state')) === 'open' || Date.now() > deadline) break;
      // The server frees a slot a moment after the client lets go.
      await sleep(200);
    }
    expect(await fourth.getAttribute('#state', 'data-state')).toBe('open');
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
    const id = await server.publishId({ userId: 'erin', type: 'announcement', data: { text: 'Hello from the cookie' } });
    await waitForBadge(page, '1');
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
