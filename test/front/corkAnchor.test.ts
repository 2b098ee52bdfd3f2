import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const CHILD = fileURLToPath(new URL('./corkAnchorChild.js', import.meta.url));
const WARNING = 'writes must be made from within a corked callback';

function runChild(mode: 'anchor' | 'uncorked') {
  const out = spawnSync(process.execPath, [CHILD, '--child', mode], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.status, 0, `child ${mode} exited ${out.status} (signal ${out.signal}); stderr: ${out.stderr.slice(0, 400)}`);
  const lines = out.stdout.trim().split('\n');
  return { result: JSON.parse(lines[lines.length - 1]!) as { opened: number; serverCut: number; ranOutsideAnchor: number; clientCloses: Record<string, number>; strangerStatus: number }, stderr: out.stderr };
}

test('upgrades completed late inside the cork anchor open, close cleanly, print no warning, and the process exits once the anchor is released', () => {
  const { result, stderr } = runChild('anchor');
  assert.equal(result.ranOutsideAnchor, 0);
  assert.equal(result.strangerStatus, 404, 'the anchor listener answers only its own path');
  assert.equal(result.opened, 60);
  assert.equal(result.serverCut, 0);
  assert.deepEqual(result.clientCloses, { '1000': 60 });
  assert.ok(!stderr.includes(WARNING), `unexpected uWS warning: ${stderr.slice(0, 300)}`);
});

test('control: the same upgrades with no cork at all make uWS.js print its warning (so the check above can fail)', () => {
  const { result, stderr } = runChild('uncorked');
  assert.equal(result.opened, 60);
  assert.ok(stderr.includes(WARNING), 'uWS.js printed no cork warning for uncorked upgrades');
});
