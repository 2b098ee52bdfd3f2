/** Bucket counts on a worker, summed into one Prometheus histogram on the main thread. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BucketCounts } from '../../src/actors/BucketCounts.js';
import { SummedHistogram } from '../../src/control/SummedHistogram.js';

test('a value lands in the first bucket whose bound is >= it; above every bound is +Inf', () => {
  const b = new BucketCounts([0.01, 0.02, 0.05]);
  for (const v of [0, 0.01, 0.010001, 0.02, 0.05, 0.0500001, 7]) b.record(v);
  assert.deepEqual(b.snapshot().counts, [2, 2, 1, 2]);
  assert.equal(b.snapshot().count, 7);
  assert.ok(Math.abs(b.snapshot().sum - (0 + 0.01 + 0.010001 + 0.02 + 0.05 + 0.0500001 + 7)) < 1e-12);
  assert.throws(() => new BucketCounts([0.02, 0.01]), RangeError);
  assert.throws(() => new BucketCounts([0.01, 0.01]), RangeError);
});

test('snapshots from several sources add up as cumulative buckets; only growth is added', async () => {
  const bounds = [1, 2];
  const h = new SummedHistogram('x_seconds', 'help', bounds);
  const a = new BucketCounts(bounds);
  const b = new BucketCounts(bounds);
  a.record(0.5);
  a.record(3);
  const a1 = a.snapshot();
  h.add(null, a1);
  b.record(1.5);
  h.add(null, b.snapshot());
  a.record(2);
  h.add(a1, a.snapshot());
  h.add(a.snapshot(), a.snapshot()); // nothing grew: nothing added
  const { values, type } = await h.get();
  assert.equal(type, 'histogram');
  const byName = values.map((v) => [v.metricName, v.labels['le'] ?? null, v.value]);
  assert.deepEqual(byName, [
    ['x_seconds_bucket', 1, 1],
    ['x_seconds_bucket', 2, 3],
    ['x_seconds_bucket', '+Inf', 4],
    ['x_seconds_sum', null, 7],
    ['x_seconds_count', null, 4],
  ]);
});
