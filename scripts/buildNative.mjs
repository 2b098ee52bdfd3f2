#!/usr/bin/env node
/**
 * Builds the native media addon (native/binding.gyp) with node-gyp and says
 * how long it took. Finds node-gyp without installing anything: the one npm
 * hands its scripts (npm_config_node_gyp), a node-gyp dev dependency, or the
 * copy bundled with npm next to this node. Uses the node's own headers when
 * they are installed (nodedir), so no header download is needed.
 *
 *   node scripts/buildNative.mjs [--optional] [--if-stale]
 *
 * --optional  a failed build is a warning and exit 0: the TypeScript path
 *             stays in use (for npm ci / npm run build on hosts without a compiler).
 * --if-stale  do nothing when the addon is newer than every file under native/src and binding.gyp.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'ttma_media.node');
const args = new Set(process.argv.slice(2));
const optional = args.has('--optional');
const ifStale = args.has('--if-stale');
for (const arg of args) {
  if (arg !== '--optional' && arg !== '--if-stale') {
    console.error(`buildNative: unknown option ${arg} (use --optional, --if-stale)`);
    process.exit(2);
  }
}

function finish(ok, message) {
  if (ok) {
    console.error(`buildNative: ${message}`);
    process.exit(0);
  }
  if (optional) {
    console.error(`buildNative: WARNING: ${message}; the TypeScript media path will be used (src/media/native.ts reports why)`);
    process.exit(0);
  }
  console.error(`buildNative: ${message}`);
  process.exit(1);
}

function newestSource() {
  let newest = statSync(join(nativeDir, 'binding.gyp')).mtimeMs;
  for (const name of readdirSync(join(nativeDir, 'src'))) newest = Math.max(newest, statSync(join(nativeDir, 'src', name)).mtimeMs);
  return newest;
}

if (ifStale && existsSync(addon) && statSync(addon).mtimeMs >= newestSource()) process.exit(0);

function findNodeGyp() {
  const fromNpm = process.env['npm_config_node_gyp'];
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // not a dependency; try npm's bundled copy
  }
  const prefix = dirname(dirname(process.execPath));
  for (const candidate of [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

const nodeGyp = findNodeGyp();
if (nodeGyp === null) finish(false, 'node-gyp not found (add it as a devDependency, or install npm alongside node)');

const gypArgs = [nodeGyp, 'rebuild', '--directory', nativeDir, '--jobs', 'max'];
// Headers of the running node, when installed with it (distribution packages, official tarballs).
const prefix = dirname(dirname(process.execPath));
if (!process.env['npm_config_nodedir'] && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  gypArgs.push(`--nodedir=${prefix}`);
}
const started = process.hrtime.bigint();
// The compiler's chatter goes to stderr: `npm run bench -- --json` builds first, and its stdout must be the JSON alone.
const result = spawnSync(process.execPath, gypArgs, { stdio: ['ignore', process.stderr, 'inherit'] });
const seconds = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(1);
if (result.error) finish(false, `could not run node-gyp: ${result.error.message}`);
if (result.status !== 0) finish(false, `node-gyp failed (exit ${result.status}) after ${seconds} s; a C compiler, make and python3 are needed`);
finish(true, `built ${addon} in ${seconds} s`);
