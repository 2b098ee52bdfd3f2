/**
 * A worker stuck in a loop with uWS sockets open: released through the
 * inspector it can be terminated and the process lives; terminated without
 * the release, this uWS build aborts the process (the control, so the first
 * check can fail). Each case runs in a child process of its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { evaluateInWorker } from '../../src/actors/releaseStuckWorker.js';

const CHILD = fileURLToPath(new URL('./releaseStuckWorkerChild.js', import.meta.url));

function runChild(mode: 'release' | 'plain') {
  return spawnSync(process.execPath, [CHILD, mode], { encoding: 'utf8', timeout: 30_000 });
}

test('a worker stuck in a loop inside a uWS handler releases its sockets through the inspector; terminating it then leaves the process alive', () => {
  const out = runChild('release');
  assert.equal(out.status, 0, `child exited ${out.status} (signal ${out.signal}); stderr: ${out.stderr.slice(0, 400)}`);
  const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { released: boolean; releaseMs: number; closeCode: number; alive: boolean };
  assert.equal(result.released, true);
  assert.ok(result.releaseMs < 2_000, `released in ${result.releaseMs} ms`);
  assert.equal(result.alive, true);
});

test('control: terminating the same stuck worker without the release aborts the process', () => {
  const out = runChild('plain');
  assert.ok(out.status === 134 || out.signal === 'SIGABRT', `expected an abort, got status ${out.status} signal ${out.signal}`);
  assert.match(out.stderr, /open handles/);
});

test('evaluateInWorker answers undefined for a thread that does not exist, within its timeout', async () => {
  const started = performance.now();
  assert.equal(await evaluateInWorker(987_654, '1 + 1', 300), undefined);
  assert.ok(performance.now() - started < 2_000);
});
