/**
 * The heap guard of a worker that owns its sockets: the pure rule, and a real
 * worker with a leak, which must leave through the crash path (sockets
 * released) before V8's heap limit ends it and this uWS build aborts the
 * process. The worker runs in a child process so an abort fails the test
 * instead of the runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HEAP_GUARD_SHARE, heapOverGuard } from '../../src/actors/heapGuard.js';

const CHILD = fileURLToPath(new URL('./heapGuardChild.js', import.meta.url));
const MB = 1024 * 1024;

test('the guard trips past 85 % of the old-generation limit, and never without a limit', () => {
  assert.equal(heapOverGuard(Math.floor(HEAP_GUARD_SHARE * 512 * MB), 512), null);
  assert.match(heapOverGuard(Math.ceil(HEAP_GUARD_SHARE * 512 * MB) + 1, 512)!, /heap at 435 MB of its 512 MB limit/);
  assert.equal(heapOverGuard(10_000 * MB, undefined), null);
  assert.equal(heapOverGuard(10_000 * MB, 0), null);
});

test('a leaking worker that owns sockets leaves through the crash path before its heap limit; the process lives', () => {
  const out = spawnSync(process.execPath, [CHILD, 'leak'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, `child exited ${out.status} (signal ${out.signal}); stderr: ${out.stderr.slice(0, 400)}`);
  const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { started: unknown; code: number; logs: string[]; alive: boolean };
  assert.equal(result.started, 'leaking');
  assert.equal(result.code, 1);
  assert.ok(result.logs.some((line) => /heap at \d+ MB of its 48 MB limit/.test(line)), JSON.stringify(result.logs));
  assert.equal(result.alive, true);
});
