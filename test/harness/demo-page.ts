import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import type { DemoConfig } from '../../src/demo/demo.config.js';
import { startDemoServer, TEST_ADAPTER, type DemoServer } from './demo-server.js';

/** Every wait on the page is bounded; generous, as other suites share the machine. */
export const WAIT_MS = 15_000;

/**
 * Debian's Chromium (never a downloaded one), driven by playwright-core: the
 * demo page in real tabs, and the errors they throw.
 */
export class DemoBrowser {
  /** Uncaught errors of any page opened here. */
  readonly pageErrors: string[] = [];
  private readonly contexts: BrowserContext[] = [];

  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<DemoBrowser> {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
    return new DemoBrowser(browser);
  }

  /** A browser context (its own storage, cookies, locks and channels: another browser, as far as the page knows). */
  async newContext(): Promise<BrowserContext> {
    const context = await this.browser.newContext({ viewport: { width: 1200, height: 1000 } });
    this.contexts.push(context);
    return context;
  }

  /** A fresh tab on the demo page, in a context of its own unless one is given. */
  async openPage(baseUrl: string, context?: BrowserContext): Promise<Page> {
    const page = await (context ?? (await this.newContext())).newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => this.pageErrors.push(`${page.url()}: ${error.message}`));
    await page.goto(`${baseUrl}/`);
    return page;
  }

  /** Closes the contexts opened so far (their tabs' streams free their slots). */
  async closeContexts(): Promise<void> {
    for (const context of this.contexts.splice(0)) await context.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.closeContexts();
    await this.browser.close();
  }
}

/** Where the browser suites' screenshots go. */
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/**
 * A suite of the demo page: one demo server (with `config`) and one browser
 * for the whole suite, handed to `use` once they are up; after each test its
 * tabs are closed (their streams free their slots), and an uncaught error of
 * any page fails it.
 */
export function pageSuite(config: Partial<DemoConfig>, use: (server: DemoServer, browser: DemoBrowser) => void): void {
  let server: DemoServer | undefined;
  let browser: DemoBrowser | undefined;
  beforeAll(async () => {
    [server, browser] = await Promise.all([startDemoServer(config), DemoBrowser.launch()]);
    use(server, browser);
  }, 40_000);
  afterEach(async () => {
    await browser!.closeContexts();
    expect(browser!.pageErrors.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  }, 30_000);
}

/** A screenshot of the whole page, in test-artifacts/, named for the adapter under test too. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}-${TEST_ADAPTER}.png`, fullPage: true });
}

export async function signIn(
  page: Page,
  userId: string,
  { admin = false, transport = 'client' }: { admin?: boolean; transport?: 'client' | 'cookie' } = {},
): Promise<void> {
  await page.fill('#user', userId);
  await page.setChecked('#admin', admin);
  await page.check(`input[name=transport][value=${transport}]`);
  await page.click('#signin-button');
  await page.locator('#who', { hasText: `Signed in as ${userId}` }).waitFor();
}

/** Presses Connect and waits until events flow to the tab. */
export async function connect(page: Page, topics?: string): Promise<void> {
  if (topics !== undefined) await page.fill('#topics', topics);
  await page.click('#connect');
  await page.locator('#state[data-state=open]').waitFor();
}

/** Waits until the unread badge shows `text` (and is visible). */
export async function waitForBadge(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (expected) => {
      const badge = document.getElementById('badge')!;
      return !badge.hidden && badge.textContent === expected;
    },
    text,
    { timeout: WAIT_MS },
  );
}

export async function waitForCount(page: Page, selector: string, count: number): Promise<void> {
  await page.waitForFunction(
    ({ selector, count }) => document.querySelectorAll(selector).length === count,
    { selector, count },
    { timeout: WAIT_MS },
  );
}

/** The notifications on the page, newest first, as the user reads them. */
export async function listedNotifications(page: Page): Promise<Array<{ id: string; type: string; text: string; unread: boolean }>> {
  return page.$$eval('#notifications .notification', (items) =>
    items.map((item) => ({
      id: (item as HTMLElement).dataset.id ?? '',
      type: item.querySelector('.type')?.textContent ?? '',
      text: item.children[1]?.textContent ?? '',
      unread: item.classList.contains('unread'),
    })),
  );
}

/** The ids of the notifications a tab lists, oldest first. */
export async function listedIds(page: Page): Promise<string[]> {
  return (await listedNotifications(page)).map((n) => n.id).reverse();
}

/** Requests of a tab to one path, recorded from now on. */
export function recordRequests(page: Page, pathname: string): Request[] {
  const requests: Request[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === pathname) requests.push(request);
  });
  return requests;
}
