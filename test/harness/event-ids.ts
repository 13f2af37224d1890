/** The form of every event id: `<ms>-<seq>`. */
export const EVENT_ID = /^\d+-\d+$/;

function parseId(id: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(id);
  if (!match) throw new Error(`not an event id: ${id}`);
  return [Number(match[1]), Number(match[2])];
}

/** The position an event id names, as the library's history store takes it. */
export function positionOf(id: string): { ms: number; seq: number } {
  const [ms, seq] = parseId(id);
  return { ms, seq };
}

/** Orders two event ids numerically (as strings, `10-0` would sort before `9-0`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am - bm || as - bs;
}

/** Every id has the event id form, and each is after the one before it. */
export function expectIncreasing(ids: ReadonlyArray<string | undefined>): void {
  for (const id of ids) expect(id).toMatch(EVENT_ID);
  for (let i = 1; i < ids.length; i++) {
    if (compareIds(ids[i - 1]!, ids[i]!) >= 0) throw new Error(`ids do not strictly increase at ${i}: ${ids.join(', ')}`);
  }
}
