/**
 * Trees to compare tar readers by: what our reader returns, what the
 * installer's extraction wrote, and what GNU tar itself writes from the same
 * bytes (real `tar -x` into a temp directory), each as path -> node.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TarEntry } from '../../src/installer/tarReader.js';

export interface TreeNode {
  type: 'file' | 'dir' | 'other';
  /** Permission bits; null where no header gave them (a parent created implicitly). */
  mode: number | null;
  /** File content; empty for directories. */
  bytes: Buffer;
}

export type Tree = Map<string, TreeNode>;

/** Every node under `root` (lstat, so a symlink is 'other'), by "/"-joined relative path. */
export async function walkTree(root: string): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const stats = await lstat(full);
      const type = stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : 'other';
      tree.set(rel, { type, mode: stats.mode & 0o7777, bytes: type === 'file' ? await readFile(full) : Buffer.alloc(0) });
      if (type === 'dir') await walk(full, rel);
    }
  };
  await walk(root, '');
  return tree;
}

/** Our reader's entries as the tree an extraction should leave: "./" and trailing "/" dropped, parents implied. */
export function readerTree(entries: readonly TarEntry[]): Tree {
  const tree: Tree = new Map();
  for (const entry of entries) {
    const path = entry.path.replace(/^\.\//, '').replace(/\/$/, '');
    if (path === '' || path === '.') continue;
    const type = entry.type === 'Directory' ? 'dir' : entry.type === 'File' || entry.type === 'OldFile' ? 'file' : 'other';
    tree.set(path, { type, mode: entry.mode, bytes: type === 'file' ? Buffer.from(entry.body) : Buffer.alloc(0) });
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (!tree.has(parent)) tree.set(parent, { type: 'dir', mode: null, bytes: Buffer.alloc(0) });
    }
  }
  return tree;
}

/** A difference between two trees as one line per path, '' when they agree (modes only where both know them). */
export function treeDiff(a: Tree, b: Tree, names: [string, string], compareModes = true): string {
  const lines: string[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path);
    const y = b.get(path);
    if (!x || !y) lines.push(`${JSON.stringify(path)}: only in ${x ? names[0] : names[1]}`);
    else if (x.type !== y.type) lines.push(`${JSON.stringify(path)}: ${x.type} in ${names[0]}, ${y.type} in ${names[1]}`);
    else if (!x.bytes.equals(y.bytes)) lines.push(`${JSON.stringify(path)}: contents differ (${x.bytes.length} and ${y.bytes.length} bytes)`);
    else if (compareModes && x.mode !== null && y.mode !== null && x.mode !== y.mode) lines.push(`${JSON.stringify(path)}: mode ${x.mode.toString(8)} and ${y.mode.toString(8)}`);
  }
  return lines.join('\n');
}

/** GNU tar on PATH (the differential needs GNU's reading, not bsdtar's). */
export const gnuTar: boolean = (() => {
  const run = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  return run.status === 0 && run.stdout.includes('GNU tar');
})();

/** GNU tar extracts a plain tar into `dir` keeping modes (-p) but not owners; returns its exit status and complaints. */
export function gnuExtract(tar: Buffer, dir: string): { status: number | null; stderr: string } {
  const run = spawnSync('tar', ['-x', '-p', '--no-same-owner', '-f', '-', '-C', dir], { input: tar, env: { ...process.env, LC_ALL: 'C' }, timeout: 10_000 });
  return { status: run.status, stderr: run.stderr.toString() };
}

/** GNU tar extracts `<root>/<name>.tar` into the existing `<root>/<name>/` for each name, in one shell; each one's exit status. */
export function gnuExtractEach(root: string, names: readonly string[]): Map<string, number> {
  const script = 'for n in "$@"; do tar -x -p --no-same-owner -f "$n.tar" -C "$n" 2>/dev/null; echo "$n $?"; done';
  const out = execFileSync('sh', ['-c', script, 'sh', ...names], { cwd: root, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8', timeout: 120_000 });
  return new Map(out.trim().split('\n').filter(Boolean).map((line) => {
    const [name, status] = line.split(' ');
    return [name!, Number(status)];
  }));
}

/** GNU tar creates an archive of `dir`'s contents ("." and below) in `format`. */
export function gnuCreate(dir: string, format: string, extra: string[] = []): Buffer {
  return execFileSync('tar', [`--format=${format}`, ...extra, '-c', '-f', '-', '-C', dir, '.'], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024 });
}
