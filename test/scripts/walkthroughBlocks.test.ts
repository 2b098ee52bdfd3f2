/**
 * docs/walkthrough.md as scripts/walkthroughCheck.ts reads it: the sh blocks
 * in order with their check: comments, and a malformed comment refused rather
 * than silently ignored (a check that would then run a block it should skip,
 * or not wait for a process's ready line).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { walkthroughBlocks } from '../../scripts/walkthroughBlocks.js';

const PAGE = fileURLToPath(new URL('../../../docs/walkthrough.md', import.meta.url));

test('the walkthrough page: its build block skipped, every background process waited for, the refusal expected', () => {
  const blocks = walkthroughBlocks(readFileSync(PAGE, 'utf8'));
  assert.ok(blocks[0]?.skip, 'npm ci is not run by the check');
  assert.match(blocks[0]?.code ?? '', /npm ci/);
  // Every block that starts a process in the background says what shows it ready.
  for (const b of blocks) {
    if (b.skip === null && /&\s*$/m.test(b.code)) assert.ok(b.waits.length > 0, `block ${b.index} (line ${b.line}) starts a process and waits for nothing`);
  }
  assert.ok(blocks.some((b) => b.expects.includes('TTMA_ERR_CAP_REACHED')));
  assert.ok(blocks.every((b) => b.code.endsWith('\n') && !b.code.includes('```')));
});

test('check: comments: each applies to the next sh block only; unknown or misplaced ones are refused', () => {
  const page = [
    '# A', '<!-- check: wait a.out "event":"ready" -->', '<!-- check: timeout 5 -->', '```sh', 'x &', '```',
    '## B', '```sh', 'y', '```', '```json', '{}', '```',
  ].join('\n');
  const [first, second] = walkthroughBlocks(page);
  assert.deepEqual(first?.waits, [{ file: 'a.out', text: '"event":"ready"' }]);
  assert.equal(first?.timeoutSec, 5);
  assert.equal(first?.section, 'A');
  assert.deepEqual({ index: second?.index, line: second?.line, code: second?.code, waits: second?.waits, section: second?.section }, { index: 2, line: 8, code: 'y\n', waits: [], section: 'B' });
  assert.throws(() => walkthroughBlocks('<!-- check: sleep 5 -->\n```sh\nx\n```\n'), /unknown check: comment "sleep"/);
  assert.throws(() => walkthroughBlocks('<!-- check: skip why -->\nsome prose\n```sh\nx\n```\n'), /right before its/);
  assert.throws(() => walkthroughBlocks('<!-- check: expect x -->\n```json\n{}\n```\n'), /sh blocks only/);
  assert.throws(() => walkthroughBlocks('```sh\nx\n'), /not closed/);
});
