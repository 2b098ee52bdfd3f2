/**
 * Error codes: every code in src/errors.ts has its row in the "Error codes"
 * table of docs/operations.md, every row and every TTMA_ERR_* the docs use
 * is a real code, the statuses the server code pairs with a code are in its
 * row, and a status the docs write next to a code ("403 `TTMA_ERR_X`") is
 * one its row gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { sourceFiles, userDoc, userDocs } from '../helpers/docsCorpus.js';
import { statusUses } from '../helpers/errorStatuses.js';

const TABLE_DOC = 'docs/operations.md';
const CODES = new Set<string>(Object.values(ErrorCodes));

/** The rows of the table under "## Error codes": code -> the status cell. */
function table(): Map<string, string> {
  const text = userDoc(TABLE_DOC).text;
  const section = text.slice(text.indexOf('\n## Error codes\n'));
  assert.ok(section.length > 1, `${TABLE_DOC} has an "Error codes" section`);
  const rows = new Map<string, string>();
  for (const m of section.matchAll(/^\| `(TTMA_ERR_[A-Z_]+)` \| ([^|]*) \|/gm)) {
    assert.ok(!rows.has(m[1]!), `${m[1]} has two rows`);
    rows.set(m[1]!, m[2]!);
  }
  return rows;
}

const statusesOf = (cell: string) => new Set([...cell.matchAll(/\b[1-5]\d\d\b/g)].map((m) => Number(m[0])));

test('the error code table has one row per code in src/errors.ts, and no other', () => {
  const rows = table();
  assert.deepEqual([...rows.keys()].sort(), [...CODES].sort());
});

test('every TTMA_ERR_* the docs name is a code in src/errors.ts (or the native addon\'s own)', () => {
  // The addon throws its own code for a caller's programming error (native/src/napi_args.h).
  const native = sourceFiles('native/src', ['.c', '.h']).flatMap((f) => [...f.text.matchAll(/"(TTMA_ERR_[A-Z_]+)"/g)].map((m) => m[1]!));
  const known = new Set([...CODES, ...native]);
  const unknown = userDocs().flatMap((doc) => [...doc.text.matchAll(/\bTTMA_ERR_[A-Z_]*[A-Z]\b/g)].filter((m) => !known.has(m[0])).map((m) => `${doc.path}: ${m[0]}`));
  assert.deepEqual([...new Set(unknown)], []);
});

/**
 * Server code only: the CLI, the installer, agents, audio loading and the simulator end in an exit
 * code, a log line or a call's end, not an HTTP answer. 500 is TtmaError's default for a failure
 * that is no answer to a request (a start-up check), so it is not required in the table.
 */
const CLIENT_SIDE = /^src\/(cli|installer|agent|audio|sim)\/|\/cli\.ts$/;

test('each status the server code answers a code with is in that code\'s row', () => {
  const rows = table();
  const uses = statusUses(sourceFiles('src').filter((f) => !CLIENT_SIDE.test(f.path)));
  assert.ok(uses.length > 100, `the source's statuses were read (${uses.length})`);
  const missing = uses.filter((u) => u.status !== 500 && !statusesOf(rows.get(`TTMA_ERR_${u.code}`) ?? '').has(u.status));
  assert.deepEqual(missing.map((u) => `TTMA_ERR_${u.code} ${u.status} (${u.where})`), []);
});

test('a status the docs write next to a code is one that code\'s row gives', () => {
  const rows = table();
  const wrong: string[] = [];
  const patterns = [/\b([1-5]\d\d)\)? `?(TTMA_ERR_[A-Z_]+)/g, /(TTMA_ERR_[A-Z_]+)`? \(?(?:HTTP )?([1-5]\d\d)\b/g];
  for (const doc of userDocs()) {
    for (const [n, pattern] of patterns.entries()) {
      for (const m of doc.text.matchAll(pattern)) {
        const [code, status] = n === 0 ? [m[2]!, m[1]!] : [m[1]!, m[2]!];
        if (!statusesOf(rows.get(code) ?? '').has(Number(status))) wrong.push(`${doc.path}: ${status} ${code}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
