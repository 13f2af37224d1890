import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import type { RedisNode } from '../../src/sse/index.js';
import { eventually } from './waiting.js';
import { closeClient, redisAnswers } from '../environment/private-redis.js';

/** A port nothing listens on (just released by the OS): for a Redis of a suite's own, or one that is not there. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `redis-server` on 127.0.0.1:`port` that saves nothing: started again, it is empty. With `dataDir`, it keeps
 * everything there instead (an append-only file, synced on every write), so that even one killed comes back whole.
 */
export function spawnRedisServer(port: number, password?: string, dataDir?: string): ChildProcess {
  const persistence = dataDir ? ['--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence];
  if (password) args.push('--requirepass', password);
  return spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A client that connects when told to and fails at once rather than retrying: for a Redis that comes and goes. */
export function probeClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

/** Whether a Redis answers PING: the same check that decides whether npm test starts a private one. */
export { redisAnswers };

/** Disconnects a client, probeClient's above all, without leaving a timer behind when its connection already failed. */
export { closeClient };

/** Every key under `prefix`, on every master of a cluster. */
export async function keysUnder(redis: Redis | Cluster, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** Deletes every key under `prefix` (one by one: on a cluster, they live in many slots); resolves to how many there were. */
export async function deleteKeys(redis: Redis | Cluster, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  await Promise.all(keys.map((key) => redis.del(key)));
  return keys.length;
}

/** Free ports, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export interface RedisClusterServers {
  /** The masters' addresses, for `redis: { cluster }`. */
  readonly nodes: RedisNode[];
  /** A client of the cluster, for looking at keys. */
  client(): Cluster;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters of this test's own (`redis-server --cluster-enabled yes`, joined by
 * `redis-cli --cluster create`), on free ports, saving nothing; `stop()` kills them and removes their files.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterServers> {
  const dir = mkdtempSync(join(tmpdir(), 'sse-redis-cluster-'));
  const ports = await freePorts(masters * 2);
  const nodes = Array.from({ length: masters }, (_, i) => ({ host: '127.0.0.1', port: ports[i] }));
  const processes = nodes.map(({ port }, i) =>
    spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
        // The bus port would be port + 10000, which may be past 65535 for an ephemeral port.
        ...['--cluster-port', String(ports[masters + i])],
      ],
      { stdio: 'ignore' },
    ),
  );
  const clients: Cluster[] = [];
  const stop = async () => {
    clients.forEach((client) => client.disconnect());
    await Promise.all(processes.map((child) => stopProcess(child)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const urls = nodes.map(({ port }) => `redis://127.0.0.1:${port}`);
    await eventually(async () => (await Promise.all(urls.map((url) => redisAnswers(url)))).every(Boolean), 10_000, 'the cluster nodes to answer');
    await promisify(execFile)('redis-cli', [
      '--cluster', 'create', ...nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes',
    ]);
    await eventually(
      async () => (await Promise.all(urls.map(clusterStateOk))).every(Boolean),
      15_000,
      'every node to report cluster_state:ok',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes,
    client: () => {
      const client = new Cluster(nodes, { lazyConnect: false, redisOptions: { maxRetriesPerRequest: 1 } });
      clients.push(client);
      return client;
    },
    stop,
  };
}

async function clusterStateOk(url: string): Promise<boolean> {
  const client = probeClient(url);
  try {
    await client.connect();
    return (await client.cluster('INFO')).includes('cluster_state:ok');
  } catch {
    return false;
  } finally {
    closeClient(client);
  }
}

/** Kills a server process and waits for it to be gone. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export interface RedisSentinelServers {
  /** The Sentinels' addresses and the master's name, for `redis: { sentinels, name }`. */
  readonly sentinels: RedisNode[];
  readonly name: string;
  readonly masterPort: number;
  readonly replicaPort: number;
  /**
   * Writes the master acknowledges from now on never reach the replica: the replica is frozen (SIGSTOP) and its
   * link to the master cut, as when replication lags behind a master that then dies.
   */
  cutReplication(): Promise<void>;
  /** Kills the master (SIGKILL) and lets the replica run again, for the Sentinel to promote it. */
  killMasterAndWakeReplica(): Promise<void>;
  /** Resolves once the Sentinel names the replica as the master. */
  waitForFailover(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A master, a replica and one Sentinel of this test's own, on free ports, saving nothing; the Sentinel fails
 * over half a second after the master stops answering. `stop()` kills them all and removes their files.
 */
export async function startRedisSentinelSet(): Promise<RedisSentinelServers> {
  const dir = mkdtempSync(join(tmpdir(), 'sse-redis-sentinel-'));
  const [masterPort, replicaPort, sentinelPort] = await freePorts(3);
  const name = 'sse-test-master';
  const server = (port: number, extra: string[] = []) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
      stdio: 'ignore',
    });
  const master = server(masterPort);
  const replica = server(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]);
  // A Sentinel rewrites its configuration file, so it gets one of its own.
  const config = join(dir, 'sentinel.conf');
  writeFileSync(
    config,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 3000`,
      '',
    ].join('\n'),
  );
  const sentinel = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
  const processes = [master, replica, sentinel];
  const stop = async () => {
    for (const child of processes) if (child.signalCode === 'SIGSTOP') child.kill('SIGCONT');
    await Promise.all(processes.map((child) => stopProcess(child)));
    rmSync(dir, { recursive: true, force: true });
  };
  const masterOf = async (): Promise<number | undefined> => {
    const client = probeClient(`redis://127.0.0.1:${sentinelPort}`);
    try {
      await client.connect();
      const address = (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
      return address ? Number(address[1]) : undefined;
    } catch {
      return undefined;
    } finally {
      closeClient(client);
    }
  };
  const ask = async (port: number, ...command: string[]): Promise<unknown> => {
    const client = probeClient(`redis://127.0.0.1:${port}`);
    try {
      await client.connect();
      return await client.call(command[0], ...command.slice(1));
    } finally {
      closeClient(client);
    }
  };
  try {
    await eventually(
      async () => String(await ask(replicaPort, 'INFO', 'replication').catch(() => '')).includes('master_link_status:up'),
      10_000,
      'the replica to be in sync with the master',
    );
    await eventually(
      async () =>
        (await masterOf()) === masterPort &&
        ((await ask(sentinelPort, 'SENTINEL', 'replicas', name).catch(() => [])) as unknown[]).length > 0,
      15_000,
      'the Sentinel to watch the master and know its replica',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
    name,
    masterPort,
    replicaPort,
    async cutReplication() {
      replica.kill('SIGSTOP');
      await ask(masterPort, 'CLIENT', 'KILL', 'TYPE', 'replica');
    },
    async killMasterAndWakeReplica() {
      await stopProcess(master);
      replica.kill('SIGCONT');
    },
    waitForFailover: (timeoutMs) => eventually(async () => (await masterOf()) === replicaPort, timeoutMs, 'the Sentinel to promote the replica'),
    stop,
  };
}

/** A client of the suite's own, connected, for watching and cleaning up what the app writes. */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

/** After a suite: deletes every key under its prefix, checks that none is left, and disconnects. */
export async function removePrefix(redis: Redis, prefix: string): Promise<void> {
  try {
    await deleteKeys(redis, prefix);
    expect(await keysUnder(redis, prefix)).toEqual([]);
  } finally {
    redis.disconnect();
  }
}
