import type { LossReason } from '../../protocol/reserved-events.js';
import { comparePositions, type EventPosition, formatEventId, parseEventId } from '../events/event-position.js';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import { targetOfHistoryKey } from '../events/publish-target.js';
import type { SseMetrics } from '../observability/sse-metrics.js';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { LUA_EVENT_IDS, LUA_NOW } from '../redis/redis-lua.js';
import { HistoryStore, type HistoryRead } from './history.store.js';

// Reads one history stream after a cursor and up to a bound, or says why that cannot be complete.
// KEYS: last-id, origin, the history stream   ARGV: after, upTo, ttlMs
// Returns { reason } or { 'ok', entries }.
const READ = `${LUA_NOW}${LUA_EVENT_IDS}
local after = ARGV[1]
local origin = redis.call('GET', KEYS[2])
if not origin or before(after, origin) then return {'restarted'} end
local last = redis.call('GET', KEYS[1]) or origin
if before(last, after) then return {'unknown'} end
if not before(after, ARGV[2]) then return {'ok', {}} end
if redis.call('EXISTS', KEYS[3]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[3])
  for j = 1, #info, 2 do
    if info[j] == 'max-deleted-entry-id' and before(after, info[j + 1]) then return {'expired'} end
  end
  return {'ok', redis.call('XRANGE', KEYS[3], '(' .. after, ARGV[2])}
end
-- The stream expired whole: whether it held events after the cursor is not known.
if parse_id(after) < now - tonumber(ARGV[3]) then return {'expired'} end
return {'ok', {}}
`;

type KeyRead = { readonly events: readonly PublishedEvent[]; readonly loss?: LossReason };

/** When reads of several keys fail, the reason a client is told: the widest loss first. */
const LOSS_ORDER: readonly LossReason[] = ['restarted', 'unknown', 'expired', 'malformed'];

/**
 * The history in Redis Streams, one per user, topic and the broadcasts, written
 * by the Redis broker. A resume reads each of its keys on its own, up to the
 * same bound, and identical reads in flight are merged: when thousands of
 * clients reconnect at once from the same broadcast, its history is read once.
 */
export class RedisHistoryStore extends HistoryStore {
  private readonly readScript: RedisScript;
  private readonly inFlight = new Map<string, Promise<KeyRead>>();

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly ttlMs: number,
    private readonly metrics: SseMetrics,
  ) {
    super();
    this.readScript = backplane.script('sseRead', READ);
  }

  async head(): Promise<EventPosition> {
    const origin = await this.backplane.origin();
    const last = await this.backplane.client.get(this.backplane.keys.lastId);
    return parseEventId(last ?? origin)!;
  }

  async read(keys: readonly string[], after: EventPosition, upTo?: EventPosition): Promise<HistoryRead> {
    // Events up to the head are all recorded: a bound for reads that are not one step.
    const bound = upTo ?? (await this.head());
    const reads = await Promise.all(keys.map((key) => this.readKey(key, formatEventId(after), formatEventId(bound))));
    const loss = LOSS_ORDER.find((reason) => reads.some((read) => read.loss === reason));
    if (loss) return { events: [], loss };
    const events = reads.flatMap((read) => read.events);
    events.sort((a, b) => comparePositions(a.position, b.position));
    return { events };
  }

  /** One key's read, shared with any identical read already in flight. */
  private readKey(key: string, after: string, upTo: string): Promise<KeyRead> {
    const id = `${key}\n${after}\n${upTo}`;
    const running = this.inFlight.get(id);
    this.metrics.historyRead(running !== undefined);
    if (running) return running;
    const read = this.fetch(key, after, upTo).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, read);
    return read;
  }

  private async fetch(key: string, after: string, upTo: string): Promise<KeyRead> {
    const { keys } = this.backplane;
    const [status, entries] = (await this.readScript([keys.lastId, keys.origin, keys.history(key)], [after, upTo, this.ttlMs])) as [
      string,
      [string, string[]][]?,
    ];
    if (status !== 'ok') return { events: [], loss: status as LossReason };
    const target = targetOfHistoryKey(key);
    return { events: entries!.map(([id, fields]) => createPublishedEvent(parseEventId(id)!, target, fields[1], fields[3])) };
  }
}
