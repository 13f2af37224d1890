import { comparePositions, type EventPosition, parseEventId } from '../events/event-position.js';
import type { LossReason } from '../../protocol/reserved-events.js';
import { HistoryStore, type HistoryRead } from './history.store.js';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import { targetOfHistoryKey } from '../events/publish-target.js';
import type { RedisBackplane, RedisScript } from '../redis/redis-backplane.js';
import { LUA_EVENT_IDS, LUA_NOW } from '../redis/redis-lua.js';

// Reads, in one atomic step, everything after a cursor from several history
// streams, or says why that cannot be complete.
// KEYS: last-id, origin, history streams...   ARGV: after, ttlMs
// Returns { reason } or { 'ok', entries of stream 1, entries of stream 2, ... }.
const READ = `${LUA_NOW}${LUA_EVENT_IDS}
local after = ARGV[1]
local origin = redis.call('GET', KEYS[2])
if not origin or before(after, origin) then return {'restarted'} end
local last = redis.call('GET', KEYS[1]) or origin
if before(last, after) then return {'unknown'} end
local result = {'ok'}
if last == after then return result end
local after_ms = parse_id(after)
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for j = 1, #info, 2 do
      if info[j] == 'max-deleted-entry-id' and before(after, info[j + 1]) then return {'expired'} end
    end
    table.insert(result, redis.call('XRANGE', KEYS[i], '(' .. after, '+'))
  elseif after_ms < now - tonumber(ARGV[2]) then
    -- The stream expired whole: whether it held events after the cursor is not known.
    return {'expired'}
  else
    table.insert(result, {})
  end
end
return result
`;

/** The history in Redis Streams, one per user, topic and the broadcasts, written by the Redis broker. */
export class RedisHistoryStore extends HistoryStore {
  private readonly readScript: RedisScript;

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly ttlMs: number,
  ) {
    super();
    this.readScript = backplane.script('sseRead', READ);
  }

  async head(): Promise<EventPosition> {
    const origin = await this.backplane.origin();
    const last = await this.backplane.client.get(this.backplane.keys.lastId);
    return parseEventId(last ?? origin)!;
  }

  async read(keys: readonly string[], after: EventPosition): Promise<HistoryRead> {
    const { keys: redisKeys } = this.backplane;
    const reply = (await this.readScript(
      [redisKeys.lastId, redisKeys.origin, ...keys.map((key) => redisKeys.history(key))],
      [`${after.ms}-${after.seq}`, this.ttlMs],
    )) as [string, ...[string, string[]][][]];
    const [status, ...perKey] = reply;
    if (status !== 'ok') return { events: [], loss: status as LossReason };
    const events: PublishedEvent[] = [];
    perKey.forEach((entries, i) => {
      const target = targetOfHistoryKey(keys[i]);
      for (const [id, fields] of entries) events.push(createPublishedEvent(parseEventId(id)!, target, fields[1], fields[3]));
    });
    events.sort((a, b) => comparePositions(a.position, b.position));
    return { events };
  }
}
