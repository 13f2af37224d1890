import { jest } from '@jest/globals';
import { startDemoServer, type DemoServer } from './harness/demo-server.js';
import { startRedisSentinelSet, type RedisSentinelServers } from './harness/redis.js';
import { lossOf, TestStream, type ReceivedEvent } from './harness/sse-client.js';
import { signToken } from './harness/tokens.js';
import { eventually, sleep } from './harness/waiting.js';

/**
 * Redis behind a Sentinel, failing over: a master, a replica and a Sentinel
 * of the suite's own, two instances of the demo app following the master
 * through the Sentinel. The master dies with writes it acknowledged but never
 * replicated (replication is asynchronous); the replica is promoted without
 * them. Nothing may be skipped silently: a client that resumes from before
 * the lost writes is told of the loss, while one that received them live goes
 * on without a loss.
 */

const PREFIX = `sse-test-${process.pid}-${Date.now()}-sentinel:`;
const TYPE = 'note';
const WAIT_MS = 15_000;

jest.setTimeout(60_000);

function notes(stream: TestStream): ReceivedEvent[] {
  return stream.ofType(TYPE);
}

describe('Redis behind a Sentinel: a failover that loses acknowledged writes', () => {
  let redis: RedisSentinelServers;
  let a: DemoServer;
  let b: DemoServer;
  const streams: TestStream[] = [];

  async function open(server: DemoServer, userId: string, lastEventId?: string): Promise<TestStream> {
    const headers: Record<string, string> = lastEventId ? { 'Last-Event-ID': lastEventId } : {};
    const stream = await TestStream.open(server.url, await signToken(userId), { types: [TYPE], headers });
    streams.push(stream);
    return stream;
  }

  beforeAll(async () => {
    redis = await startRedisSentinelSet();
    const config = {
      redisSentinels: redis.sentinels,
      redisSentinelName: redis.name,
      redisKeyPrefix: PREFIX,
      redisLeaseTtlMs: 3000,
    };
    [a, b] = await Promise.all([startDemoServer(config), startDemoServer(config)]);
  }, 40_000);

  afterAll(async () => {
    streams.forEach((stream) => stream.close());
    await Promise.all([a, b].filter(Boolean).map((server) => server.close()));
    await redis?.stop();
  }, 20_000);

  it('reports the lost writes as loss to a client resuming from before them, and loses nothing for one that got them', async () => {
    const live = await open(a, 'sam');
    const early = await open(b, 'sam');
    const e1 = await a.publishId({ userId: 'sam', type: TYPE, data: 1 });
    await early.waitForType(TYPE, 1);
    early.close();

    // Replicated: the replica has it before the link is cut.
    const e2 = await b.publishId({ userId: 'sam', type: TYPE, data: 2 });
    await live.waitForType(TYPE, 2);
    await redis.cutReplication();
    // Acknowledged by the master, and received live, but never replicated.
    const e3 = await a.publishId({ userId: 'sam', type: TYPE, data: 3 });
    const e4 = await b.publishId({ userId: 'sam', type: TYPE, data: 4 });
    await live.waitForType(TYPE, 4);

    await redis.killMasterAndWakeReplica();
    // While no master answers, a publish is refused at once, not left hanging.
    const started = Date.now();
    const during = await a.publish({ userId: 'sam', type: TYPE, data: 'during' });
    expect(during.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);

    await redis.waitForFailover(WAIT_MS);
    await eventually(async () => (await a.publish({ userId: 'probe', type: TYPE, data: 0 })).status === 202, WAIT_MS, 'publishing to work again on A');
    await eventually(async () => (await b.publish({ userId: 'probe', type: TYPE, data: 0 })).status === 202, WAIT_MS, 'publishing to work again on B');
    const e5 = await a.publishId({ userId: 'sam', type: TYPE, data: 5 });

    // The client that got everything live: every event once, in order, and no loss, across its reconnection.
    await live.until(() => notes(live).some((event) => event.id === e5), WAIT_MS);
    expect(notes(live).map((event) => event.id)).toEqual([e1, e2, e3, e4, e5]);
    expect(live.ofType('sse.loss')).toEqual([]);

    // Clients that missed e3 and e4 (from before the cut, and from just before it): told, not silently skipped.
    for (const cursor of [e1, e2]) {
      const resumed = await open(b, 'sam', cursor);
      await resumed.waitForType('sse.loss', 1);
      await sleep(250);
      expect(resumed.events.map((event) => event.type)).toEqual(['sse.ready', 'sse.loss']);
      expect(lossOf(resumed.ofType('sse.loss')[0])).toEqual({ reason: 'restarted', lastEventId: cursor });
    }

    // From after the lost writes, a resume on either instance is exact.
    const after = await open(a, 'sam', e4);
    await after.waitForType(TYPE, 1);
    await sleep(250);
    expect(after.ofType('sse.loss')).toEqual([]);
    expect(notes(after).map((event) => event.id)).toEqual([e5]);
  });
});
