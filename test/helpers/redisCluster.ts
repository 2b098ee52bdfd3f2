/**
 * A real three-master Redis Cluster for tests, made of the same redis-server
 * processes `startRedisServer` starts (so the same CI rule: missing in CI is a
 * failure, not a skip). Each node runs with `--cluster-enabled yes` in a temp
 * directory of its own (its nodes.conf); slots are split in three with
 * `CLUSTER ADDSLOTSRANGE` and the nodes joined with `CLUSTER MEET`
 * (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/), no
 * redis-cli needed. Bounded waits; everything stopped and removed at the end.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { prefixedStores, startRedisServer, type RedisServer } from './redisServer.js';
import { clusterAddress } from '../../src/platform/store/redisClient.js';
import { keySlot } from '../../src/platform/store/redisKeySlot.js';

export interface RedisCluster {
  /** The platform's address for it (what `--redis-cluster host:port,...` becomes). */
  url: string;
  nodes: RedisServer[];
  /** A cluster client for checks (key slots, FLUSHALL on every master). */
  raw: Cluster;
  /** The node that serves a key's slot (the slots are split evenly, in node order, and never moved here). */
  nodeOf(key: string): RedisServer;
  stop(): Promise<void>;
}

const SLOTS = 16384;
const STATE_WAIT_MS = 15_000;

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-cluster-'));
  const step = Math.ceil(SLOTS / masters);
  const nodes: RedisServer[] = [];
  const clients: Redis[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const nodeDir = join(dir, `n${i}`);
      await mkdir(nodeDir);
      nodes.push(await startNode(nodeDir));
    }
    for (const node of nodes) clients.push(new Redis(node.url));
    await Promise.all(clients.map((client, i) => client.call('CLUSTER', 'ADDSLOTSRANGE', String(i * step), String(Math.min(SLOTS, (i + 1) * step) - 1))));
    for (const node of nodes.slice(1)) await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port));
    await waitForState(clients);
  } catch (err) {
    for (const client of clients) client.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  for (const client of clients) client.disconnect();
  const url = clusterAddress(nodes.map((n) => `127.0.0.1:${n.port}`).join(','));
  const raw = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  return {
    url,
    nodes,
    raw,
    nodeOf: (key) => nodes[Math.floor(keySlot(key) / step)]!,
    stop: async () => {
      raw.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One cluster node. A free port can be taken by another process on this shared machine before
 * redis-server binds it (it then exits 1, saying so on stdout): a new port, three tries at most.
 */
async function startNode(dir: string): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisServer(undefined, { args: ['--cluster-enabled', 'yes', '--dir', dir, '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] });
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** Every node says `cluster_state:ok` and knows every other (bounded). */
async function waitForState(clients: Redis[]): Promise<void> {
  const deadline = Date.now() + STATE_WAIT_MS;
  for (;;) {
    const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
    if (infos.every((info) => /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${clients.length}\\b`).test(info))) return;
    if (Date.now() > deadline) throw new Error(`redis cluster not ok within ${STATE_WAIT_MS} ms: ${infos.map((i) => /cluster_state:\w+/.exec(i)?.[0]).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** As `prefixedRedisStores`, on one cluster for the file: a fresh prefix per store and a twin on it. */
export async function prefixedClusterStores<S extends object, O>(make: (url: string, prefix: string, options?: O) => S) {
  return prefixedStores(await startRedisCluster(), make);
}
