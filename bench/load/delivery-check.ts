// What one user's resumable stream of the reconnect storm must get, across the
// kill of its instance: every broadcast and every event sent to the user, each
// exactly once, in the order of their ids.
import type { StormEventData } from '../lib/protocol.js';

/** Publishes that were refused (nothing was sent): their indexes are not missed. */
export interface RefusedPublishes {
  readonly broadcasts: ReadonlySet<number>;
  readonly own: ReadonlySet<number>;
}

export class DeliveryCheck {
  /** The index of the newest broadcast, and of the newest event sent to this user, received. */
  lastBroadcast = -1;
  lastOwn = -1;
  received = 0;
  duplicates = 0;
  /** Events whose id was not after the previous one's. */
  outOfOrder = 0;
  misdelivered = 0;
  /** `sse.loss` events: a resume that could not replay everything. */
  losses = 0;
  private lastMs = -1;
  private lastSeq = -1;
  /** Indexes jumped over: missed, unless their publish was refused. */
  private readonly skippedBroadcasts: number[] = [];
  private readonly skippedOwn: number[] = [];

  constructor(readonly userId: string) {}

  onEvent(data: StormEventData, id: string | undefined): void {
    this.received++;
    this.checkOrder(id);
    if ('b' in data) this.lastBroadcast = this.advance(this.lastBroadcast, data.b, this.skippedBroadcasts);
    else if (data.u !== this.userId) this.misdelivered++;
    else this.lastOwn = this.advance(this.lastOwn, data.i, this.skippedOwn);
  }

  /** Whether everything published up to these indexes has arrived. */
  caughtUp(lastBroadcast: number, lastOwn: number): boolean {
    return this.lastBroadcast >= lastBroadcast && this.lastOwn >= lastOwn;
  }

  /** Events published up to these indexes (and not refused) that never arrived. */
  missed(lastBroadcast: number, lastOwn: number, refused: RefusedPublishes): number {
    const count = (skipped: number[], last: number, upTo: number, refusedOnes: ReadonlySet<number>) => {
      let missed = skipped.filter((index) => !refusedOnes.has(index)).length;
      for (let index = last + 1; index <= upTo; index++) if (!refusedOnes.has(index)) missed++;
      return missed;
    };
    return (
      count(this.skippedBroadcasts, this.lastBroadcast, lastBroadcast, refused.broadcasts) +
      count(this.skippedOwn, this.lastOwn, lastOwn, refused.own)
    );
  }

  private advance(last: number, index: number, skipped: number[]): number {
    if (index <= last) {
      this.duplicates++;
      return last;
    }
    for (let missing = last + 1; missing < index; missing++) skipped.push(missing);
    return index;
  }

  private checkOrder(id: string | undefined): void {
    const dash = id?.indexOf('-') ?? -1;
    const ms = dash > 0 ? Number(id!.slice(0, dash)) : NaN;
    const seq = dash > 0 ? Number(id!.slice(dash + 1)) : NaN;
    if (!(ms > this.lastMs || (ms === this.lastMs && seq > this.lastSeq))) {
      this.outOfOrder++;
      return;
    }
    this.lastMs = ms;
    this.lastSeq = seq;
  }
}
