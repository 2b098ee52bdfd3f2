/**
 * uWS.js terminates the process when an HTTP handler returns without having
 * answered or attached onAborted (src/front/httpRoutes.ts). The real front's
 * routes, with a dependency that throws or a promise that rejects, must be
 * answered 500 (TTMA_ERR_INTERNAL) and the process live on: checked in a
 * child process (httpRoutesChild.ts), since the failure is the process dying.
 * And no handler may be registered past the guard: src/ is searched for raw
 * registrations on a uWS app.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const CHILD = fileURLToPath(new URL('./httpRoutesChild.js', import.meta.url));
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

interface Seen {
  status: number;
  body: string;
}

test('handlers that throw or reject are answered 500 with TTMA_ERR_INTERNAL, and the process lives on', () => {
  const out = spawnSync(process.execPath, [CHILD, '--child'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, `child exited ${out.status} (signal ${out.signal}); stderr: ${out.stderr.slice(0, 600)}`);
  const lines = out.stdout.trim().split('\n');
  const { seen, failures, uncaught } = JSON.parse(lines[lines.length - 1]!) as {
    seen: { status: Seen; metrics: Seen; callList: Seen; throws: Seen; rejects: Seen; mediaUpgrade: number; healthz: number };
    failures: string[];
    uncaught: string[];
  };
  for (const [route, answer] of Object.entries({ status: seen.status, callList: seen.callList, throws: seen.throws, rejects: seen.rejects })) {
    assert.equal(answer.status, 500, `${route}: ${answer.status} ${answer.body}`);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'TTMA_ERR_INTERNAL', `${route}: ${answer.body}`);
  }
  assert.equal(seen.metrics.status, 0, `metrics, which failed after its status line: cut, not answered (${seen.metrics.status} ${seen.metrics.body})`);
  assert.equal(seen.mediaUpgrade, 500, 'a media upgrade whose verdict throws is refused, not left to uWS');
  assert.equal(seen.healthz, 200);
  assert.deepEqual(failures, ['thrown synchronously', 'rejected later'], 'each failure was reported once');
  assert.deepEqual(uncaught, [], 'nothing escaped as an uncaught exception');
});

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('no uWS handler is registered past the guard: src/ has no raw app.get/post/any/ws... outside httpRoutes.ts', () => {
  // A uWS app is named `app` or `...App` here; GuardedRoutes objects are named `routes`.
  const RAW = /\b\w*(?:app|App)\s*\.\s*(?:get|post|put|patch|del|options|head|connect|trace|any|ws)\s*[<(]/;
  const offenders: string[] = [];
  let uwsFiles = 0;
  for (const file of sources(SRC)) {
    if (file.endsWith(join('front', 'httpRoutes.ts'))) continue;
    const text = readFileSync(file, 'utf8');
    if (!/from '(?:\.\/uws\.js|\.\.\/front\/uws\.js|uWebSockets\.js)'/.test(text)) continue;
    uwsFiles++;
    text.split('\n').forEach((line, i) => {
      if (RAW.test(line)) offenders.push(`${file.slice(SRC.length)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.ok(uwsFiles >= 5, `found only ${uwsFiles} files using uWS: the search is looking in the wrong place`);
  assert.deepEqual(offenders, [], 'register through guardedRoutes (src/front/httpRoutes.ts)');
});
