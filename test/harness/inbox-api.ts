import type { ReceivedEvent } from './sse-client.js';

/** The demo app's inbox endpoints, by base URL and token, answering status, headers and the parsed JSON body. */

export interface InboxItemJson {
  id: string;
  type: string;
  data: unknown;
  createdAt: string;
  readAt: string | null;
  archivedAt: string | null;
}

export interface InboxPageJson {
  items: InboxItemJson[];
  unread: number;
  nextCursor: string | null;
}

export interface Answer<T> {
  status: number;
  headers: Headers;
  /** The body as text, and parsed (undefined when it is not JSON). */
  text: string;
  json: T;
}

async function answer<T>(res: Response): Promise<Answer<T>> {
  const text = await res.text();
  let json: T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    json = undefined as T;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** GET /inbox with a raw query string (without `?`). */
export async function getInbox(baseUrl: string, token: string | undefined, query = ''): Promise<Answer<InboxPageJson>> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  return answer(await fetch(`${baseUrl}/inbox${query ? `?${query}` : ''}`, { headers, signal: AbortSignal.timeout(10_000) }));
}

/** POST /inbox/<action> with a body (serialized unless it is a string already). */
export async function postInbox(
  baseUrl: string,
  token: string | undefined,
  action: 'read' | 'unread' | 'archive',
  body: unknown,
): Promise<Answer<{ unread: number }>> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return answer(await fetch(`${baseUrl}/inbox/${action}`, { method: 'POST', headers, body: payload, signal: AbortSignal.timeout(10_000) }));
}

/** POST /inbox/<action>, expecting exactly 200; resolves to the unread count. */
export async function mark(baseUrl: string, token: string, action: 'read' | 'unread' | 'archive', body: unknown): Promise<number> {
  const res = await postInbox(baseUrl, token, action, body);
  if (res.status !== 200) throw new Error(`POST /inbox/${action} answered ${res.status}: ${res.text}`);
  expect(Object.keys(res.json)).toEqual(['unread']);
  return res.json.unread;
}

/** Every item of a list, page by page; pages must be well formed. */
export async function everyItem(baseUrl: string, token: string, status: string, limit: number): Promise<InboxItemJson[]> {
  const items: InboxItemJson[] = [];
  let cursor: string | null = null;
  do {
    const page: Answer<InboxPageJson> = await getInbox(
      baseUrl,
      token,
      `status=${status}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (page.status !== 200) throw new Error(`GET /inbox answered ${page.status}: ${page.text}`);
    expect(page.json.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.json.items);
    cursor = page.json.nextCursor;
  } while (cursor);
  return items;
}

/** The data of the `sse.inbox` events a stream received. */
export function inboxEvents(events: readonly ReceivedEvent[]): Array<{ unread: number; change: string; ids?: string[] }> {
  return events.filter((event) => event.type === 'sse.inbox').map((event) => JSON.parse(event.data));
}
