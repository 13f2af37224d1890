/**
 * A map of event types to their payload types, declared once by the
 * application (an interface will do): `NotificationService<MyEvents>` then
 * checks every publish against it.
 */
export type EventMap = object;

/** The map of untyped use: any type, any payload. */
export type AnyEvents = Record<string, unknown>;

/** The event types of a map. */
export type EventType<Events extends EventMap> = keyof Events & string;

/** An event as a client receives it (parsed `data`), as a union discriminated by `type`. */
export type SseEventOf<Events extends EventMap> = {
  [Type in EventType<Events>]: { readonly type: Type; readonly id: string; readonly data: Events[Type & keyof Events] };
}[EventType<Events>];
