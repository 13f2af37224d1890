import { refusalOf, SseRequestError } from './refusal.js';

/** How a client's requests carry the user's credentials. */
export interface RequestOptions {
  /**
   * The bearer token to send, asked for before every request (reconnects included), so that a refreshed token is
   * the one sent. After a 401 it is asked once more with `refresh: true`: return a new token then.
   */
  getToken?: (context: { readonly refresh: boolean }) => TokenResult | Promise<TokenResult>;
  /** `'include'`: send cookies, for an app that signs in with a cookie (also to another origin, with CORS credentials). */
  credentials?: RequestCredentials;
  /** Headers for every request besides the ones the client sets. */
  headers?: Record<string, string>;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

export type TokenResult = string | null | undefined;

export interface SseRequest {
  readonly url: string;
  readonly method?: string;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly lastEventId?: string;
  readonly signal?: AbortSignal;
}

/** Sends a request with the token of the moment (a fresh one after a 401: `refresh`). */
export async function sendRequest(options: RequestOptions, request: SseRequest, refresh = false): Promise<Response> {
  const token = await options.getToken?.({ refresh });
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (request.lastEventId) headers['Last-Event-ID'] = request.lastEventId;
  if (request.body !== undefined) headers['Content-Type'] = 'application/json';
  // Called unbound: a browser's fetch refuses any other `this` than the window.
  const send = options.fetch ?? fetch;
  return send(request.url, {
    method: request.method ?? 'GET',
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    credentials: options.credentials,
    signal: request.signal,
  });
}

/**
 * Sends a request that must succeed: after a 401, once more with a refreshed token; a refusal is thrown as an
 * `SseRequestError` with the server's message.
 */
export async function sendOk(options: RequestOptions, request: SseRequest): Promise<Response> {
  let response = await sendRequest(options, request);
  if (response.status === 401) {
    void response.body?.cancel();
    response = await sendRequest(options, request, true);
  }
  if (!response.ok) throw new SseRequestError(await refusalOf(response));
  return response;
}

/** A URL the client can resolve others against: relative ones are the page's. */
export function absoluteUrl(url: string, base?: string): string {
  return new URL(url, base ?? globalThis.location?.href).href;
}
