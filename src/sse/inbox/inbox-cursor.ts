import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type EventPosition, formatEventId, parseEventId } from '../events/event-position.js';
import { InvalidSseInputError } from '../events/sse-name.js';
import type { InboxStatus } from './inbox.store.js';

const MAC_BYTES = 16;
const MAX_CURSOR_LENGTH = 200;

/**
 * Cursors of inbox pages: where the next page starts, signed for the user and
 * the status it was issued for, so that any instance with the same key
 * honours it, and one the server did not issue (garbage, an edited one,
 * another user's) is refused with 400.
 */
export class InboxCursors {
  constructor(private readonly key: Buffer) {}

  /**
   * The key: the given secret; else one derived from the JWT secret or public key (the same on every instance,
   * and not the JWT secret itself); else random, for this process only (`shared: false`).
   */
  static keyOf(cursorSecret: string | undefined, jwt?: { secret?: string; publicKey?: string }): { key: Buffer; shared: boolean } {
    const material = cursorSecret ?? jwt?.secret ?? jwt?.publicKey;
    if (material === undefined) return { key: randomBytes(32), shared: false };
    return { key: createHash('sha256').update('sse-inbox-cursor\n').update(material).digest(), shared: true };
  }

  issue(userId: string, status: InboxStatus, after: EventPosition): string {
    const id = formatEventId(after);
    return `${Buffer.from(id).toString('base64url')}.${this.mac(userId, status, id).toString('base64url')}`;
  }

  /** The position a cursor stands for; a 400 for one not issued for this user and status. */
  read(userId: string, status: InboxStatus, cursor: string): EventPosition {
    const [encoded, mac, ...rest] = cursor.length <= MAX_CURSOR_LENGTH ? cursor.split('.') : [];
    const id = encoded === undefined ? '' : Buffer.from(encoded, 'base64url').toString();
    const position = parseEventId(id);
    const given = Buffer.from(mac ?? '', 'base64url');
    const canonical = Buffer.from(id).toString('base64url') === encoded;
    if (!position || !canonical || rest.length > 0 || given.length !== MAC_BYTES || !timingSafeEqual(given, this.mac(userId, status, id))) {
      throw new InvalidSseInputError('The cursor is not one this server issued for this list');
    }
    return position;
  }

  private mac(userId: string, status: InboxStatus, id: string): Buffer {
    return createHmac('sha256', this.key).update(`${userId}\n${status}\n${id}`).digest().subarray(0, MAC_BYTES);
  }
}
