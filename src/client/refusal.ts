/** What a server said when it refused a request (any status but 2xx). */
export interface Refusal {
  readonly status: number;
  /** The `message` of the JSON error body, or the status text. */
  readonly message: string;
  /** The wait `Retry-After` asks for, in ms (0 without one). */
  readonly retryAfterMs: number;
}

/** A request the server refused, thrown by POST streams (a stream client reports it as its state instead). */
export class SseRequestError extends Error implements Refusal {
  override readonly name = 'SseRequestError';
  readonly status: number;
  readonly retryAfterMs: number;

  constructor(refusal: Refusal) {
    super(`${refusal.status}: ${refusal.message}`);
    this.status = refusal.status;
    this.retryAfterMs = refusal.retryAfterMs;
  }
}

export async function refusalOf(response: Response): Promise<Refusal> {
  let message = response.statusText;
  try {
    const body = (await response.json()) as { message?: string | string[] };
    if (body.message) message = ([] as string[]).concat(body.message).join('; ');
  } catch {
    // Not JSON: the status text says enough.
  }
  return { status: response.status, message, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
}

/** Whether asking again later may succeed: the server was busy or away (408, 429, 5xx), not refusing. */
export function isTransient(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** `Retry-After` as a wait in ms: a number of seconds, or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number {
  if (!value) return 0;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return ms > 0 ? ms : 0;
}
