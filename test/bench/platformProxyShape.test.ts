/**
 * `bench/platformProxy.ts` at its smallest, in both arrangements: real
 * redis-server, real platforms (in a child process of their own, then in the
 * bench's process). Checks the JSON summary's shape and that every row was
 * measured, not the figures themselves.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/platformProxy.js', import.meta.url));

function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : -1) : 0 }),
    );
  });
}

for (const [mode, flags] of [['own', []], ['same', ['--same-process']]] as const) {
  test(`the platform proxy bench measures every row with the platforms in the ${mode} process`, { timeout: 90_000 }, async () => {
    const { stdout, stderr, code } = await run(['--requests', '30', '--json', ...flags]);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout.trim()) as Record<string, any>;
    assert.equal(summary.platformProcess, mode);
    assert.equal(summary.requests, 30);
    for (const row of [summary.directMs, summary.redisReserveMs, summary.skeleton.proxiedMs, summary.proxiedMs, summary.previous.proxiedMs, summary.hangup.currentMs]) {
      assert.ok(row.p50 > 0 && row.p50 <= row.p99, JSON.stringify(row));
    }
    // Through the platform takes longer than straight to the provider, and costs more CPU.
    assert.ok(summary.proxiedMs.p50 > summary.directMs.p50);
    // No comparison of the skeleton's time with its crossings' here: 30 requests on a loaded CI box
    // put even the Redis row's median above the skeleton's (seen at load 19). The bench compares them
    // over 2,000 (bench/RESULTS.md); this test checks the shape.
    assert.ok(summary.cpuUsPerRequest.current > summary.cpuUsPerRequest.direct, JSON.stringify(summary.cpuUsPerRequest));
  });
}

test('the platform proxy bench refuses a bad request count', async () => {
  const { code, stderr } = await run(['--requests', '0']);
  assert.notEqual(code, 0);
  assert.match(stderr, /--requests must be a positive whole number/);
});
