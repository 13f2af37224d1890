// The reconnect storm's steady publishing: broadcasts and targeted sends, each at its own pace and
// each one awaited before the next (so that their indexes are in the order of their ids), numbered so
// that every client can tell what it should have got.
import { sleep } from './phases.js';
import { clock, type StormEventData, STORM_TYPE } from './protocol.js';
import type { Publisher } from './publisher.js';

export interface StormPublishPlan {
  /** Users `u<offset>` … `u<offset + users − 1>` receive the targeted sends, picked at random. */
  users: number;
  offset: number;
  /** Sends per second. */
  targetedRate: number;
  broadcastRate: number;
  random: () => number;
}

/** What was published, for the clients' verdict. */
export interface StormPublished {
  /** The last broadcast index issued (−1: none), and per user index the last of its own. */
  lastBroadcast: number;
  own: Record<string, number>;
  /** Indexes whose publish was refused (not a 202): nothing was sent, so none is missed. */
  refusedBroadcasts: number[];
  refusedOwn: Record<string, number[]>;
  broadcasts: number;
  targeted: number;
}

export class StormPublisher {
  /** Publishes answered 202, so far. */
  accepted = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly published: StormPublished = {
    lastBroadcast: -1,
    own: {},
    refusedBroadcasts: [],
    refusedOwn: {},
    broadcasts: 0,
    targeted: 0,
  };

  constructor(
    private readonly publisher: Publisher,
    private readonly plan: StormPublishPlan,
  ) {}

  start(): void {
    this.running = true;
    this.loops = [
      this.paced(this.plan.broadcastRate, () => this.broadcast()),
      this.paced(this.plan.targetedRate, () => this.targeted()),
    ];
  }

  /** Stops after the sends in flight; resolves to what was published. */
  async stop(): Promise<StormPublished> {
    this.running = false;
    await Promise.all(this.loops);
    return this.published;
  }

  private async paced(rate: number, send: () => Promise<void>): Promise<void> {
    if (!(rate > 0)) return;
    const started = clock();
    for (let k = 0; this.running; k++) {
      const wait = started + (k * 1000) / rate - clock();
      if (wait > 1) await sleep(wait);
      if (this.running) await send();
    }
  }

  private async broadcast(): Promise<void> {
    const b = ++this.published.lastBroadcast;
    this.published.broadcasts++;
    if (!(await this.post({ broadcast: true }, { b }))) this.published.refusedBroadcasts.push(b);
  }

  private async targeted(): Promise<void> {
    const user = this.plan.offset + Math.floor(this.plan.random() * this.plan.users);
    const i = (this.published.own[user] ?? -1) + 1;
    this.published.own[user] = i;
    this.published.targeted++;
    if (!(await this.post({ userId: `u${user}` }, { u: `u${user}`, i }))) (this.published.refusedOwn[user] ??= []).push(i);
  }

  private async post(target: Record<string, unknown>, data: StormEventData): Promise<boolean> {
    const answer = await this.publisher.post({ ...target, type: STORM_TYPE, data }).catch(() => undefined);
    if (answer?.status !== 202) return false;
    this.accepted++;
    return true;
  }
}
