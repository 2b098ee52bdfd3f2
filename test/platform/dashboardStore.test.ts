/**
 * One behavioural suite for the dashboards' sign-in state (sessions and
 * one-time links, DashboardStore), against the embedded store and a real
 * redis-server: entries are seen by another client (another platform
 * process), a one-time take succeeds once under concurrency, a subject's
 * entries are bounded and revoked together, entries expire; on Redis the
 * layout is one TTL'd key per entry and no secret in any key or value.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { DashboardLinks } from '../../src/platform/DashboardLinks.js';
import type { DashboardStore } from '../../src/platform/store/DashboardStore.js';
import { MemoryDashboardStore } from '../../src/platform/store/MemoryDashboardStore.js';
import { RedisDashboardStore } from '../../src/platform/store/RedisDashboardStore.js';
import { prefixedRedisStores, redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { prefixedClusterStores } from '../helpers/redisCluster.js';

interface Made {
  store(): DashboardStore;
  twin(store: DashboardStore): DashboardStore;
  close(): Promise<void>;
}

async function ready(store: DashboardStore): Promise<DashboardStore> {
  const connecting = store as { ready?: () => Promise<boolean> };
  if (connecting.ready) assert.equal(await connecting.ready(), true, 'store connected');
  return store;
}

const digest = () => randomBytes(32).toString('hex');

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`dashboard store contract: ${name}`, { skip }, () => {
    let made: Made | undefined;
    const opened: DashboardStore[] = [];
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await made?.close();
    });
    const open = async (): Promise<[DashboardStore, DashboardStore]> => {
      made ??= await make();
      const store = made.store();
      const other = made.twin(store);
      opened.push(store, other);
      return [await ready(store), await ready(other)];
    };

    it('an entry is seen by another client; delete and take remove it for both', async () => {
      const [store, other] = await open();
      const [a, b] = [digest(), digest()];
      await store.put('customer', a, 'dep-a', 60_000, 4);
      await store.put('customer', b, 'dep-a', 60_000, 4);
      assert.equal(await other.get('customer', a), 'dep-a');
      assert.equal(await other.get('admin', a), null, 'families are apart');
      await other.delete('customer', a);
      assert.equal(await store.get('customer', a), null);
      assert.equal(await store.take('customer', b), 'dep-a');
      assert.equal(await other.take('customer', b), null, 'taken once');
      assert.equal(await store.get('customer', digest()), null);
    });

    it('of 20 concurrent takes of one link from two clients, exactly one gets it', async () => {
      const [store, other] = await open();
      const d = digest();
      await store.put('link', d, 'dep-a', 60_000, 4);
      const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).take('link', d)));
      assert.deepEqual(got.filter((s) => s !== null), ['dep-a']);
    });

    it("a subject's entries are bounded (its oldest go) and revoked together, never another's", async () => {
      const [store, other] = await open();
      const mine = Array.from({ length: 6 }, () => digest());
      for (const d of mine) await store.put('customer', d, 'dep-b', 60_000, 4);
      const theirs = digest();
      await other.put('customer', theirs, 'dep-c', 60_000, 4);
      const alive = await Promise.all(mine.map((d) => other.get('customer', d)));
      assert.deepEqual(alive, [null, null, 'dep-b', 'dep-b', 'dep-b', 'dep-b']);
      assert.equal(await other.revoke('customer', 'dep-b'), 4);
      assert.deepEqual(await Promise.all(mine.map((d) => store.get('customer', d))), [null, null, null, null, null, null]);
      assert.equal(await store.get('customer', theirs), 'dep-c');
      assert.equal(await store.revoke('customer', 'dep-none'), 0);
    });

    it('entries expire with their lifetime', async () => {
      const [store, other] = await open();
      const d = digest();
      await store.put('link', d, 'dep-d', 150, 4);
      assert.equal(await other.get('link', d), 'dep-d');
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(await other.get('link', d), null);
      assert.equal(await other.take('link', d), null);
    });
  });
}

suite('embedded', async () => ({ store: () => new MemoryDashboardStore(), twin: (store) => store, close: async () => undefined }));

const skip = redisUnavailable();
suite('redis', async () => prefixedRedisStores<DashboardStore, undefined>((url, prefix) => new RedisDashboardStore({ url, prefix })), skip);
suite('redis cluster (three masters)', async () => prefixedClusterStores<DashboardStore, undefined>((url, prefix) => new RedisDashboardStore({ url, prefix })), skip);

describe('redis dashboard store: layout, links across processes, failure', { skip }, () => {
  const redisFx = useRedisServer();

  it('one key per entry with its lifetime as TTL, and no code in any key or value', async () => {
    const store = new RedisDashboardStore({ url: redisFx.server.url, prefix: 'lay' });
    const other = new RedisDashboardStore({ url: redisFx.server.url, prefix: 'lay' });
    await ready(store);
    await ready(other);
    try {
      // A link issued by one process is redeemed at another, once.
      const issuing = new DashboardLinks({ store });
      const redeeming = new DashboardLinks({ store: other });
      const { code } = await issuing.issue('dep-x');
      const keys = (await redisFx.raw.keys('lay:*')).sort();
      const hashed = createHash('sha256').update(code, 'utf8').digest('hex');
      assert.deepEqual(keys, [`lay:dash:link:e:${hashed}`, `lay:dash:link:s:${createHash('sha256').update('dep-x').digest('hex')}`]);
      const ttl = await redisFx.raw.pttl(keys[0]!);
      assert.ok(ttl > 55_000 && ttl <= 60_000, `ttl ${ttl}`);
      for (const key of keys) {
        assert.ok(!key.includes(code));
        const value = (await redisFx.raw.type(key)) === 'string' ? await redisFx.raw.get(key) : (await redisFx.raw.zrange(key, '0', '-1')).join(',');
        assert.ok(!String(value).includes(code), `${key} holds the code`);
      }
      assert.deepEqual(await redeeming.redeem(code), { subject: 'dep-x', tag: '' });
      assert.equal(await issuing.redeem(code), null);
    } finally {
      await store.close();
      await other.close();
    }
  });

  it('without a server every call fails at once: no one is signed in', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisDashboardStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      await assert.rejects(store.get('customer', digest()), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(new DashboardLinks({ store }).redeem(randomBytes(32).toString('base64url')), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 2_500);
    } finally {
      await store.close();
    }
  });
});
