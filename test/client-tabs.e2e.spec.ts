import { jest } from '@jest/globals';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { TEST_ADAPTER, type DemoServer } from './harness/demo-server.js';
import { connect, type DemoBrowser, listedIds, pageSuite, recordRequests, signIn, WAIT_MS } from './harness/demo-page.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * Many tabs of the demo page in one real Chromium, on the client: one stream
 * per user for all of that user's tabs, handed over when its tab closes,
 * crashes or freezes, with no event lost or shown twice in any tab.
 */

jest.setTimeout(90_000);

const MAX_CONNECTIONS = 3;

let server: DemoServer;
let browser: DemoBrowser;
// retry: 3 s, as in production: the test of coming back online tells a reconnect at once from one after the backoff.
pageSuite({ demoTokens: true, maxConnectionsPerUser: MAX_CONNECTIONS, retryMs: 3000 }, (started, launched) => ([server, browser] = [started, launched]));

const user = (name: string) => `tabs-${name}-${TEST_ADAPTER}`;

/** `count` tabs of one user in `context`, each signed in and connected (topics: the page's default, "news"). */
async function openTabs(context: BrowserContext, userId: string, count: number, topics?: string): Promise<Page[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const tab = await browser.openPage(server.url, context);
      await signIn(tab, userId);
      await connect(tab, topics);
      return tab;
    }),
  );
}

async function holders(tabs: Page[]): Promise<Page[]> {
  const roles = await Promise.all(tabs.map((tab) => tab.getAttribute('#state', 'data-role')));
  return tabs.filter((_, i) => roles[i] === 'holder');
}

/** Waits until every tab lists `ids`, then checks each lists them exactly: each once, in order, nothing else. */
async function expectEveryTabToList(tabs: Page[], ids: string[]): Promise<void> {
  for (const tab of tabs) {
    await tab.waitForFunction(
      (expected) => expected.every((id) => document.querySelector(`#notifications [data-id="${id}"]`)),
      ids,
      { timeout: WAIT_MS },
    );
  }
  // Room for a late duplicate to show up.
  await sleep(300);
  for (const tab of tabs) expect(await listedIds(tab)).toEqual(ids);
}

/** Publishes to `userId` every `everyMs` until stopped; resolves to the ids published. */
function publishEvery(userId: string, everyMs: number): { readonly count: number; stop(): Promise<string[]> } {
  const ids: string[] = [];
  let going = true;
  const loop = (async () => {
    for (let n = 0; going; n++) {
      ids.push(await server.publishId({ userId, type: 'todo', data: { title: `#${n}` } }));
      await sleep(everyMs);
    }
  })();
  return {
    get count() {
      return ids.length;
    },
    async stop() {
      going = false;
      await loop;
      return ids;
    },
  };
}

/** `count` tabs of a new user: the one that holds the stream, the others, and events published every 200 ms from now on. */
async function tabsWhilePublishing(name: string, count: number) {
  const userId = user(name);
  const context = await browser.newContext();
  const tabs = await openTabs(context, userId, count);
  const [holder] = await holders(tabs);
  const publishing = publishEvery(userId, 200);
  await sleep(600);
  return { context, tabs, holder, others: tabs.filter((tab) => tab !== holder), publishing };
}

describe(`one stream for all of a user's tabs (${TEST_ADAPTER})`, () => {
  it(`8 tabs of a user allowed ${MAX_CONNECTIONS} streams: the server holds 1, and every tab shows every event once`, async () => {
    const userId = user('eight');
    const context = await browser.newContext();
    const requests: Request[] = [];
    context.on('request', (request) => new URL(request.url()).pathname === '/sse' && requests.push(request));
    const tabs = await openTabs(context, userId, 8);

    expect((await server.stats()).streams).toBe(1);
    expect(requests).toHaveLength(1);
    expect(await holders(tabs)).toHaveLength(1);
    for (const tab of tabs) expect(await tab.getAttribute('#state', 'data-state')).toBe('open');

    const ids = [
      await server.publishId({ userId, type: 'todo', data: { title: 'for the user' } }),
      await server.publishId({ topic: 'news', type: 'announcement', data: { text: 'for the topic' } }),
      await server.publishId({ broadcast: true, type: 'announcement', data: { text: 'for everyone' } }),
    ];
    await expectEveryTabToList(tabs, ids);
    expect((await server.stats()).streams).toBe(1);
  });

  it('when the holding tab closes while events are published every 200 ms, another takes over: none lost, none twice', async () => {
    const { holder, others: staying, publishing } = await tabsWhilePublishing('handover', 4);
    const beforeClose = publishing.count;
    await holder.close();
    await eventually(async () => (await holders(staying)).length === 1, WAIT_MS, 'a new holder');
    const atTakeover = publishing.count;
    await sleep(1500);
    const ids = await publishing.stop();

    // Events before the close, across the handover and after it.
    expect(beforeClose).toBeGreaterThanOrEqual(2);
    expect(ids.length).toBeGreaterThan(atTakeover + 3);
    await expectEveryTabToList(staying, ids);
    await eventually(async () => (await server.stats()).streams === 1, WAIT_MS, 'one stream');
  });

  it('when the holder freezes, a follower takes the stream over; woken, the frozen tab lets its stream go', async () => {
    const { tabs, holder, others, publishing } = await tabsWhilePublishing('frozen', 3);

    // Frozen: its main thread runs nothing (no timer, no message, no byte of its stream) for 10 s, while it keeps
    // its lock and its connection. (Each tab has a renderer process of its own: the others run on.)
    const frozenAt = Date.now();
    const freeze = holder.evaluate(() => {
      const until = Date.now() + 10_000;
      while (Date.now() < until);
    });
    await eventually(async () => (await holders(others)).length === 1, WAIT_MS, 'a follower to take the stream over');
    console.log(`frozen holder replaced after ${Date.now() - frozenAt} ms (${TEST_ADAPTER})`);
    expect(Date.now() - frozenAt).toBeLessThan(10_000);

    // Woken: it finds its lock taken and lets its stream go; it follows from now on.
    await freeze;
    await eventually(async () => (await server.stats()).streams === 1, WAIT_MS, 'the woken tab to let its stream go');
    await eventually(async () => (await holders(tabs)).length === 1, WAIT_MS, 'one holder');
    await sleep(1000);
    const ids = await publishing.stop();
    await expectEveryTabToList(others, ids);

    // The woken tab shows nothing twice; what it slept through, it got or was told it may have missed.
    const woken = await listedIds(holder);
    expect(new Set(woken).size).toBe(woken.length);
    if (!woken.includes('')) expect(woken).toEqual(ids);
    expect(woken.filter((id) => id !== '').every((id) => ids.includes(id))).toBe(true);
    expect(woken.at(-1)).toBe(ids.at(-1));
  });

  it('when the holding tab crashes (no pagehide), another takes over and resumes', async () => {
    const { context, holder, others, publishing } = await tabsWhilePublishing('crash', 3);
    const crashed = new Promise((resolve) => holder.once('crash', resolve));
    const cdp = await context.newCDPSession(holder);
    // It never answers: the page is gone.
    void cdp.send('Page.crash').catch(() => undefined);
    await crashed;
    await eventually(async () => (await holders(others)).length === 1, WAIT_MS, 'a new holder');
    await sleep(1000);
    const ids = await publishing.stop();
    await expectEveryTabToList(others, ids);
    await eventually(async () => (await server.stats()).streams === 1, WAIT_MS, 'one stream');
  });

  it("gives each tab only the topics it asked for, over one stream that carries all of them", async () => {
    const userId = user('topics');
    const context = await browser.newContext();
    const sseRequests: Request[] = [];
    context.on('request', (request) => new URL(request.url()).pathname === '/sse' && sseRequests.push(request));
    const [news] = await openTabs(context, userId, 1, 'news');
    const [sports] = await openTabs(context, userId, 1, 'sports');
    // The holder asks again for both topics, resuming where it was.
    await eventually(() => sseRequests.some((request) => new URL(request.url()).searchParams.get('topics') === 'news,sports'), WAIT_MS, 'a stream with both topics');
    await news.locator('#state[data-state=open]').waitFor();
    await eventually(async () => (await server.stats()).streams === 1, WAIT_MS, 'one stream');

    const own = await server.publishId({ userId, type: 'todo', data: { title: 'for both tabs' } });
    const newsId = await server.publishId({ topic: 'news', type: 'announcement', data: { text: 'news' } });
    const sportsId = await server.publishId({ topic: 'sports', type: 'announcement', data: { text: 'sports' } });
    await expectEveryTabToList([news], [own, newsId]);
    await expectEveryTabToList([sports], [own, sportsId]);
  });

  it('gives users of the same browser, or of another one, streams of their own', async () => {
    const context = await browser.newContext();
    const [alice] = await openTabs(context, user('alice'), 1);
    const [bob] = await openTabs(context, user('bob'), 1);
    const [carol] = await openTabs(await browser.newContext(), user('carol'), 1);
    await eventually(async () => (await server.stats()).streams === 3, WAIT_MS, 'three streams');
    for (const tab of [alice, bob, carol]) expect(await tab.getAttribute('#state', 'data-role')).toBe('holder');

    const ids = await Promise.all(
      [alice, bob, carol].map((_, i) => server.publishId({ userId: user(['alice', 'bob', 'carol'][i]), type: 'todo', data: { title: 'own' } })),
    );
    await expectEveryTabToList([alice], [ids[0]]);
    await expectEveryTabToList([bob], [ids[1]]);
    await expectEveryTabToList([carol], [ids[2]]);
  });

  it("signing out in one tab signs the user's other tabs out, and lets the stream go", async () => {
    const userId = user('signout');
    const context = await browser.newContext();
    const tabs = await openTabs(context, userId, 3);
    const [holder] = await holders(tabs);
    const follower = tabs.find((tab) => tab !== holder)!;
    await follower.click('#signout');
    for (const tab of tabs) await tab.locator('#who', { hasText: 'Not signed in.' }).waitFor();
    for (const tab of tabs) expect(await tab.getAttribute('#state', 'data-state')).toBe('closed');
    await eventually(async () => (await server.stats()).streams === 0, WAIT_MS, 'the stream to go');
  });

  it('without Web Locks (an older browser, or plain HTTP), each tab keeps a stream of its own', async () => {
    const userId = user('no-locks');
    const context = await browser.newContext();
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));
    const tabs = await openTabs(context, userId, 2);
    await eventually(async () => (await server.stats()).streams === 2, WAIT_MS, 'two streams');
    const id = await server.publishId({ userId, type: 'todo', data: { title: 'to each' } });
    await expectEveryTabToList(tabs, [id]);
  });

  it('reconnects at once when the browser comes back online, not after its backoff', async () => {
    const userId = user('online');
    // The page comes through a proxy of the test's own, which can break its connections.
    const proxy = await TcpProxy.start(server.url);
    try {
      const context = await browser.newContext();
      // Every wait is its whole ceiling (no jitter): 3 s after the stream breaks, then 6 s.
      await context.addInitScript(() => (Math.random = () => 1));
      const tab = await browser.openPage(proxy.url, context);
      await signIn(tab, userId);
      await connect(tab);
      const requests = recordRequests(tab, '/sse');
      await context.setOffline(true);
      proxy.cut();
      // The stream broke; 3 s later an attempt fails at once (offline), and the next is 6 s away.
      await eventually(() => requests.length === 1, WAIT_MS, 'an attempt while offline');
      await tab.locator('#state-detail', { hasText: 'Trying again at' }).waitFor();
      const missed = await server.publishId({ userId, type: 'todo', data: { title: 'while offline' } });

      const backOnline = Date.now();
      await context.setOffline(false);
      await tab.locator('#state[data-state=open]').waitFor();
      expect(requests).toHaveLength(2);
      expect(Date.now() - backOnline).toBeLessThan(3000);
      await expectEveryTabToList([tab], [missed]);
    } finally {
      await proxy.close();
    }
  });
});
