/** The key names, all under one prefix. */
export class RedisKeys {
  /** The newest id issued. */
  readonly lastId: string;
  /** The first id of this data set: a cursor before it is from before Redis lost its data. */
  readonly origin: string;
  /** Every event and disconnect, in id order: what instances tail. */
  readonly log: string;
  /** Every live lease, scored by expiry, as `<instance>\n<user>\n<serial>`. */
  readonly leases: string;

  constructor(readonly prefix: string) {
    this.lastId = `${prefix}last-id`;
    this.origin = `${prefix}origin`;
    this.log = `${prefix}log`;
    this.leases = `${prefix}leases`;
  }

  /** The history stream of a user, topic or the broadcasts (see `historyKeysOf`). */
  history(key: string): string {
    return `${this.prefix}history:${key}`;
  }

  /** The live leases of one user, scored by expiry. */
  userLeases(userId: string): string {
    return `${this.prefix}user-leases:${userId}`;
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
