/**
 * What only a Redis Cluster can get wrong, on a real three-master cluster
 * (test/helpers/redisCluster.ts): one master that comes back without its data
 * while the others keep theirs, and per-node answers (CONFIG GET, INFO) that a
 * cluster client sends to one node picked at random. The store contracts run
 * on a cluster in their own files (capStore, callStore, ... `redis cluster`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisCapStore } from '../../src/platform/store/RedisCapStore.js';
import { clusterAddress, clusterSeeds } from '../../src/platform/store/redisClient.js';
import { StoreDataLostError, isTtmaError } from '../../src/errors.js';
import { runPlatformCommand } from '../../src/platform/cli.js';
import { redisUnavailable } from '../helpers/redisServer.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redisCluster.js';

const JAN = { day: '2025-01-31', month: '2025-01' };
const LIMITS = { day: 10, month: 100 };
/** A per-node answer read this many times: sent to a random node, a wrong one would show (1/3 right each time). */
const LOOKS = 8;

describe('the redis cluster seed list (--redis-cluster, TTMA_REDIS_CLUSTER)', () => {
  it('takes host:port entries and refuses anything else with TTMA_ERR_CONFIG naming the entry', () => {
    assert.deepEqual(clusterSeeds(' 10.0.0.1:7000,redis-b:7001 , [::1]:7002'), [
      { host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }, { host: '::1', port: 7002 },
    ]);
    assert.equal(clusterAddress('a:1,[::1]:2'), 'redis-cluster://a:1,[::1]:2');
    for (const bad of ['', 'a:1,', 'a', 'a:0', 'a:65536', 'redis://a:1', 'a:1/x', 'a b:1', Array.from({ length: 65 }, (_, i) => `h:${i + 1}`).join(',')]) {
      assert.throws(() => clusterSeeds(bad), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG'), bad);
    }
  });
});

describe('ttma platform --redis-cluster', () => {
  const base = ['--provider-url', 'http://127.0.0.1:1', '--provider-api-key-file', '/nonexistent'];
  it('refuses it together with --redis-url, and a bad seed, at start (TTMA_ERR_CONFIG)', async () => {
    await assert.rejects(runPlatformCommand([...base, '--redis-url', 'redis://127.0.0.1:1', '--redis-cluster', '127.0.0.1:2']), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /not both/.test(err.message));
    await assert.rejects(runPlatformCommand([...base, '--redis-cluster', 'nope']), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /"nope"/.test(err.message));
  });
});

describe('the cap store on a real three-master cluster', { skip: redisUnavailable() }, () => {
  let cluster: RedisCluster | undefined;
  const opened: RedisCapStore[] = [];
  const store = async (prefix: string): Promise<RedisCapStore> => {
    const s = new RedisCapStore({ url: cluster!.url, prefix });
    opened.push(s);
    assert.equal(await s.ready(), true);
    return s;
  };
  /** A direct connection to the master that serves `key`. */
  const nodeClient = (key: string): Redis => new Redis(cluster!.nodeOf(key).url);
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await cluster?.stop();
  });

  it('a master back without its data is seen, though the marker lives on another: the next reservation is refused, nothing granted afresh', async () => {
    const s = await store('one');
    const marker = cluster!.nodeOf('one:{meta}:epoch');
    // A deployment whose counters live on another master than the marker.
    const d = Array.from({ length: 50 }, (_, i) => `dep-${i}`).find((id) => cluster!.nodeOf(`one:{dep:${id}}`) !== marker)!;
    assert.equal((await s.reserve(d, 'a', 1, LIMITS, JAN, { nextAtMs: 0 })).ok, true);
    assert.equal(await s.dataKept(), true);
    const wiped = nodeClient(`one:{dep:${d}}`);
    try {
      await wiped.flushall();
    } finally {
      wiped.disconnect();
    }
    assert.equal(await cluster!.raw.exists('one:{meta}:epoch'), 1, 'the marker itself survived');
    await assert.rejects(s.reserve(d, 'b', 1, LIMITS, JAN, { nextAtMs: 0 }), (err) => err instanceof StoreDataLostError);
    assert.deepEqual(await s.usage(d, JAN), { day: 0, month: 0 }, 'no fresh minutes');
    assert.equal(await s.dataKept(), false);
  });

  it('persistence: one master without it is reported, whichever node the client would have asked', async () => {
    const s = await store('persist');
    // All three start without persistence (the test servers'); two get an append-only file.
    const [a, b] = cluster!.nodes.slice(0, 2).map((n) => new Redis(n.url));
    try {
      for (const node of [a!, b!]) await node.config('SET', 'appendonly', 'yes');
      for (let i = 0; i < LOOKS; i++) assert.equal((await s.persistence()).kind, 'none');
      const c = new Redis(cluster!.nodes[2]!.url);
      await c.config('SET', 'appendonly', 'yes').finally(() => c.disconnect());
      assert.equal((await s.persistence()).kind, 'persistent');
    } finally {
      a!.disconnect();
      b!.disconnect();
    }
  });

  it('eviction: one master that may evict keys is reported, whichever node the client would have asked', async () => {
    const s = await store('evict');
    assert.equal(await s.evictionRisk(), null);
    const last = new Redis(cluster!.nodes[2]!.url);
    try {
      await last.config('SET', 'maxmemory', '512mb');
      await last.config('SET', 'maxmemory-policy', 'allkeys-lru');
      for (let i = 0; i < LOOKS; i++) assert.deepEqual(await s.evictionRisk(), { maxmemoryBytes: 512 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lru' });
    } finally {
      await last.config('SET', 'maxmemory', '0').catch(() => undefined);
      last.disconnect();
    }
  });
});
