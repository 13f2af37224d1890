import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Broker, type BrokerListener, type PublishOptions } from './broker.js';
import { comparePositions, type EventPosition, formatEventId, parseEventId } from '../events/event-position.js';
import { createPublishedEvent, type PublishedEvent } from '../events/published-event.js';
import { historyKeysOf, type PublishTarget } from '../events/publish-target.js';
import type { RedisBackplane, RedisClient, RedisScript } from '../redis/redis-backplane.js';
import { LUA_EVENT_IDS, LUA_NOW } from '../redis/redis-lua.js';
import type { SseMetrics } from '../observability/sse-metrics.js';

// Gives the entry the next id (Redis's clock, never going back), records an event
// in the history streams of its recipients (none for a disconnect, a signal or an
// event not recorded), and appends it to the log that every instance tails: one
// atomic step, so the log's order is the ids' order.
// KEYS: last-id, origin, log, history streams...   ARGV: kind, type, data, target, maxEvents, ttlMs, logMaxLength
const APPEND = `${LUA_NOW}${LUA_EVENT_IDS}
local ms, seq = now, 0
local last = redis.call('GET', KEYS[1])
if last then
  local last_ms, last_seq = parse_id(last)
  if last_ms >= now then ms, seq = last_ms, last_seq + 1 end
end
local id = string.format('%.0f-%.0f', ms, seq)
redis.call('SET', KEYS[1], id)
redis.call('SET', KEYS[2], id, 'NX')
-- Entries are trimmed with XDEL: unlike MAXLEN and MINID, it records max-deleted-entry-id,
-- which tells a reader that a cursor before it has lost events.
local function drop(key, entries)
  for _, entry in ipairs(entries) do redis.call('XDEL', key, entry[1]) end
end
local function drop_excess(key, max)
  local excess = redis.call('XLEN', key) - max
  if excess > 0 then drop(key, redis.call('XRANGE', key, '-', '+', 'COUNT', excess)) end
end
local ttl = tonumber(ARGV[6])
local min_id = string.format('%.0f-0', now - ttl)
for i = 4, #KEYS do
  local created = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('XADD', KEYS[i], id, 't', ARGV[2], 'd', ARGV[3])
  -- A new stream may be one that expired whole: what it held is unknown, so anything older than the ttl counts as dropped.
  if created then redis.call('XSETID', KEYS[i], id, 'MAXDELETEDID', string.format('%.0f-0', now - ttl + 1)) end
  drop_excess(KEYS[i], tonumber(ARGV[5]))
  drop(KEYS[i], redis.call('XRANGE', KEYS[i], '-', '(' .. min_id))
  redis.call('PEXPIRE', KEYS[i], ttl)
end
redis.call('XADD', KEYS[3], id, 'k', ARGV[1], 't', ARGV[2], 'd', ARGV[3], 'g', ARGV[4])
drop_excess(KEYS[3], tonumber(ARGV[7]))
return id
`;

// After Redis went back in time (a failover that lost writes not yet replicated, a restart from an older
// snapshot): ids are issued after everything this instance knew was issued, and a cursor before that is
// no longer honoured, since what it missed may be among the lost writes.
// KEYS: last-id, origin   ARGV: the newest id known issued   Returns whether anything changed.
const RECOVER = `${LUA_EVENT_IDS}
local known = ARGV[1]
local changed = 0
local last = redis.call('GET', KEYS[1])
if not last or before(last, known) then redis.call('SET', KEYS[1], known); changed = 1 end
local origin = redis.call('GET', KEYS[2])
if not origin or before(origin, known) then redis.call('SET', KEYS[2], known); changed = 1 end
return changed
`;

const EVENT = 'e';
const BATCH = 1000;
const ZERO = { ms: 0, seq: 0 };
const DISCONNECT = 'x';
const SIGNAL = 's';
const EVERY_INSTANCE: PublishTarget = { broadcast: true };

/**
 * The broker over Redis: publishing is one Lua script (id, history, log), and
 * each instance tails the log with one blocking read, so it sees every event
 * once, in id order, and after an outage carries on from where it was.
 */
export class RedisBroker extends Broker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisBroker.name);
  private readonly append: RedisScript;
  private readonly recover: RedisScript;
  private listener?: BrokerListener;
  private reader?: RedisClient;
  private stopped = false;
  private tailing?: Promise<void>;
  /** The id of the last log entry handled here. */
  private cursor = '0-0';
  /** The newest id this instance knows was issued: read from the log, or acknowledged to a publish here. */
  private issued: EventPosition = ZERO;
  /** `issued` when the reader lost Redis: once back, that entry must still be in the log, or writes were lost. */
  private issuedBeforeOutage?: EventPosition;
  /** The data set's origin when tailing began: a new one means Redis lost its data. */
  private origin = '';

  constructor(
    private readonly backplane: RedisBackplane,
    private readonly history: { maxEvents: number; ttlMs: number },
    private readonly metrics: SseMetrics,
  ) {
    super();
    this.append = backplane.script('sseAppend', APPEND);
    this.recover = backplane.script('sseRecover', RECOVER);
  }

  listen(listener: BrokerListener): void {
    this.listener = listener;
  }

  async onModuleInit(): Promise<void> {
    const { client, keys } = this.backplane;
    this.origin = await this.backplane.origin();
    // The log may be empty or trimmed: start after the newest id issued.
    this.cursor = (await client.get(keys.lastId)) ?? '0-0';
    this.noteIssued(this.cursor);
    const reader = this.backplane.createReader();
    // ioredis sends the blocked read again after a reconnection, so an outage is noticed here, not as an error.
    let connections = 0;
    reader.on('close', () => (this.issuedBeforeOutage ??= this.issued));
    reader.on('ready', () => {
      // Streams opened from now on read the history as it is now; only older ones may have missed events.
      const since = Date.now();
      if (++connections > 1) void this.checkForGap(reader, since).catch(() => undefined);
    });
    this.reader = reader;
    this.tailing = this.tail(reader);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.reader?.disconnect();
    await this.tailing;
  }

  async publish(target: PublishTarget, type: string, data: string, options: PublishOptions = {}): Promise<PublishedEvent> {
    const streams = options.record === false ? [] : historyKeysOf(target).map((key) => this.backplane.keys.history(key));
    const id = await this.run(EVENT, target, type, data, streams);
    const event = createPublishedEvent(parseEventId(id)!, target, type, data);
    this.noteIssued(event.position);
    return event;
  }

  async disconnect(userId: string): Promise<void> {
    await this.run(DISCONNECT, { userIds: [userId] }, '', '', []);
  }

  async signal(channel: string, data: string): Promise<void> {
    await this.run(SIGNAL, EVERY_INSTANCE, channel, data, []);
  }

  private async run(kind: string, target: PublishTarget, type: string, data: string, streams: string[]): Promise<string> {
    const { keys, options } = this.backplane;
    return (await this.append(
      [keys.lastId, keys.origin, keys.log, ...streams],
      [kind, type, data, JSON.stringify(target), this.history.maxEvents, this.history.ttlMs, options.logMaxLength],
    )) as string;
  }

  private async tail(reader: RedisClient): Promise<void> {
    const { log } = this.backplane.keys;
    let failing = false;
    while (!this.stopped) {
      try {
        const reply = (await reader.xread('COUNT', BATCH, 'BLOCK', 5000, 'STREAMS', log, this.cursor)) as
          | [string, [string, string[]][]][]
          | null;
        const entries = reply?.[0]?.[1] ?? [];
        // Outages are checked when the reader reconnects ('ready'); a full batch means this instance is far behind.
        if (entries.length === BATCH) await this.checkForGap(reader, Date.now());
        if (failing) this.logger.log('Reading the event log again');
        failing = false;
        for (const [id, fields] of entries) {
          this.cursor = id;
          this.handle(id, fields);
        }
        if (entries.length > 0) this.noteIssued(this.cursor);
      } catch (err) {
        if (this.stopped) break;
        this.metrics.backplaneError('read_log');
        if (!failing) this.logger.warn(`Cannot read the event log: ${(err as Error).message}; retrying`);
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * After the reader reconnected, or when far behind: entries trimmed from the log before
   * they were read here, a Redis that lost its data, or one that went back in time (a
   * failover that lost writes its replica had not received), mean events this instance's
   * streams may never have got. Their clients resume from the history instead, and where
   * that lost events too, they are told so.
   */
  private async checkForGap(reader: RedisClient, since: number): Promise<void> {
    const { log, origin, lastId } = this.backplane.keys;
    const known = this.issuedBeforeOutage ?? this.issued;
    this.issuedBeforeOutage = undefined;
    const knownId = formatEventId(known);
    const [info, currentOrigin, stillThere] = await Promise.all([
      reader.xinfo('STREAM', log).catch(() => null) as Promise<unknown[] | null>,
      reader.get(origin),
      reader.xrange(log, knownId, knownId, 'COUNT', 1),
    ]);
    const deleted = parseEventId(info ? String(info[info.indexOf('max-deleted-entry-id') + 1]) : '0-0') ?? ZERO;
    const trimmedPast = comparePositions(deleted, parseEventId(this.cursor) ?? ZERO) > 0;
    // Compared with entries, not with last-id: ids issued since the failover may already be past the lost ones.
    const wentBack = comparePositions(known, ZERO) > 0 && stillThere.length === 0 && comparePositions(known, deleted) > 0;
    if (wentBack) await this.recover([lastId, origin], [knownId]);
    const lostData = wentBack || currentOrigin !== this.origin;
    if (lostData) this.origin = await this.backplane.origin();
    if (trimmedPast || lostData) {
      const why = wentBack ? 'Redis lost acknowledged writes' : lostData ? 'Redis lost its data' : 'the log was trimmed';
      this.logger.warn(`Events may have been missed (${why}); ending streams so clients resume`);
      this.listener?.onGap(since);
    }
  }

  /** Keeps the newest id known to have been issued, whichever way it became known. */
  private noteIssued(id: string | EventPosition): void {
    const position = typeof id === 'string' ? parseEventId(id) : id;
    if (position && comparePositions(position, this.issued) > 0) this.issued = position;
  }

  private handle(id: string, fields: string[]): void {
    const entry: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
    if (entry.k === SIGNAL) return this.deliverSignal(entry.t, entry.d);
    const target = JSON.parse(entry.g) as PublishTarget;
    if (entry.k === DISCONNECT) {
      if ('userIds' in target) target.userIds.forEach((userId) => this.listener?.onDisconnect(userId));
    } else {
      this.listener?.onEvent(createPublishedEvent(parseEventId(id)!, target, entry.t, entry.d));
    }
  }
}
