/** Refusal lines bounded per kind, with a summary of what was left out (src/RefusalLog.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusalLog } from '../src/RefusalLog.js';

interface Line { level: string; fields: Record<string, unknown>; msg: string }

function capture(): { lines: Line[]; sink: { warn: (f: Record<string, unknown>, m: string) => void; error: (f: Record<string, unknown>, m: string) => void } } {
  const lines: Line[] = [];
  return {
    lines,
    sink: {
      warn: (fields, msg) => lines.push({ level: 'warn', fields, msg }),
      error: (fields, msg) => lines.push({ level: 'error', fields, msg }),
    },
  };
}

test('the first lines of each kind are written, the rest counted into one summary per kind when the window ends', () => {
  let now = 1_000_000;
  const { lines, sink } = capture();
  const log = new RefusalLog(sink, { burst: 3, windowMs: 10_000, now: () => now });
  for (let i = 0; i < 1_000; i++) log.write('bad_signature', 'warn', { reason: 'bad_signature', i }, 'webhook refused', { reason: 'bad_signature' });
  for (let i = 0; i < 5; i++) log.write('stale', 'warn', { reason: 'stale' }, 'webhook refused');
  assert.equal(lines.length, 6, 'three of each kind');
  assert.deepEqual(lines.slice(0, 3).map((l) => l.fields.i), [0, 1, 2]);
  now += 10_000;
  log.write('stale', 'warn', { reason: 'stale' }, 'webhook refused');
  const summaries = lines.filter((l) => l.fields.suppressed !== undefined);
  assert.deepEqual(summaries.map((l) => [l.fields.kind, l.fields.suppressed, l.fields.reason]), [['bad_signature', 997, 'bad_signature'], ['stale', 2, undefined]]);
  assert.match(summaries[0]!.msg, /^webhook refused: 997 more like this in the last 10 s/);
  assert.equal(lines.at(-1)!.fields.suppressed, undefined, 'a new window writes again');
  log.close();
});

test('a quiet period after a flood still gets its summary, from a timer', async () => {
  const { lines, sink } = capture();
  const log = new RefusalLog(sink, { burst: 1, windowMs: 50 });
  for (let i = 0; i < 20; i++) log.write('unknown', 'error', {}, 'media upgrade refused');
  assert.equal(lines.length, 1);
  for (let i = 0; i < 40 && lines.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.fields.suppressed, 19);
  assert.equal(lines[1]!.level, 'error', 'at the kind\'s own level');
  log.close();
});

test('kinds past the bound share one, so made-up kinds cannot grow the table', () => {
  let now = 0;
  const { lines, sink } = capture();
  const log = new RefusalLog(sink, { burst: 2, maxKinds: 4, now: () => now });
  for (let i = 0; i < 1_000; i++) log.write(`kind-${i}`, 'warn', {}, 'refused');
  assert.equal(lines.length, 6, 'four kinds once each, then the shared kind twice');
  now += 20_000;
  log.flush();
  const summary = lines.find((l) => l.fields.suppressed !== undefined)!;
  assert.equal(summary.fields.kind, '(other)');
  assert.equal(summary.fields.suppressed, 994);
});
