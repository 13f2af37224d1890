// The browser (and Node 20) client: `nest-sse-notifications/client`. It imports nothing from the server but
// types and the names of the reserved events (src/protocol/), so that it bundles small.

export { SseClient } from './sse-client.js';
export type { SseClientOptions } from './sse-client.js';
export { PostStream, postStream, resumeStream } from './post-stream.js';
export type { PostStreamOptions } from './post-stream.js';
export type { ClientState, CloseReason, ReconnectCause } from './client-state.js';
export type {
  AnyEvents,
  ClientEvent,
  ClientEventMap,
  EventHandler,
  EventMap,
  EventMeta,
  EventType,
  LossListener,
  ReservedClientEvents,
  SseEventOf,
} from './client-events.js';
export type { RequestOptions, TokenResult } from './authorized-request.js';
export type { RetryOptions } from './backoff.js';
export type { IdStorage } from './last-event-id.js';
export { SseRequestError } from './refusal.js';
export type { Refusal } from './refusal.js';
export { CLOSED_BY_SERVER, COMPLETED } from '../protocol/reserved-events.js';
export type { CloseData, InboxData, LossData, LossReason, ReadyData, ResumeData } from '../protocol/reserved-events.js';
