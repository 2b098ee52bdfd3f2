/**
 * `bench/soak.ts` at its smallest: the demo's three processes, a few calls
 * replaced as they end for a few seconds, the gateway's live heap read on
 * each thread through its inspector. Checks the JSON summary's shape and that
 * the run is clean (every call completed, none left live), not the figures.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/soak.js', import.meta.url));

function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : -1) : 0 }),
    );
  });
}

test('the soak bench carries calls, measures the live heap of every gateway thread, and drains', { timeout: 120_000 }, async () => {
  const { stdout, stderr, code } = await run(['--quick', '--seconds', '12', '--calls', '4', '--call-seconds', '2', '--workers', '2', '--json']);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout) as Record<string, any>;
  assert.equal(summary.ok, true);
  assert.equal(summary.workers, 2);
  assert.equal(summary.calls.failed, 0);
  assert.ok(summary.calls.completed >= 8, `completed ${summary.calls.completed}`);
  assert.equal(summary.liveAfterLoad, 0);
  assert.equal(summary.leakChecked, false, 'seconds of load are not enough to judge a leak');
  assert.ok(summary.windows.count >= 2, JSON.stringify(summary.windows));
  for (const heap of [summary.gateway.baselineHeapMiB, summary.gateway.drainedHeapMiB]) {
    assert.ok(heap.main > 1 && heap.workers > 1, `live heap measured on the main thread and the workers: ${JSON.stringify(heap)}`);
  }
  assert.match(stderr, /live heap before any call: main [\d.]+ MiB, 2 worker\(s\)/);
});

test('the soak bench refuses a bad duration or call count', async () => {
  for (const [args, why] of [
    [['--minutes', '0'], /--minutes must be a whole number from 1/],
    [['--calls', 'many'], /--calls must be a whole number from 1/],
    [['--minutes', '1', '--seconds', '5'], /--minutes or --seconds, not both/],
  ] as const) {
    const { code, stderr } = await run([...args]);
    assert.notEqual(code, 0);
    assert.match(stderr, why);
  }
});
