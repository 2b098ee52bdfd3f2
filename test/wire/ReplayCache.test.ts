/**
 * The replay cache (FAQ-05): an identity is remembered until its expiry and
 * never forgotten before, full or not; when full it refuses a new event
 * (ReplayCacheFullError) rather than forget a live one, and remembers nothing
 * of it. A seeded random run checks this against a plain reference model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayCache, ReplayCacheFullError } from '../../src/wire/ReplayCache.js';

test('remembers each key until its expiry, and never past the TTL from now', () => {
  const cache = new ReplayCache(10_000);
  assert.equal(cache.check(['a', 'b'], 0, 5_000), false);
  assert.equal(cache.check(['a'], 4_999), true);
  assert.equal(cache.check(['b'], 4_999), true);
  assert.equal(cache.has('a', 5_000), false, 'gone at its expiry');
  assert.equal(cache.check(['long'], 0, 60_000), false);
  assert.equal(cache.has('long', 9_999), true);
  assert.equal(cache.has('long', 10_000), false, 'capped at the TTL');
  // The default expiry is the TTL.
  assert.equal(cache.checkAndRemember('c', 20_000), false);
  assert.equal(cache.checkAndRemember('c', 29_999), true);
  assert.equal(cache.checkAndRemember('c', 30_000), false, 'expired: remembered again');
});

test('a duplicate of any one key is a duplicate, and its other keys are remembered too', () => {
  const cache = new ReplayCache(10_000);
  cache.check(['id:1'], 0);
  assert.equal(cache.check(['sig:x', 'id:1'], 1_000), true);
  assert.equal(cache.has('sig:x', 1_000), true);
});

test('full of live entries: a new event is refused and nothing of it remembered; a duplicate is still recognised', () => {
  const cache = new ReplayCache(10_000, 4);
  cache.check(['a1', 'a2'], 0);
  cache.check(['b1', 'b2'], 1_000);
  assert.throws(() => cache.check(['c1', 'c2'], 2_000), ReplayCacheFullError);
  assert.equal(cache.has('c1', 2_000), false);
  assert.equal(cache.size, 4);
  assert.equal(cache.check(['a1', 'new'], 2_000), true, 'a duplicate when full');
  assert.equal(cache.has('new', 2_000), false, 'no room for its other key, and none made');
  // One event's worth of room frees at its expiry.
  assert.equal(cache.check(['c1', 'c2'], 10_000), false);
  assert.throws(() => cache.check(['d1'], 10_001), ReplayCacheFullError);
});

test('an entry that expires before one inserted ahead of it is not seen after its expiry, and can come back', () => {
  const cache = new ReplayCache(10_000);
  cache.check(['late'], 0, 9_000);
  cache.check(['early'], 0, 2_000);
  assert.equal(cache.has('early', 2_000), false);
  assert.equal(cache.check(['early'], 3_000, 6_000), false, 'new again');
  assert.equal(cache.check(['early'], 5_999), true);
  assert.equal(cache.check(['late'], 8_999), true);
});

test('a seeded random run: never forgets a live key, refuses only when full, remembers nothing of a refused event', () => {
  let seed = 0x5eed;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const TTL = 1_000;
  const MAX = 64;
  const cache = new ReplayCache(TTL, MAX);
  /** The reference: every key remembered with its expiry, no bound. */
  const model = new Map<string, number>();
  let now = 0;
  let refused = 0;
  let duplicates = 0;
  for (let step = 0; step < 20_000; step++) {
    now += Math.floor(rand() * 30);
    const keys = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => `k${Math.floor(rand() * 400)}`);
    const expiresAt = now + Math.floor(rand() * 1_500);
    const liveInModel = keys.some((k) => (model.get(k) ?? 0) > now);
    let seen: boolean;
    try {
      seen = cache.check(keys, now, expiresAt);
    } catch (err) {
      assert.ok(err instanceof ReplayCacheFullError);
      assert.equal(liveInModel, false, 'a duplicate is never refused as full');
      assert.ok(cache.size + keys.length > MAX, `refused with ${cache.size} of ${MAX} entries`);
      for (const k of keys) assert.equal(cache.has(k, now) && (model.get(k) ?? 0) <= now, false, 'nothing of a refused event remembered');
      refused++;
      continue;
    }
    assert.equal(seen, liveInModel, `step ${step}: the cache and the model disagree on ${keys.join(',')}`);
    if (seen) duplicates++;
    const until = Math.min(expiresAt, now + TTL);
    for (const k of keys) {
      if ((model.get(k) ?? 0) > now) continue;
      if (cache.has(k, now)) model.set(k, until);
    }
    assert.ok(cache.size <= MAX);
  }
  assert.ok(refused > 0 && duplicates > 0, `the run reached both cases: ${refused} refused, ${duplicates} duplicates`);
});
