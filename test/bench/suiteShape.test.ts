/**
 * `npm run bench` end to end at its smallest (--tiny: 2 calls a step, 1 s
 * windows; not pinned when the test runs it): real gateway and baseline
 * processes, real sockets.
 * Checks the JSON object's shape and that every figure was measured (counts
 * above zero), and that the plot has both series; not the figures themselves.
 *
 * `TTMA_BENCH_TINY_DIR`: `.ci/run` has already run the issue's own command
 * (`npm run --silent bench -- --tiny --json`, a fresh clone's build first) with
 * `--out-dir` that directory and its stdout in `stdout.json` there; the checks
 * then read that run instead of spending another 30 s on a second one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SUITE = fileURLToPath(new URL('../../bench/suite.js', import.meta.url));

/** The tiny run, not pinned (a test shares its machine); resolves with its stdout. */
function runTinyBench(out: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [SUITE, '--tiny', '--no-pin', '--json', '--out-dir', out], { timeout: 110_000, maxBuffer: 1 << 22 }, (err, so, se) =>
      err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so),
    );
  });
}

test('a tiny bench run prints the issue\'s JSON object and writes the plot', { timeout: 120_000 }, async () => {
  const ciRun = process.env.TTMA_BENCH_TINY_DIR;
  const out = ciRun || mkdtempSync(join(tmpdir(), 'ttma-bench-test-'));
  try {
    const stdout = ciRun ? readFileSync(join(ciRun, 'stdout.json'), 'utf8') : await runTinyBench(out);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'one JSON object on stdout, progress elsewhere');
    const result = JSON.parse(lines[0]!) as Record<string, any>;
    for (const key of ['latency', 'capacity', 'costPerCallSecondMs', 'rssPerCallKiB', 'transport', 'machine']) assert.ok(key in result, key);
    for (const codec of ['pcmu', 'opus']) {
      const latency = result.latency[codec];
      for (const direction of ['toAgentMs', 'toPhoneMs']) {
        for (const side of [latency, latency.baseline]) {
          const p = side[direction];
          assert.ok(p.count > 0, `${codec} ${direction} measured`);
          assert.ok(p.p50 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max, `${codec} ${direction} percentiles ordered`);
        }
      }
      assert.ok(latency.jitterBufferHoldMs.count > 0, 'the jitter buffer hold is reported apart');
      assert.ok(latency.pacerHoldMs.count > 0, 'the pacer hold is reported apart');
      assert.ok(latency.pacerHoldMs.max <= latency.toPhoneMs.max, 'the pacer hold is part of toPhone');
      assert.ok(latency.egressSpacing.meanMs > 10 && latency.egressSpacing.meanMs < 40, `egress spacing ${latency.egressSpacing.meanMs}`);
      assert.ok(latency.roundTripFromPlannedSendMs.count > 0);
      const capacity = result.capacity[codec];
      assert.deepEqual(['ours', 'baseline', 'ratio'].filter((k) => !(k in capacity)), []);
      assert.equal(capacity.steps.ours.length, 1);
      assert.equal(capacity.steps.baseline.length, 1);
      for (const table of [result.costPerCallSecondMs[codec], result.rssPerCallKiB[codec]]) {
        assert.equal(typeof table.ours, 'number');
        assert.equal(typeof table.baseline, 'number');
      }
      assert.ok(result.costPerCallSecondMs[codec].ours > 0);
      const own = result.rssPerCallKiB[codec].oursCallOwn;
      assert.ok(own.heap > 0 && own.outsideHeap > 0 && Number.isFinite(own.rss), `a call's own memory: ${JSON.stringify(own)}`);
      assert.ok(capacity.steps.ours[0].rssKiB > 0, 'each step row carries its resident set');
    }
    assert.ok(result.transport.results.batched.usPerFrameMedian > 0);
    assert.equal(typeof result.machine.cpuModel, 'string');
    assert.ok(result.machine.cores >= 1);
    assert.equal(result.loadGenerator.calls, 4);
    assert.ok(result.loadGenerator.sendLagMs.count > 0);
    const svg = readFileSync(join(out, 'capacity.svg'), 'utf8');
    for (const name of ['ours pcmu', 'baseline pcmu', 'ours opus', 'baseline opus']) assert.match(svg, new RegExp(`data-name="${name}"`));
  } finally {
    if (!ciRun) rmSync(out, { recursive: true, force: true });
  }
});
