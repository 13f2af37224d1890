import type { InboxData, LossData } from '../protocol/reserved-events.js';
import type { AnyEvents, EventMap, EventType, SseEventOf } from '../sse/events/event-map.js';

export type { AnyEvents, EventMap, EventType, SseEventOf };

/** The module's own events that an app may listen to by name, besides its own (`sse.ready`, `sse.loss`… are the client's). */
export interface ReservedClientEvents {
  'sse.inbox': InboxData;
}

/** Every event a client can be asked for by name: the app's map and the reserved ones above. */
export type ClientEventMap<Events extends EventMap> = Events & ReservedClientEvents;

/** An app event as a client hands it over: the typed union, and the topic it was published to, if any. */
export type ClientEvent<Events extends EventMap = AnyEvents> = SseEventOf<Events> & { readonly topic?: string };

/** Where an event came from, beside its data. */
export interface EventMeta {
  readonly type: string;
  readonly id: string;
  readonly topic?: string;
}

export type EventHandler<Data> = (data: Data, meta: EventMeta) => void;

/** What `sse.loss` tells: events after `lastEventId` could not all be given, so the app should refetch its state. */
export type LossListener = (loss: LossData) => void;
