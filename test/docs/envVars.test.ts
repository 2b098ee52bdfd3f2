/**
 * Environment variables: every one the code reads is documented (ours in
 * docs/configuration.md, those systemd sets anywhere in the docs), and every
 * TTMA_* name the docs use exists. Names are taken from
 * src/ as text: `env['X']`, `env.X`, `env: 'X'` (the settings tables) and
 * quoted 'TTMA_*' strings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sourceFiles, userDoc, userDocs, whereIn } from '../helpers/docsCorpus.js';

const NAME = '([A-Z][A-Z0-9_]+)';
const READS = [
  new RegExp(`\\benv\\)?\\??(?:\\.${NAME}\\b|\\[['"]${NAME}['"]\\])`, 'g'),
  new RegExp(`\\)\\[['"]${NAME}['"]\\]`, 'g'),
  new RegExp(`\\benv: ['"]${NAME}['"]`, 'g'),
  new RegExp(`['"\`](TTMA_[A-Z0-9_]+)\\b`, 'g'),
];

/** Every variable name the source reads or names, with the file that names it first. */
function codeVariables(): Map<string, string> {
  const names = new Map<string, string>();
  for (const file of sourceFiles('src')) {
    for (const pattern of READS) {
      for (const m of file.text.matchAll(pattern)) {
        const name = m.slice(1).find((g) => g !== undefined)!;
        if (name.startsWith('TTMA_ERR_')) continue;
        if (!names.has(name)) names.set(name, file.path);
      }
    }
  }
  return names;
}

const word = (name: string) => new RegExp(`\\b${name}\\b`);

test('every environment variable the code reads is documented: TTMA_* and the settings\' in docs/configuration.md', () => {
  const vars = codeVariables();
  assert.ok(vars.has('TTMA_LOG_LEVEL') && vars.has('REDIS_URL') && vars.has('CREDENTIALS_DIRECTORY'), 'the source was read');
  const configuration = userDoc('docs/configuration.md').text;
  const missing: string[] = [];
  for (const [name, file] of vars) {
    const ours = name.startsWith('TTMA_') || name === 'REDIS_URL';
    const documented = ours ? word(name).test(configuration) : whereIn(userDocs(), word(name)).length > 0;
    if (!documented) missing.push(`${name} (${file}) not in ${ours ? 'docs/configuration.md' : 'the docs'}`);
  }
  assert.deepEqual(missing, []);
});

test('every TTMA_* name the docs use exists: a variable the code reads, or one of the tests\' and scripts\' (or an addon macro)', () => {
  const vars = new Set(codeVariables().keys());
  const elsewhere = [...['test', 'scripts', 'bench'].flatMap((dir) => sourceFiles(dir)), ...sourceFiles('native/src', ['.c', '.h'])];
  for (const file of elsewhere) for (const m of file.text.matchAll(/\bTTMA_[A-Z0-9_]+/g)) vars.add(m[0]);
  const unknown: string[] = [];
  for (const doc of userDocs()) {
    for (const m of doc.text.matchAll(/\b(TTMA_[A-Z0-9_]*[A-Z0-9])\b/g)) {
      const name = m[1]!;
      if (name.startsWith('TTMA_ERR_') || vars.has(name)) continue;
      unknown.push(`${doc.path}: ${name}`);
    }
  }
  assert.deepEqual([...new Set(unknown)], []);
});
