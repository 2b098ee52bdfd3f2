/**
 * DESIGN.md section 2's dependency direction, checked on the source text:
 * `media` is pure DSP (it imports nothing of ours but the error type, and
 * no I/O or timers), the platform never imports gateway code and the
 * gateway never imports the platform (they speak HTTP/WebSocket, as they
 * would across the internet), and neither imports the simulator.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'node:test';
import { ROOT } from './helpers/docsCorpus.js';

const SRC = join(ROOT, 'src');

interface Import {
  /** The importing file, relative to src/ (e.g. media/g711.ts). */
  from: string;
  /** What it names: a path relative to src/ for our files, the specifier for packages and builtins. */
  target: string;
  ours: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

// Static imports and re-exports (`import x from`, `import type`, `export * from`, bare `import '...'`) and dynamic `import('...')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(SRC, file);
  return [...text.matchAll(SPECIFIER)].map(([, spec]) => {
    if (!spec!.startsWith('.')) return { from, target: spec!, ours: false };
    return { from, target: relative(SRC, resolve(dirname(file), spec!)).replace(/\.js$/, '.ts'), ours: true };
  });
}

const ALL = sourceFiles(SRC).flatMap(importsOf);

/** The top-level part of src/ a path is in: a directory name, or the file's own name. */
function area(path: string): string {
  return path.split('/')[0]!;
}

const GATEWAY = new Set(['front', 'actors', 'control', 'agent', 'media', 'audio', 'Gateway.ts']);

function offending(rule: (i: Import) => boolean): string[] {
  return ALL.filter(rule).map((i) => `${i.from} -> ${i.target}`);
}

test('the scanner sees the imports it is meant to judge', () => {
  // A scanner that found nothing would pass every rule below.
  assert.ok(ALL.length > 500, `only ${ALL.length} imports found under src/`);
  assert.ok(ALL.some((i) => i.from.startsWith('platform/') && i.target.startsWith('wire/')));
  assert.ok(ALL.some((i) => i.from === 'cli/ttma.ts' && i.target === 'cli/usage.ts'));
  assert.ok(ALL.some((i) => i.from.startsWith('cli/') && i.target === 'platform/cli.ts'), 'dynamic import() not seen');
});

test('media imports nothing of ours but the error type, and no I/O', () => {
  const outside = offending((i) => area(i.from) === 'media' && i.ours && area(i.target) !== 'media' && i.target !== 'errors.ts');
  assert.deepEqual(outside, []);
  // The native addon and Opus are loaded with createRequire and a path check; nothing that does I/O or networking.
  const builtins = new Set(['node:module', 'node:path', 'node:url', 'node:fs']);
  const loaders = new Set(['media/native.ts', 'media/opus.ts']);
  const io = offending((i) => area(i.from) === 'media' && !i.ours && i.target.startsWith('node:') && !(builtins.has(i.target) && loaders.has(i.from)));
  assert.deepEqual(io, []);
});

test('media has no timers: the worker clock drives it', () => {
  const timers = sourceFiles(join(SRC, 'media')).filter((file) => /\b(setTimeout|setInterval|setImmediate)\s*\(/.test(readFileSync(file, 'utf8')));
  assert.deepEqual(timers.map((f) => relative(SRC, f)), []);
});

test('the gateway never imports the platform or the simulator', () => {
  assert.deepEqual(offending((i) => GATEWAY.has(area(i.from)) && i.ours && (area(i.target) === 'platform' || area(i.target) === 'sim')), []);
});

test('the platform never imports gateway code or the simulator', () => {
  assert.deepEqual(offending((i) => area(i.from) === 'platform' && i.ours && (GATEWAY.has(area(i.target)) || area(i.target) === 'sim')), []);
});

test('the shared wire types import only each other and the error type', () => {
  assert.deepEqual(offending((i) => area(i.from) === 'wire' && i.ours && area(i.target) !== 'wire' && i.target !== 'errors.ts'), []);
});
