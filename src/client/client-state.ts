import type { CLOSED_BY_SERVER, COMPLETED } from '../protocol/reserved-events.js';

/** Why a client is closed. Reasons from the server's `sse.close` are passed on as they are. */
export type CloseReason =
  /** `sse.close` from the server (a kick, a sign-out on the server): it must not reconnect. */
  | typeof CLOSED_BY_SERVER
  | typeof COMPLETED
  /** 429: the user holds every stream allowed; the client tries again by itself at `retryAt`. */
  | 'too-many-connections'
  /** 401, even with a refreshed token. */
  | 'unauthorized'
  /** 400, 403, 404 or another answer that asking again will not change (see `httpStatus` and `message`). */
  | 'refused'
  /** `signOut()` here or in another tab of the same user. */
  | 'signed-out'
  /** `close()`, or the client's `AbortSignal`. */
  | 'stopped'
  /** A POST stream broke before the server said where to resume it (its POST is never sent again). */
  | 'unresumable'
  | (string & {});

/** Why a client is reconnecting. */
export type ReconnectCause =
  /** The server ended the response without `sse.close` (a token that expired, a restart). */
  | 'ended'
  /** The request failed or the connection broke. */
  | 'network'
  /** Nothing arrived for twice the heartbeat: a dead proxy, a laptop that slept. */
  | 'stalled'
  /** 5xx or 408, e.g. 503 while the server's store is away. */
  | 'unavailable';

export type ClientState =
  | { readonly status: 'connecting' }
  | { readonly status: 'open' }
  /** Waiting until `retryAt` (epoch ms) to try again, or trying (no `retryAt`). */
  | { readonly status: 'reconnecting'; readonly cause?: ReconnectCause; readonly retryAt?: number }
  | {
      readonly status: 'closed';
      readonly reason: CloseReason;
      /** When the client tries again by itself (`too-many-connections`); absent when it is closed for good. */
      readonly retryAt?: number;
      readonly httpStatus?: number;
      /** The server's explanation (the `message` of its JSON error). */
      readonly message?: string;
    };

export type ClosedState = Extract<ClientState, { readonly status: 'closed' }>;

export const CONNECTING: ClientState = Object.freeze({ status: 'connecting' });
/** Closed by this side (`close()`, an abort), or not started yet. */
export const STOPPED: ClientState = Object.freeze({ status: 'closed', reason: 'stopped' });

/** Whether a state ends the client for good. */
export function isFinal(state: ClientState): boolean {
  return state.status === 'closed' && state.retryAt === undefined;
}
