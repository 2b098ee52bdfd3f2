/**
 * One behavioural suite for the deployment store, through the registry the
 * platform uses, run against the embedded store and a real redis-server:
 * a number, and a tunnel host, belongs to at most one deployment (also when
 * claimed concurrently from two platform processes; hosts stored shared
 * before that rule keep working), updates move numbers
 * atomically, rotation and disable take effect at once, and Redis holds
 * the secret's digest only.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DeploymentRegistry, MemoryDeploymentStore, type Deployment, type DeploymentStore } from '../../src/platform/DeploymentRegistry.js';
import { sharedTunnelHosts } from '../../src/platform/tunnelHostOwners.js';
import { legacyMemoryStore, seedRedisDeployments, storedDeployment } from '../helpers/legacyDeployments.js';
import { RedisDeploymentStore } from '../../src/platform/store/RedisDeploymentStore.js';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { redisUnavailable, startRedisServer, useRedisServer } from '../helpers/redisServer.js';
import { startRedisCluster } from '../helpers/redisCluster.js';
import { stateDirs } from '../helpers/stateDirs.js';

let numberSeq = 0;
const number = (): string => `+1555${String(2_000_000 + numberSeq++).padStart(7, '0')}`;
const input = (id: string, numbers = [number()]) => ({ id, numbers, tunnelHost: `${id}.trycloudflare.com` });

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isTtmaError(err), `expected a TtmaError, got ${String(err)}`);
    return err.code;
  }
  return 'resolved';
}

/** Polls `check` (bounded, 2 s) and returns how long it took to hold. */
async function eventually(check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > 2_000) assert.fail('did not happen within 2 s');
    await new Promise((r) => setTimeout(r, 2));
  }
  return Date.now() - started;
}

interface Made {
  /** A store on fresh state, and a second client on the same state (Redis: a second platform process). */
  pair(): Promise<[DeploymentStore, DeploymentStore]>;
  /** A store on fresh state holding `records` as stored before the tunnel-host rule (unchecked). */
  legacy(records: Deployment[]): Promise<DeploymentStore>;
  close(): Promise<void>;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`deployment store contract: ${name}`, { skip }, () => {
    let made: Made;
    before(async () => (made = await make()));
    after(() => made?.close());
    const id = (): string => `dep-${randomUUID().slice(0, 8)}`;
    /** Two deployments registered through one process, and a registry on a second one (Redis: another platform process). */
    const twoRegistered = async () => {
      const [store, twin] = await made.pair();
      const registry = new DeploymentRegistry({ store });
      const other = new DeploymentRegistry({ store: twin });
      const a = input(id());
      const b = input(id());
      await registry.register(a);
      await registry.register(b);
      return { twin, registry, other, a, b };
    };

    it('registers, authenticates by digest, lists, and refuses a taken id or number', async () => {
      const [store] = await made.pair();
      const registry = new DeploymentRegistry({ store });
      const a = input(id());
      const { agentSecret } = await registry.register(a);
      assert.deepEqual((await registry.get(a.id))?.agentSecretSha256, createHash('sha256').update(agentSecret).digest());
      assert.equal((await registry.authenticate(a.id, agentSecret)).id, a.id);
      assert.equal(await code(registry.authenticate(a.id, `${agentSecret}x`)), 'TTMA_ERR_AUTH');
      assert.equal((await registry.findByNumber(a.numbers[0]!))?.id, a.id);
      assert.equal(await code(registry.register({ ...input(a.id) })), 'TTMA_ERR_CONFLICT');
      const thief = input(id(), [number(), a.numbers[0]!]);
      assert.equal(await code(registry.register(thief)), 'TTMA_ERR_CONFLICT');
      // The refused registration left nothing behind, not even its free number.
      assert.equal(await registry.get(thief.id), undefined);
      assert.equal(await registry.findByNumber(thief.numbers[0]!), undefined);
      assert.ok((await registry.list()).some((d) => d.id === a.id));
    });

    it('gives a number to exactly one of 12 deployments claiming it at once, from two processes', async () => {
      const stores = await made.pair();
      const registries = stores.map((store) => new DeploymentRegistry({ store }));
      const contested = number();
      const claims = Array.from({ length: 12 }, () => input(id(), [number(), contested]));
      const results = await Promise.allSettled(claims.map((c, i) => registries[i % 2]!.register(c)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [claims[i]!.id] : []));
      assert.equal(won.length, 1, 'one winner');
      for (const r of results) if (r.status === 'rejected') assert.ok(isTtmaError(r.reason, 'TTMA_ERR_CONFLICT'));
      for (const registry of registries) assert.equal((await registry.findByNumber(contested))?.id, won[0]);
    });

    it('moves numbers on update atomically, and an update cannot take another deployment\'s number', async () => {
      const { registry, other, a, b } = await twoRegistered();
      const fresh = number();
      await registry.update(a.id, { numbers: [fresh] });
      assert.equal(await registry.findByNumber(a.numbers[0]!), undefined, 'the old number is free');
      assert.equal((await other.findByNumber(fresh))?.id, a.id);
      assert.equal(await code(other.register(input(id(), [fresh]))), 'TTMA_ERR_CONFLICT');
      assert.equal(await code(registry.update(b.id, { numbers: [b.numbers[0]!, fresh] })), 'TTMA_ERR_CONFLICT');
      assert.deepEqual((await registry.get(b.id))?.numbers, b.numbers, 'refused update changed nothing');
      // The freed number can be claimed by another deployment.
      await other.register(input(id(), [a.numbers[0]!]));
    });

    it('a tunnel host belongs to one deployment: create and update refused, its own host kept, a move frees it, compared without case or trailing dot', async () => {
      const { twin, registry, other, a, b } = await twoRegistered();
      const thief = { ...input(id()), tunnelHost: a.tunnelHost };
      const refused = await other.register(thief).then(() => undefined, (err: unknown) => err);
      assert.ok(isTtmaError(refused, 'TTMA_ERR_TUNNEL_HOST_TAKEN'), String(refused));
      assert.equal(refused.status, 409);
      assert.match(refused.message, new RegExp(`tunnel host ${a.tunnelHost} is already registered to deployment ${a.id}`));
      assert.equal(await other.get(thief.id), undefined, 'nothing left behind');
      assert.equal(await other.findByNumber(thief.numbers[0]!), undefined, 'not even its number');
      assert.equal(await code(other.update(b.id, { tunnelHost: a.tunnelHost })), 'TTMA_ERR_TUNNEL_HOST_TAKEN');
      assert.equal((await registry.get(b.id))?.tunnelHost, b.tunnelHost, 'refused update changed nothing');
      // Its own host, named again with other changes, is fine.
      assert.equal((await registry.update(a.id, { tunnelHost: a.tunnelHost, caps: { dayMinutes: 5 } })).caps.dayMinutes, 5);
      // Hosts are DNS names: case and a trailing dot do not make another one (a record as an older store might hold it).
      const stored = (await registry.get(a.id))!;
      const shouted = { ...stored, id: id(), numbers: [number()], tunnelHost: `${a.tunnelHost.toUpperCase()}.` };
      assert.equal(await code(twin.insert(shouted)), 'TTMA_ERR_TUNNEL_HOST_TAKEN');
      assert.equal(await code(twin.replace({ ...(await twin.get(b.id))!, tunnelHost: `${a.tunnelHost}.` })), 'TTMA_ERR_TUNNEL_HOST_TAKEN');
      // A moves: its old host is free for B, its new one taken.
      const moved = `${a.id}-new.trycloudflare.com`;
      await registry.update(a.id, { tunnelHost: moved });
      assert.equal((await other.update(b.id, { tunnelHost: a.tunnelHost })).tunnelHost, a.tunnelHost);
      assert.equal(await code(other.register({ ...input(id()), tunnelHost: moved })), 'TTMA_ERR_TUNNEL_HOST_TAKEN');
      assert.equal(await code(other.register({ ...input(id()), tunnelHost: b.tunnelHost })), 'resolved', "B's old host is free too");
    });

    it('gives a tunnel host to exactly one of 12 deployments claiming it at once, from two processes', async () => {
      const stores = await made.pair();
      const registries = stores.map((store) => new DeploymentRegistry({ store }));
      const host = `${id()}.trycloudflare.com`;
      const claims = Array.from({ length: 12 }, () => ({ ...input(id()), tunnelHost: host }));
      const results = await Promise.allSettled(claims.map((c, i) => registries[i % 2]!.register(c)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [claims[i]!.id] : []));
      assert.equal(won.length, 1, 'one winner');
      for (const r of results) if (r.status === 'rejected') assert.ok(isTtmaError(r.reason, 'TTMA_ERR_TUNNEL_HOST_TAKEN'), String(r.reason));
      const holders = (await registries[1]!.list()).filter((d) => d.tunnelHost === host).map((d) => d.id);
      assert.deepEqual(holders, won);
    });

    it('a host shared in data stored before the rule: both keep working and updating, a third is refused, a move frees it only once both moved', async () => {
      const shared = `${id()}.trycloudflare.com`;
      const a = storedDeployment(id(), [number()], shared);
      const b = storedDeployment(id(), [number()], shared);
      // A record holding its host in another case with a trailing dot (written by hand, or by an older platform).
      const loud = `${id()}.trycloudflare.com`;
      const c = storedDeployment(id(), [number()], `${loud.toUpperCase()}.`);
      const registry = new DeploymentRegistry({ store: await made.legacy([a, b, c]) });
      assert.deepEqual([...sharedTunnelHosts(await registry.list())], [[shared, [a.id, b.id].sort()]]);
      assert.equal(await code(registry.register({ ...input(id()), tunnelHost: loud })), 'TTMA_ERR_TUNNEL_HOST_TAKEN', 'the stored host compared as a DNS name');
      assert.equal((await registry.update(b.id, { caps: { dayMinutes: 9 } })).caps.dayMinutes, 9, 'not locked out');
      assert.equal((await registry.update(a.id, { numbers: [number()] })).tunnelHost, shared);
      assert.equal(await code(registry.register({ ...input(id()), tunnelHost: shared })), 'TTMA_ERR_TUNNEL_HOST_TAKEN');
      await registry.update(a.id, { tunnelHost: `${a.id}.trycloudflare.com` });
      assert.equal(await code(registry.register({ ...input(id()), tunnelHost: shared })), 'TTMA_ERR_TUNNEL_HOST_TAKEN', 'B still holds it');
      await registry.update(b.id, { tunnelHost: `${b.id}.trycloudflare.com` });
      assert.equal(await code(registry.register({ ...input(id()), tunnelHost: shared })), 'resolved');
      assert.equal(sharedTunnelHosts(await registry.list()).size, 0);
    });

    it('rotation and disable take effect at once on the process that made them, and on every other one as the change arrives; an update does not undo a disable', async () => {
      const [store, twin] = await made.pair();
      const registry = new DeploymentRegistry({ store });
      const other = new DeploymentRegistry({ store: twin });
      const a = input(id());
      const { agentSecret: old } = await registry.register(a);
      // Both processes have read (and may cache) the deployment.
      assert.equal((await registry.authenticate(a.id, old)).id, a.id);
      assert.equal((await other.authenticate(a.id, old)).id, a.id);
      const { agentSecret: next } = await registry.rotateSecret(a.id);
      assert.equal(await code(registry.authenticate(a.id, old)), 'TTMA_ERR_AUTH', 'at once where it was made');
      const waitedMs = await eventually(async () => (await code(other.authenticate(a.id, old))) === 'TTMA_ERR_AUTH');
      assert.ok(waitedMs < 200, `the other process refused the old secret after ${waitedMs} ms`);
      assert.equal((await other.authenticate(a.id, next)).id, a.id);
      // An update computed from a copy read before the disable must not re-enable.
      const before = await other.get(a.id);
      assert.equal(await registry.setDisabled(a.id, true), true);
      assert.equal(await code(registry.authenticate(a.id, next)), 'TTMA_ERR_DEPLOYMENT_DISABLED');
      assert.equal(await twin.replace({ ...before!, caps: { dayMinutes: 7, monthMinutes: 70 } }), true);
      assert.equal(await code(other.authenticate(a.id, next)), 'TTMA_ERR_DEPLOYMENT_DISABLED');
      await eventually(async () => (await code(registry.authenticate(a.id, next))) === 'TTMA_ERR_DEPLOYMENT_DISABLED');
      assert.equal((await registry.get(a.id))?.caps.dayMinutes, 7);
      assert.equal(await registry.setDisabled('dep-nobody', true), false);
    });
  });
}

/** Legacy embedded stores opened for a suite, closed with it. */
function legacyMemory(): Pick<Made, 'legacy'> & { closeLegacy(): Promise<void> } {
  const opened: Array<() => Promise<void>> = [];
  return {
    legacy: async (records) => {
      const { store, close } = await legacyMemoryStore(records);
      opened.push(close);
      return store;
    },
    closeLegacy: async () => {
      for (const close of opened.splice(0)) await close();
    },
  };
}

suite('embedded', async () => {
  const { legacy, closeLegacy } = legacyMemory();
  return {
    pair: async () => {
      const store = new MemoryDeploymentStore();
      return [store, store];
    },
    legacy,
    close: closeLegacy,
  };
});

suite('embedded, journaled to a state directory', async () => {
  const dirs = stateDirs();
  const { legacy, closeLegacy } = legacyMemory();
  return {
    pair: async () => {
      const store = new MemoryDeploymentStore(await dirs.journal());
      return [store, store];
    },
    legacy,
    close: async () => {
      await closeLegacy();
      await dirs.close();
    },
  };
});

const skip = redisUnavailable();
const opened: RedisDeploymentStore[] = [];
/** Pairs of processes on one server (or cluster) started for the suite, stopped with it. */
function redisPairs(server: { url: string; stop(): Promise<void> }): Made {
  const url = server.url;
  return {
    legacy: async (records) => {
      const prefix = `t${randomUUID().slice(0, 8)}`;
      const store = new RedisDeploymentStore({ url, prefix });
      opened.push(store);
      assert.equal(await store.ready(), true);
      await seedRedisDeployments(store, prefix, records);
      return store;
    },
    pair: async () => {
      const prefix = `t${randomUUID().slice(0, 8)}`;
      const pair = [new RedisDeploymentStore({ url, prefix }), new RedisDeploymentStore({ url, prefix })] as const;
      opened.push(...pair);
      for (const s of pair) assert.equal(await s.ready(), true);
      // Each process's cache works only once its change subscription is up.
      await eventually(async () => pair.every((s) => s.cacheLive));
      return [pair[0], pair[1]];
    },
    close: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await server.stop();
    },
  };
}
suite('redis', async () => redisPairs(await startRedisServer()), skip);
suite('redis cluster (three masters)', async () => redisPairs(await startRedisCluster()), skip);

describe('redis deployment store: layout and failure', { skip }, () => {
  const redisFx = useRedisServer();

  it('holds the digest, never the secret, in {deployments}-tagged keys; a tampered record authenticates nobody', async () => {
    const store = new RedisDeploymentStore({ url: redisFx.server.url, prefix: 'lay' });
    assert.equal(await store.ready(), true);
    try {
      const registry = new DeploymentRegistry({ store });
      const { agentSecret } = await registry.register({ id: 'acme-1', numbers: ['+15551230001'], tunnelHost: 'acme.trycloudflare.com' });
      const keys = (await redisFx.raw.keys('lay:*')).sort();
      assert.deepEqual(keys, [
        'lay:{deployments}:dep:acme-1',
        'lay:{deployments}:host:acme.trycloudflare.com',
        'lay:{deployments}:hostsIndexed',
        'lay:{deployments}:ids',
        'lay:{deployments}:num:+15551230001',
      ]);
      assert.deepEqual(await redisFx.raw.smembers('lay:{deployments}:host:acme.trycloudflare.com'), ['acme-1']);
      const dump = JSON.stringify(await redisFx.raw.hgetall('lay:{deployments}:dep:acme-1'));
      assert.ok(!dump.includes(agentSecret), 'no raw secret in Redis');
      assert.ok(dump.includes(createHash('sha256').update(agentSecret).digest('hex')));
      await redisFx.raw.hset('lay:{deployments}:dep:acme-1', 'doc', '{"id":"acme-1"}');
      assert.equal(await code(registry.authenticate('acme-1', agentSecret)), 'TTMA_ERR_STORE_UNAVAILABLE');
    } finally {
      await store.close();
    }
  });

  it('serves authentication from its cache only while the change subscription is up', async () => {
    const store = new RedisDeploymentStore({ url: redisFx.server.url, prefix: 'cache' });
    assert.equal(await store.ready(), true);
    try {
      await eventually(async () => store.cacheLive);
      const registry = new DeploymentRegistry({ store });
      const { agentSecret } = await registry.register({ id: 'cached-1', numbers: ['+15551230011'], tunnelHost: 'cached.trycloudflare.com' });
      // The registration's own change message comes back to this process too: let it pass, then read into the cache.
      await new Promise((r) => setTimeout(r, 50));
      await registry.authenticate('cached-1', agentSecret);
      // A write that bypasses the store's scripts publishes nothing: the cached copy still answers (no round trip).
      await redisFx.raw.hset('cache:{deployments}:dep:cached-1', 'disabled', '1');
      assert.equal((await registry.authenticate('cached-1', agentSecret)).id, 'cached-1');
      // Drop the subscriber connection: the cache is emptied and reads go to Redis again.
      await redisFx.raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await eventually(async () => (await code(registry.authenticate('cached-1', agentSecret))) === 'TTMA_ERR_DEPLOYMENT_DISABLED');
      await eventually(async () => store.cacheLive);
    } finally {
      await store.close();
    }
  });

  it('survives a restart; with Redis gone, only deployments read before authenticate, writes fail closed', async () => {
    const own = await startRedisServer();
    const first = new RedisDeploymentStore({ url: own.url });
    assert.equal(await first.ready(), true);
    const { agentSecret } = await new DeploymentRegistry({ store: first }).register({ id: 'keep-1', numbers: ['+15551230009'], tunnelHost: 'keep.trycloudflare.com' });
    await new DeploymentRegistry({ store: first }).register({ id: 'keep-2', numbers: ['+15551230008'], tunnelHost: 'keep2.trycloudflare.com', agentSecret: 'k'.repeat(40) });
    await first.close();
    const second = new RedisDeploymentStore({ url: own.url });
    assert.equal(await second.ready(), true);
    const registry = new DeploymentRegistry({ store: second });
    try {
      assert.equal((await registry.authenticate('keep-1', agentSecret)).id, 'keep-1', 'restart keeps the deployment');
      await own.kill();
      assert.equal((await registry.authenticate('keep-1', agentSecret)).id, 'keep-1', 'last copy while Redis is away');
      assert.equal(await code(registry.authenticate('keep-1', 'wrong'.repeat(8))), 'TTMA_ERR_AUTH');
      assert.equal(await code(registry.authenticate('keep-2', 'k'.repeat(40))), 'TTMA_ERR_STORE_UNAVAILABLE', 'never read here: refused');
      assert.equal(await code(registry.rotateSecret('keep-1')), 'TTMA_ERR_STORE_UNAVAILABLE');
      assert.equal(await code(registry.register({ id: 'new-1', numbers: ['+15551230007'], tunnelHost: 'n.trycloudflare.com' })), 'TTMA_ERR_STORE_UNAVAILABLE');
    } finally {
      await second.close();
      await own.stop();
    }
  });

  it('fails fast without a server', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisDeploymentStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      assert.equal(await code(new DeploymentRegistry({ store }).authenticate('acme-1', 'x'.repeat(40))), 'TTMA_ERR_STORE_UNAVAILABLE');
      assert.ok(Date.now() - started < 1_500);
    } finally {
      await store.close();
    }
  });
});
