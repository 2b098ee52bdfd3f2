/**
 * The Redis install-token store runs on Redis Cluster: every key a script
 * touches is declared in its KEYS and all of them hash to one slot, and no
 * other command (or MULTI block) spans two slots. Watched with MONITOR on a
 * real redis-server (it lists each command a script runs, as source `lua`),
 * while the store does everything it does; slots computed with the
 * cluster's CRC16 (src/platform/store/redisKeySlot.ts, pinned here to answers of a
 * cluster-enabled redis-server's CLUSTER KEYSLOT).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisInstallTokenStore } from '../../src/platform/installTokens/RedisInstallTokenStore.js';
import { auditEntry } from '../../src/platform/installTokens/InstallTokenStore.js';
import { newInstallToken, sealInstallPayload, secretDigestHex } from '../../src/wire/installToken.js';
import { keySlot } from '../../src/platform/store/redisKeySlot.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redisCluster.js';

/** Which arguments are keys: 'all' after the name, or the positions. */
const KEY_ARGS: Record<string, 'all' | number[]> = {
  get: [1], set: [1], exists: 'all', del: 'all', sadd: [1], srem: [1], smembers: [1], scard: [1], sismember: [1],
  pttl: [1], pexpire: [1], lpush: [1], ltrim: [1], lrange: [1],
};
/** Commands that name no key. */
const KEYLESS = new Set(['info', 'client', 'ping', 'select', 'multi', 'exec', 'hello', 'quit', 'echo']);

function keysOf(args: string[]): string[] {
  const name = args[0]!.toLowerCase();
  if (KEYLESS.has(name)) return [];
  const where = KEY_ARGS[name];
  assert.ok(where, `command ${name} not in this test's key table: add it`);
  return where === 'all' ? args.slice(1) : where.map((i) => args[i]!);
}

interface Seen { args: string[]; lua: boolean }

/** Every command Redis runs, in order, from MONITOR; `window` runs one step and returns what it caused. */
async function watch(raw: Redis) {
  const monitor = await raw.monitor();
  const seen: Seen[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, lua: source === 'lua' }));
  let marks = 0;
  return {
    async window(step: () => Promise<unknown>): Promise<Seen[]> {
      const from = seen.length;
      await step();
      const mark = `mark-${++marks}`;
      await raw.echo(mark);
      const deadline = Date.now() + 5_000;
      while (!seen.slice(from).some((s) => s.args[0]?.toLowerCase() === 'echo' && s.args[1] === mark)) {
        assert.ok(Date.now() < deadline, 'MONITOR did not report the mark');
        await new Promise((r) => setTimeout(r, 5));
      }
      return seen.slice(from).filter((s) => s.args[0]?.toLowerCase() !== 'echo');
    },
    stop: () => monitor.disconnect(),
  };
}

function sealed(deploymentId: string) {
  const token = newInstallToken();
  const expiresAt = Date.now() + 60_000;
  const envelope = sealInstallPayload(token, deploymentId, expiresAt, { deploymentId, expiresAt });
  return { id: token.id, digest: secretDigestHex(token.secret), record: { envelope, secretSha256: secretDigestHex(token.secret), createdAt: Date.now() } };
}

describe('the Redis install-token store on Redis Cluster terms', { skip: redisUnavailable() }, () => {
  const redisFx = useRedisServer();
  let store: RedisInstallTokenStore;
  before(() => {
    store = new RedisInstallTokenStore({ url: redisFx.server.url, prefix: 'slots:' });
  });
  after(async () => store?.close());

  test('the slot function gives what CLUSTER KEYSLOT gives', () => {
    // From redis-server 7.0.15 started with --cluster-enabled yes (a plain one refuses the command).
    const answers: Record<string, number> = {
      '123456789': 12739, 'a{dep:x}b': 14468, 'foo{}{bar}': 8363, 'foo{{bar}}zap': 4015, 'foo{bar}{zap}': 5061,
      '{user1000}.following': 3443, 'ttma:install:{dep:dep-a}:tokens': 11611, 'ttma:install:tokendep:AbCdEfGhIjKlMnOp': 1544,
    };
    for (const [key, slot] of Object.entries(answers)) assert.equal(keySlot(key), slot, key);
  });

  test('each script is given every key it touches, all in one slot; no command or MULTI spans two slots', async () => {
    await store.ready();
    const mon = await watch(redisFx.raw);
    const windows: { what: string; seen: Seen[] }[] = [];
    const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      let out: T | undefined;
      windows.push({ what, seen: await mon.window(async () => { out = await run(); }) });
      return out as T;
    };
    try {
      const a1 = sealed('dep-a');
      const a2 = sealed('dep-a');
      const a3 = sealed('dep-a');
      const b1 = sealed('dep-b');
      for (const t of [a1, a2, a3, b1]) await step('put', () => store.put(t.record, 60_000));
      assert.equal(await step('has', () => store.has(a1.id)), true);
      assert.equal((await step('take, wrong secret', () => store.take(a1.id, b1.digest, Date.now()))).kind, 'bad-secret');
      assert.equal((await step('take', () => store.take(a1.id, a1.digest, Date.now()))).kind, 'taken');
      assert.equal((await step('take again', () => store.take(a1.id, a1.digest, Date.now()))).kind, 'absent');
      assert.equal((await step('revoke', () => store.revoke(b1.id)))?.envelope.id, b1.id);
      assert.equal(await step('revoke unknown', () => store.revoke('A'.repeat(16))), null);
      assert.deepEqual((await step('revoke deployment but one', () => store.revokeDeployment('dep-a', a2.id))).map((r) => r.envelope.id), [a3.id]);
      assert.deepEqual((await step('revoke deployment', () => store.revokeDeployment('dep-a'))).map((r) => r.envelope.id), [a2.id]);
      await step('audit', () => store.appendAudit(auditEntry(Date.now(), a1.id, 'dep-a', 'redeemed', { mintedAt: null, expiresAt: null }, null)));
      assert.equal((await step('read audit', () => store.audit())).length, 1);
    } finally {
      mon.stop();
    }
    assert.deepEqual(await store.rawKeysForTest(), ['slots:audit'], 'nothing but the audit left');

    const scripts = new Set<string>();
    for (const { what, seen } of windows) {
      const evals = seen.filter((s) => !s.lua && ['eval', 'evalsha'].includes(s.args[0]!.toLowerCase()));
      assert.ok(evals.length <= 1, `${what}: one script a step here`);
      const declared = evals.flatMap((e) => e.args.slice(3, 3 + Number(e.args[2])));
      if (evals[0]) scripts.add(evals[0].args[1]!);
      assert.equal(new Set(declared.map(keySlot)).size <= 1, true, `${what}: declared keys in one slot: ${declared.join(' ')}`);
      for (const s of seen.filter((x) => x.lua)) {
        for (const key of keysOf(s.args)) assert.ok(declared.includes(key), `${what}: the script's ${s.args[0]} touches ${key}, not in its KEYS (${declared.join(' ')})`);
      }
      let block: string[] | null = null;
      for (const s of seen.filter((x) => !x.lua && !evals.includes(x))) {
        const name = s.args[0]!.toLowerCase();
        if (name === 'multi') block = [];
        const keys = keysOf(s.args);
        assert.ok(new Set(keys.map(keySlot)).size <= 1, `${what}: ${name} spans slots: ${keys.join(' ')}`);
        if (block) block.push(...keys);
        if (name === 'exec') {
          assert.ok(new Set(block!.map(keySlot)).size <= 1, `${what}: a MULTI block spans slots: ${block!.join(' ')}`);
          block = null;
        }
      }
    }
    assert.equal(scripts.size, 4, 'put, take, revoke and revoke-deployment each ran');
  });
});

describe('the Redis install-token store on a real three-master Redis Cluster', { skip: redisUnavailable() }, () => {
  let cluster: RedisCluster | undefined;
  let store: RedisInstallTokenStore;
  before(async () => {
    cluster = await startRedisCluster();
    store = new RedisInstallTokenStore({ url: cluster.url, prefix: 'slots:' });
    assert.equal(await store.ready(), true);
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  test('put, take, revoke and a deployment\'s revocation leave nothing but the audit, on every master', async () => {
    const tokens = Array.from({ length: 4 }, () => sealed('dep-c'));
    for (const t of tokens) await store.put(t.record, 60_000);
    const [first, ...rest] = tokens as [ReturnType<typeof sealed>, ...ReturnType<typeof sealed>[]];
    assert.equal((await store.take(first.id, first.digest, Date.now())).kind, 'taken');
    // Three tokens at once: their locators are in three different slots (the MONITOR test above cannot see that).
    assert.ok(new Set(rest.map((t) => keySlot(`slots:tokendep:${t.id}`))).size > 1, 'locators in more than one slot');
    assert.deepEqual((await store.revokeDeployment('dep-c')).map((r) => r.envelope.id).sort(), rest.map((t) => t.id).sort());
    await store.appendAudit(auditEntry(Date.now(), first.id, 'dep-c', 'redeemed', { mintedAt: null, expiresAt: null }, null));
    assert.deepEqual(await store.rawKeysForTest(), ['slots:audit']);
    for (const t of tokens) assert.equal(await store.has(t.id), false);
  });
});
