import type { SseStats } from '../../src/sse/index.js';
import { EVENT_ID } from './event-ids.js';

/**
 * The demo app's admin endpoints, by base URL and token: for an app in this
 * process (see `DemoServer`) as well as for one in a child process.
 */

/** POST /notifications; resolves to the response. */
export function publish(baseUrl: string, adminToken: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${baseUrl}/notifications`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

/** POST /notifications; resolves to the event id of its 202, whose body is `{ id }` and nothing else. */
export async function publishId(
  baseUrl: string,
  adminToken: string,
  body: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<string> {
  const res = await publish(baseUrl, adminToken, body, signal);
  const text = await res.text();
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${text}`);
  const answer = JSON.parse(text) as { id: string };
  expect(Object.keys(answer)).toEqual(['id']);
  expect(answer.id).toMatch(EVENT_ID);
  return answer.id;
}

/** GET /sse/stats; any other status than 200 throws `stats answered <status>: <body>`. */
export async function stats(baseUrl: string, adminToken: string): Promise<SseStats> {
  const res = await fetch(`${baseUrl}/sse/stats`, { headers: { Authorization: `Bearer ${adminToken}` } });
  if (res.status !== 200) throw new Error(`stats answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as SseStats;
}
