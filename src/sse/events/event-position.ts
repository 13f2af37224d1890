/**
 * Where an event stands in the one order that every stream and instance shares.
 * Its text form, `<milliseconds>-<sequence>`, is the form of a Redis Stream id,
 * so a shared store can keep it and clients can send it back as `Last-Event-ID`.
 */
export interface EventPosition {
  readonly ms: number;
  readonly seq: number;
}

const EVENT_ID = /^(\d{1,15})-(\d{1,15})$/;

export function formatEventId(position: EventPosition): string {
  return `${position.ms}-${position.seq}`;
}

/** The position an id names, or `undefined` for text that is not one of our ids. */
export function parseEventId(id: string): EventPosition | undefined {
  const match = EVENT_ID.exec(id);
  return match ? { ms: Number(match[1]), seq: Number(match[2]) } : undefined;
}

export function comparePositions(a: EventPosition, b: EventPosition): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/** The position after `last`, at the clock's time when it has moved on, so ids also say when. */
export function nextPosition(last: EventPosition, now: number): EventPosition {
  return now > last.ms ? { ms: now, seq: 0 } : { ms: last.ms, seq: last.seq + 1 };
}
