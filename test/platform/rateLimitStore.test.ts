/**
 * One behavioural suite for the per-deployment rate-limit buckets, run
 * against the embedded store and a real redis-server started for this file:
 * the burst, partial grants, refill at the rate, independent keys, and (on
 * Redis, from two connections as two platform processes) one shared budget
 * under concurrent takes. Then the DeploymentRateLimiter in front: leases
 * from two processes never exceed the shared budget, and an unreachable store
 * falls back to a per-process bucket and says it is degraded.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { DeploymentRateLimiter } from '../../src/platform/DeploymentRateLimiter.js';
import { MemoryRateLimitStore } from '../../src/platform/store/MemoryRateLimitStore.js';
import type { RateLimitSettings, RateLimitStore } from '../../src/platform/store/RateLimitStore.js';
import { RedisRateLimitStore } from '../../src/platform/store/RedisRateLimitStore.js';
import { prefixedRedisStores, redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { prefixedClusterStores } from '../helpers/redisCluster.js';

interface Made {
  store(settings: RateLimitSettings): RateLimitStore;
  twin(store: RateLimitStore): RateLimitStore;
  close(): Promise<void>;
}

/** Practically no refill within a test. */
const SLOW = { ratePerSec: 0.001, burst: 25 };
const key = (): string => `dep-${randomUUID().slice(0, 8)}`;

async function ready(store: RateLimitStore): Promise<RateLimitStore> {
  if (store.ready) assert.equal(await store.ready(), true, 'store connected');
  return store;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`rate-limit store contract: ${name}`, { skip }, () => {
    let made: Made | undefined;
    /** Closed after the block even when a test fails before its own close (an open client keeps the process alive). */
    const opened: RateLimitStore[] = [];
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await made?.close();
    });
    const track = (store: RateLimitStore): RateLimitStore => {
      opened.push(store);
      return store;
    };
    const open = async (settings: RateLimitSettings): Promise<RateLimitStore> => {
      made ??= await make();
      const store = made.store(settings);
      opened.push(store);
      return ready(store);
    };

    it('grants the burst, then nothing, with the wait until the next token; keys are independent', async () => {
      const store = await open({ ratePerSec: 2, burst: 5 });
      const k = key();
      assert.deepEqual(await store.take(k, 3), { granted: 3, retryAfterMs: 0 });
      const partial = await store.take(k, 3);
      assert.equal(partial.granted, 2, 'partial: what was left');
      // 500 ms for a token at 2/s, less what refilled between the takes (a few ms on a busy machine).
      assert.ok(partial.retryAfterMs > 400 && partial.retryAfterMs <= 500, `retry after ${partial.retryAfterMs} ms`);
      const empty = await store.take(k, 1);
      assert.equal(empty.granted, 0);
      assert.ok(empty.retryAfterMs > 0 && empty.retryAfterMs <= 500, `retry after ${empty.retryAfterMs} ms`);
      assert.deepEqual(await store.take(key(), 5), { granted: 5, retryAfterMs: 0 }, 'another key has its own bucket');
      await store.close();
    });

    it('refills at the rate, never beyond the burst', async () => {
      const store = await open({ ratePerSec: 50, burst: 10 });
      const k = key();
      assert.equal((await store.take(k, 10)).granted, 10);
      const started = performance.now();
      await new Promise((r) => setTimeout(r, 200));
      const got = (await store.take(k, 100)).granted;
      const elapsedSec = (performance.now() - started) / 1000;
      // 50/s over ~0.2 s is ~10; at most the burst, at least what the shortest elapsed time allows.
      assert.ok(got >= 9 && got <= 10, `refilled ${got} in ${elapsedSec.toFixed(3)} s`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await store.take(k, 100)).granted, 10, 'capped at the burst');
      await store.close();
    });

    it('concurrent takes from two clients share one budget: exactly the burst is granted', async () => {
      const store = await open(SLOW);
      const other = await ready(track(made!.twin(store)));
      const k = key();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store : other).take(k, 1)));
      assert.equal(results.reduce((n, r) => n + r.granted, 0), SLOW.burst);
      if (other !== store) await other.close();
      await store.close();
    });
  });
}

suite('embedded', async () => ({ store: (settings) => new MemoryRateLimitStore(settings), twin: (store) => store, close: async () => undefined }));

const skip = redisUnavailable();
suite('redis', () => prefixedRedisStores<RateLimitStore, RateLimitSettings>((url, prefix, settings) => new RedisRateLimitStore({ url, prefix, settings: settings ?? SLOW })), skip);
suite('redis cluster (three masters)', () => prefixedClusterStores<RateLimitStore, RateLimitSettings>((url, prefix, settings) => new RedisRateLimitStore({ url, prefix, settings: settings ?? SLOW })), skip);

describe('redis rate limits: layout, leases across processes, failure', { skip }, () => {
  const redisFx = useRedisServer();
  const silent = createLogger('rate-test', 'silent');

  it('keeps one hash per bucket under its own hash tag, expiring once it would be full again', async () => {
    const store = new RedisRateLimitStore({ url: redisFx.server.url, prefix: 'lay', settings: { ratePerSec: 10, burst: 20 } });
    await ready(store);
    try {
      await store.take('dep-a', 1);
      assert.deepEqual(await redisFx.raw.keys('lay:*'), ['lay:{rl:dep-a}:bucket']);
      const ttl = await redisFx.raw.pttl('lay:{rl:dep-a}:bucket');
      assert.ok(ttl > 2_000 && ttl <= 3_000, `ttl ${ttl} ms (full after 2 s, plus 1 s)`);
      assert.equal(Number(await redisFx.raw.hget('lay:{rl:dep-a}:bucket', 'tokens')), 19);
    } finally {
      await store.close();
    }
  });

  it('two limiters (two platform processes) leasing from one bucket never spend more than it holds', async () => {
    const settings = { ratePerSec: 0.001, burst: 30 };
    const stores = [0, 1].map(() => new RedisRateLimitStore({ url: redisFx.server.url, prefix: 'lease', settings }));
    await Promise.all(stores.map(ready));
    const limiters = stores.map((store) => new DeploymentRateLimiter({ store, log: silent, lease: 4 }));
    try {
      let allowed = 0;
      for (let i = 0; i < 100; i++) if (await limiters[i % 2]!.take('dep-shared')) allowed++;
      // Every token spent came from the shared bucket; at most a lease per process is left stranded.
      assert.ok(allowed <= 30 && allowed >= 30 - 2 * 4, `allowed ${allowed} of a 30-token budget`);
      const lone = new DeploymentRateLimiter({ store: new MemoryRateLimitStore(settings), log: silent });
      let alone = 0;
      for (let i = 0; i < 100; i++) if (await lone.take('dep-shared')) alone++;
      assert.equal(alone, 30, 'the embedded store grants exactly the burst to one process');
      assert.equal(limiters[0]!.retryAfterSec('dep-shared') >= 1, true);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('requests arriving together are granted up to the budget: none refused while the process holds leased tokens', async () => {
    const settings = { ratePerSec: 0.001, burst: 40 };
    const store = await ready(new RedisRateLimitStore({ url: redisFx.server.url, prefix: 'burst', settings }));
    const limiter = new DeploymentRateLimiter({ store, log: silent });
    try {
      // 20 at once each miss the (empty) lease and ask Redis for 5: 8 asks empty the bucket, and the
      // other 12 must be paid from the tokens those 8 leased, not refused with a 429.
      const together = await Promise.all(Array.from({ length: 20 }, () => limiter.take('dep-burst')));
      assert.equal(together.filter(Boolean).length, 20);
      const more = await Promise.all(Array.from({ length: 40 }, () => limiter.take('dep-burst')));
      assert.equal(more.filter(Boolean).length, 20, 'the rest of the 40-token budget, and no more');
    } finally {
      await store.close();
    }
  });

  it('without a server: a take fails at once, and the limiter falls back to a per-process bucket and reports it', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisRateLimitStore({ url: `redis://127.0.0.1:${port}`, settings: { ratePerSec: 0.001, burst: 3 } });
    try {
      const started = Date.now();
      await assert.rejects(store.take('dep-a', 1), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_500, 'refusal is immediate, not queued');
      const limiter = new DeploymentRateLimiter({ store, log: silent });
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await limiter.take('dep-a'));
      assert.deepEqual(answers, [true, true, true, false, false], 'still limited, by this process alone');
      assert.match(limiter.degraded ?? '', /redis unavailable/);
    } finally {
      await store.close();
    }
  });
});
