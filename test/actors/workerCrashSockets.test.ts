/**
 * A media worker that owns its sockets and crashes must not take the process
 * with it (DESIGN 4: calls on other workers are untouched). This uWS build
 * aborts the whole process when a thread exits with a uWS socket open
 * (`uv_loop_close() while having open handles`), and the crash path closed
 * only the calls' WebSockets: a connection accepted but with its request not
 * read whole stayed open. The worker runs in a child process so an abort
 * fails the test instead of the runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./workerCrashSocketsChild.js', import.meta.url));

function crashChild(where: 'crash' | 'anchor'): { code: number; cut: boolean; alive: boolean } {
  const out = spawnSync(process.execPath, [CHILD, where], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, `child exited ${out.status} (signal ${out.signal}); stderr: ${out.stderr.slice(0, 600)}`);
  return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { code: number; cut: boolean; alive: boolean };
}

test('a worker that crashes with connections on its tunnel port that are not calls yet cuts them and exits; the process lives', () => {
  assert.deepEqual(crashChild('crash'), { code: 1, cut: true, alive: true });
});

// The cork anchor's loopback port is open to any local process. A connection left on it when the
// thread exits is read after uWS.js has freed that thread's loop: the process aborts with
// "Cork buffer must not be acquired without checking canCork!", a SIGSEGV, or uv_loop_close.
test('a worker that crashes with strangers connected to its cork anchor cuts them and exits; the process lives', () => {
  assert.deepEqual(crashChild('anchor'), { code: 1, cut: true, alive: true });
});
