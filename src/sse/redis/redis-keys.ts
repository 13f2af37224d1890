/**
 * The key names, all under one prefix. A Redis Cluster puts a key in the slot
 * of its hash tag (the part in braces), and a script may only touch keys of
 * one slot, so the tags follow what each script touches:
 * - `{events}`: the one order of events (last id, origin, log) and every
 *   history stream, which the publish and read scripts touch together;
 * - `{user:<id>}`: one user's connection slots;
 * - `{instance:<id>}`: one instance's connection slots;
 * - `{<feed>}` of an inbox feed (`user:<id>`, `topic:<name>`, `all`): its items, and a user's marks in their own feed's slot.
 */
export class RedisKeys {
  /** The newest id issued. */
  readonly lastId: string;
  /** The oldest cursor this data set can honour: a cursor before it is from data Redis lost. */
  readonly origin: string;
  /** Every event, disconnect and signal, in id order: what instances tail. */
  readonly log: string;
  /** The live instances, scored by when each is presumed dead unless it renews. */
  readonly instances: string;

  constructor(readonly prefix: string) {
    this.lastId = `${prefix}{events}:last-id`;
    this.origin = `${prefix}{events}:origin`;
    this.log = `${prefix}{events}:log`;
    this.instances = `${prefix}instances`;
  }

  /** The history stream of a user, topic or the broadcasts (see `historyKeysOf`). */
  history(key: string): string {
    return `${this.prefix}{events}:history:${key}`;
  }

  /** The live connection slots of one user, across instances, scored by expiry. */
  userLeases(userId: string): string {
    return `${this.prefix}{user:${userId}}:leases`;
  }

  /** The connection slots held by one instance, as `<user>\n<serial>`. */
  instanceLeases(instanceId: string): string {
    return `${this.prefix}{instance:${instanceId}}:leases`;
  }

  /**
   * The stem of an inbox feed's keys (`:items`, `:data`, `:dropped`). The feed's name is the hash tag, so that a
   * script on one feed touches one slot. A user's marks (`:marks`, `:archived`, `:seen:<feed>`) are under the stem
   * of the user's own feed (`user:<id>`), in its slot.
   */
  inboxFeed(feed: string): string {
    return `${this.prefix}inbox:{${feed}}`;
  }

  /** A job's record (owner, state, resume location), as a hash; expires with its history. */
  job(id: string): string {
    return `${this.prefix}job:${id}`;
  }

  /** When a user's tokens were last revoked (epoch ms); expires with the record. */
  revocation(userId: string): string {
    return `${this.prefix}revoked:${userId}`;
  }
}
