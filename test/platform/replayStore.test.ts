/**
 * One behavioural suite for the webhook replay cache (FAQ-05), against the
 * embedded store and a real redis-server: an id is new once, then a
 * duplicate for the window, on Redis also for a second connection (a second
 * platform process) and under concurrent deliveries; forget lets a retry in;
 * ids expire with the window.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { MemoryReplayStore } from '../../src/platform/store/MemoryReplayStore.js';
import { RedisReplayStore } from '../../src/platform/store/RedisReplayStore.js';
import type { ReplayStore } from '../../src/platform/store/ReplayStore.js';
import { prefixedRedisStores, redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { prefixedClusterStores } from '../helpers/redisCluster.js';

interface Made {
  store(ttlMs: number): ReplayStore;
  twin(store: ReplayStore): ReplayStore;
  close(): Promise<void>;
}

async function ready(store: ReplayStore): Promise<ReplayStore> {
  if (store.ready) assert.equal(await store.ready(), true, 'store connected');
  return store;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`replay store contract: ${name}`, { skip }, () => {
    let made: Made | undefined;
    /** Closed after the block even when a test fails before its own close (an open client keeps the process alive). */
    const opened: ReplayStore[] = [];
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await made?.close();
    });
    const track = (store: ReplayStore): ReplayStore => {
      opened.push(store);
      return store;
    };
    const open = async (ttlMs: number): Promise<ReplayStore> => {
      made ??= await make();
      const store = made.store(ttlMs);
      opened.push(store);
      return ready(store);
    };
    const id = (): string => `event:${randomUUID()}`;

    it('an id is new once, then a duplicate, also for another client; forget lets it in again', async () => {
      const store = await open(60_000);
      const other = await ready(track(made!.twin(store)));
      const e = id();
      assert.equal(await store.checkAndRemember(e, Date.now()), false);
      assert.equal(await store.checkAndRemember(e, Date.now()), true);
      assert.equal(await other.checkAndRemember(e, Date.now()), true, 'seen by the other process too');
      await other.forget(e);
      assert.equal(await store.checkAndRemember(e, Date.now()), false, 'forgotten: taken as new');
      if (other !== store) await other.close();
      await store.close();
    });

    it('of 20 concurrent deliveries of one event from two clients, exactly one is new', async () => {
      const store = await open(60_000);
      const other = await ready(track(made!.twin(store)));
      const e = id();
      const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).checkAndRemember(e, Date.now())));
      assert.equal(verdicts.filter((seen) => !seen).length, 1);
      if (other !== store) await other.close();
      await store.close();
    });

    it('forgets an id once the window has passed', async () => {
      const store = await open(150);
      const e = id();
      const t0 = Date.now();
      assert.equal(await store.checkAndRemember(e, t0), false);
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(await store.checkAndRemember(e, t0 + 250), false, 'expired: new again');
      await store.close();
    });
  });
}

suite('embedded', async () => ({ store: (ttlMs) => new MemoryReplayStore(ttlMs), twin: (store) => store, close: async () => undefined }));

const skip = redisUnavailable();
const replayStore = (url: string, prefix: string, ttlMs?: number): ReplayStore => new RedisReplayStore({ url, prefix, ttlMs: ttlMs ?? 60_000 });
suite('redis', () => prefixedRedisStores(replayStore), skip);
suite('redis cluster (three masters)', () => prefixedClusterStores(replayStore), skip);

describe('redis replay store: layout and failure', { skip }, () => {
  const redisFx = useRedisServer();

  it('one key per event id (hashed, own hash tag) with the window as its TTL', async () => {
    const store = new RedisReplayStore({ url: redisFx.server.url, prefix: 'lay', ttlMs: 600_000 });
    await ready(store);
    try {
      await store.checkAndRemember('event:abc', Date.now());
      const keys = await redisFx.raw.keys('lay:*');
      assert.equal(keys.length, 1);
      assert.match(keys[0]!, /^lay:\{replay:[0-9a-f]{64}\}$/);
      const ttl = await redisFx.raw.pttl(keys[0]!);
      assert.ok(ttl > 590_000 && ttl <= 600_000, `ttl ${ttl}`);
    } finally {
      await store.close();
    }
  });

  it('without a server every check fails at once (the webhook is refused, nothing remembered)', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisReplayStore({ url: `redis://127.0.0.1:${port}`, ttlMs: 1_000 });
    try {
      const started = Date.now();
      await assert.rejects(store.checkAndRemember('event:x', Date.now()), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_500);
    } finally {
      await store.close();
    }
  });
});

describe('the embedded replay store, full', () => {
  it('refuses a new event id with 503 (the provider retries) and forgets none of the ids it holds', async () => {
    const store = new MemoryReplayStore(60_000, 2);
    assert.equal(await store.checkAndRemember('event:a', 0), false);
    assert.equal(await store.checkAndRemember('event:b', 1), false);
    await assert.rejects(store.checkAndRemember('event:c', 2), (err: unknown) => isTtmaError(err) && err.code === 'TTMA_ERR_STORE_UNAVAILABLE' && err.status === 503);
    assert.equal(await store.checkAndRemember('event:a', 3), true, 'still a duplicate');
    assert.equal(await store.checkAndRemember('event:b', 3), true);
    // Room again once the first has expired.
    assert.equal(await store.checkAndRemember('event:c', 60_001), false);
  });
});
