/**
 * `bench/callMemory.ts` at its smallest: real call actors with the echo agent,
 * both codecs. Checks the JSON summary's shape, not the figures.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/callMemory.js', import.meta.url));

function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : -1) : 0 }),
    );
  });
}

interface Summary {
  codec: string;
  calls: number;
  framesPerCall: number;
  kibPerCall: { heap: number; outsideHeap: number; rss: number | null };
  largestParts: Array<{ name: string; kibPerCall: number }>;
}

test('the call memory bench reports each codec per call, and the heap\'s parts when asked', { timeout: 90_000 }, async () => {
  for (const [codec, parts] of [['PCMU', false], ['OPUS', true]] as const) {
    const { stdout, stderr, code } = await run(['--calls', '5', '--codec', codec, '--json', ...(parts ? ['--parts'] : [])]);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout) as Summary;
    assert.equal(summary.codec, codec);
    assert.equal(summary.calls, 5);
    assert.equal(summary.framesPerCall, 500);
    assert.ok(Number.isFinite(summary.kibPerCall.heap) && Number.isFinite(summary.kibPerCall.outsideHeap), JSON.stringify(summary.kibPerCall));
    if (parts) {
      assert.equal(summary.kibPerCall.rss, null, 'no RSS figure next to a snapshot');
      assert.ok(summary.largestParts.length > 0 && summary.largestParts.every((p) => p.name.length > 0 && p.kibPerCall > 0));
    } else {
      assert.ok(Number.isFinite(summary.kibPerCall.rss));
      assert.deepEqual(summary.largestParts, []);
    }
  }
});

test('the call memory bench refuses a bad codec or call count', async () => {
  for (const [args, why] of [[['--codec', 'G729'], /--codec must be PCMU or OPUS/], [['--calls', '0'], /--calls must be a positive whole number/]] as const) {
    const { code, stderr } = await run([...args]);
    assert.notEqual(code, 0);
    assert.match(stderr, why);
  }
});
