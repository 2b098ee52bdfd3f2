/**
 * The per-call latency summary (src/actors/LatencyStats.ts): percentiles are
 * never understated and at most 1/16 over, over the whole call, in a fixed
 * small footprint.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyStats } from '../../src/actors/LatencyStats.js';

/** The exact q-th sample in order, as the summary defines it (rank ceil(q n)). */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

test('percentiles are never below the exact ones and at most 1/16 above, from under a microsecond to seconds', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const scale of [0.0005, 0.01, 0.3, 4, 250, 9_000]) {
    const stats = new LatencyStats();
    const samples: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      const v = scale * (0.2 + 3 * random() ** 3);
      samples.push(v);
      stats.record(v);
    }
    samples.sort((a, b) => a - b);
    const s = stats.summary();
    assert.equal(s.count, 5_000);
    assert.equal(s.max, Math.round(samples.at(-1)! * 1000) / 1000);
    for (const [q, got] of [[0.5, s.p50], [0.99, s.p99]] as const) {
      const want = exact(samples, q);
      // Rounded to 1 us in the report; a value under 1 us reads as at most 0.001.
      assert.ok(got >= Math.round(want * 1000) / 1000 - 0.0005, `p${q * 100} ${got} under ${want} (scale ${scale})`);
      assert.ok(got <= Math.max(0.001, want * (1 + 1 / 16)) + 0.0005, `p${q * 100} ${got} more than 1/16 over ${want} (scale ${scale})`);
    }
  }
});

test('it covers the whole call, not only its last samples', () => {
  const stats = new LatencyStats();
  // Ten minutes of frames: the first half at 10 ms, the second at 0.05 ms.
  for (let i = 0; i < 15_000; i++) stats.record(10);
  for (let i = 0; i < 15_000; i++) stats.record(0.05);
  const s = stats.summary();
  assert.equal(s.count, 30_000);
  assert.ok(s.p99 >= 10 && s.p99 <= 10.625, `p99 ${s.p99} from the first half`);
  assert.ok(s.p50 >= 0.05 && s.p50 <= 0.054, `p50 ${s.p50}`);
});

test('odd inputs: nothing, zero, negative and NaN land in the first bucket; past the range answers with the max', () => {
  assert.deepEqual(new LatencyStats().summary(), { p50: 0, p99: 0, max: 0, count: 0 });
  const low = new LatencyStats();
  for (const v of [0, -3, Number.NaN, 0.0004]) low.record(v);
  const l = low.summary();
  assert.equal(l.count, 4);
  assert.ok(l.p99 <= 0.001);
  const high = new LatencyStats();
  for (let i = 0; i < 10; i++) high.record(200_000 + i);
  const h = high.summary();
  assert.equal(h.p50, 200_009);
  assert.equal(h.max, 200_009);
});
