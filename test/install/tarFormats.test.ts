/**
 * Differential, benign side: an ordinary bundle tree packed by every writer
 * an operator may use (our pack:skill via node-tar, our pack:gateway ustar
 * writer, GNU tar in its gnu, oldgnu, ustar, pax and posix formats) is read
 * by src/installer/tarReader.ts exactly as GNU tar reads it (names, sizes,
 * modes, types, contents: GNU tar really extracts the same bytes beside), and
 * the installer's scan and extraction write that same tree. What GNU tar
 * writes that the installer refuses (links, sparse files, non-UTF-8 names,
 * other compressions) is refused with TTMA_ERR_INSTALL_ARCHIVE naming why.
 */
import assert from 'node:assert/strict';
import { chmod, link, mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { GATEWAY_LIMITS, scanArchive } from '../../src/installer/archiveScan.js';
import { extractInto } from '../../src/installer/extractArchive.js';
import { readTar } from '../../src/installer/tarReader.js';
import { packSkill } from '../../scripts/packSkill.js';
import { tarFiles } from '../../scripts/tarWriter.js';
import { prng } from '../helpers/prng.js';
import { gnuCreate, gnuExtract, gnuTar, readerTree, treeDiff, walkTree, type Tree } from './tarTrees.js';

const noGnu = gnuTar ? false : 'GNU tar is not on PATH';
let root = '';
let src = '';

/** The bundle tree: long names (a ustar prefix split, over 100 bytes, a name of exactly 100 bytes), UTF-8, 0/512/odd sizes, an executable, 150 files, empty and nested directories. */
const FILES: Record<string, { bytes: Buffer; mode: number }> = {};
function addFile(path: string, bytes: Buffer | string, mode = 0o644): void {
  FILES[path] = { bytes: Buffer.from(bytes), mode };
}
const random = prng(0x7a4f);
const noise = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
addFile('SKILL.md', '---\nname: formats\n---\n');
addFile('empty.txt', '');
addFile('block.bin', noise(512));
addFile('odd.bin', noise(1000));
addFile('run.sh', '#!/bin/sh\necho hi\n', 0o755);
addFile('caf\u00e9.md', 'caf\u00e9\n');
addFile('\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb.md', 'utf-8 dir and name\n');
addFile(`${'p'.repeat(70)}/${'q'.repeat(70)}/${'r'.repeat(50)}.md`, 'long: ustar prefix, pax path, GNU L\n');
addFile('m'.repeat(100), 'a name of exactly 100 bytes\n');
addFile(`${'\u00e9'.repeat(45)}/${'x'.repeat(50)}.md`, 'a long UTF-8 name\n');
addFile('a/b/c/d/deep.txt', 'deep\n');
for (let i = 0; i < 150; i++) addFile(`many/f${String(i).padStart(3, '0')}.txt`, `file ${i}\n`);
const EMPTY_DIRS = ['emptydir', 'a/b/empty'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ttma-tarformats-'));
  src = join(root, 'src');
  for (const [path, { bytes, mode }] of Object.entries(FILES)) {
    const full = join(src, ...path.split('/'));
    await mkdir(join(full, '..'), { recursive: true });
    await writeFile(full, bytes);
    await chmod(full, mode);
  }
  for (const dir of EMPTY_DIRS) await mkdir(join(src, dir), { recursive: true });
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

let seq = 0;
/** Our reader's tree, GNU tar's extraction of the same bytes, and the installer's extraction: all must agree. */
async function assertReadLikeGnu(tar: Buffer, label: string, options: { wantEmptyDirs: boolean }): Promise<Tree> {
  const ours = readerTree(readTar(tar));
  const gnuDir = join(root, `gnu-${++seq}`);
  await mkdir(gnuDir);
  const gnu = gnuExtract(tar, gnuDir);
  assert.equal(gnu.status, 0, `${label}: GNU tar failed: ${gnu.stderr}`);
  const gnuTree = await walkTree(gnuDir);
  assert.equal(treeDiff(ours, gnuTree, ['our reader', 'GNU tar']), '', label);
  // The files the tree was made of, at their sizes and modes (no writer dropped or renamed one).
  for (const [path, { bytes, mode }] of Object.entries(FILES)) {
    const node = ours.get(path);
    assert.ok(node, `${label}: ${path} missing`);
    assert.equal(node.type, 'file', path);
    assert.ok(node.bytes.equals(bytes), `${label}: ${path} contents`);
    assert.equal(node.mode, mode, `${label}: ${path} mode`);
  }
  if (options.wantEmptyDirs) for (const dir of EMPTY_DIRS) assert.equal(ours.get(dir)?.type, 'dir', `${label}: ${dir}`);
  // The installer: scan, then its own extraction, which writes the same names and bytes (modes normalised to 0644/0755).
  const scanned = await scanArchive(gzipSync(tar), GATEWAY_LIMITS, label);
  const target = join(root, `ours-${seq}`);
  await extractInto(scanned, target, label);
  const installed = await walkTree(target);
  assert.equal(treeDiff(installed, gnuTree, ['the installer', 'GNU tar'], false), '', label);
  for (const [path, node] of installed) {
    const want = node.type === 'dir' || (gnuTree.get(path)!.mode! & 0o100) !== 0 ? 0o755 : 0o644;
    assert.equal(node.mode, want, `${label}: installed mode of ${path}`);
  }
  return ours;
}

test('node-tar as pack:skill uses it (portable, fixed mtime, gzip 9) is read as GNU tar reads it', { skip: noGnu }, async () => {
  const { bytes } = await packSkill(src);
  const tar = gunzipSync(bytes);
  await assertReadLikeGnu(tar, 'node-tar', { wantEmptyDirs: false });
});

test('the pack:gateway ustar writer (prefix split, 100-byte name) is read as GNU tar reads it', { skip: noGnu }, async () => {
  const tar = tarFiles(Object.entries(FILES).map(([path, f]) => ({ path, content: f.bytes, executable: f.mode === 0o755 })), new Date(0));
  await assertReadLikeGnu(tar, 'tarWriter', { wantEmptyDirs: false });
});

for (const format of ['gnu', 'oldgnu', 'ustar', 'pax', 'posix']) {
  test(`GNU tar --format=${format} is read as GNU tar reads it`, { skip: noGnu }, async () => {
    const tar = gnuCreate(src, format);
    const ours = await assertReadLikeGnu(tar, `GNU tar ${format}`, { wantEmptyDirs: true });
    // Every name is there as written, long ones included: a GNU 'L' record, a ustar prefix or a pax path.
    assert.ok(ours.has(`${'p'.repeat(70)}/${'q'.repeat(70)}/${'r'.repeat(50)}.md`));
  });
}

/** What the installer says when it refuses the archive. */
async function refusal(tar: Buffer, gzip = true): Promise<string> {
  try {
    await scanArchive(gzip ? gzipSync(tar) : tar, GATEWAY_LIMITS, 'gateway bundle');
  } catch (err) {
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), `not a typed installer error: ${String(err)}`);
    return (err as Error).message;
  }
  return assert.fail('the archive was accepted');
}

test('what GNU tar writes that the installer refuses is refused with a typed error naming why', { skip: noGnu }, async () => {
  const dir = join(root, 'refused');
  const fresh = async (name: string): Promise<string> => {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'SKILL.md'), 'x');
    return d;
  };
  // A hard link (GNU tar stores a second name of an inode as a link: `cp -al` trees, some node_modules).
  const hard = await fresh('hard');
  await link(join(hard, 'SKILL.md'), join(hard, 'again.md'));
  for (const format of ['gnu', 'pax']) assert.match(await refusal(gnuCreate(hard, format)), /"\.\/(again|SKILL)\.md": a Link entry, not a plain file or directory/);
  // A symlink.
  const sym = await fresh('sym');
  await symlink('SKILL.md', join(sym, 'link.md'));
  assert.match(await refusal(gnuCreate(sym, 'gnu')), /"\.\/link\.md": a SymbolicLink entry.*points at "SKILL\.md"/);
  // A sparse file under --sparse: GNU's 'S' entry, or pax GNU.sparse.* records.
  const sparse = await fresh('sparse');
  const handle = await open(join(sparse, 'holes.bin'), 'w');
  await handle.write('z', 1024 * 1024);
  await handle.close();
  assert.match(await refusal(gnuCreate(sparse, 'gnu', ['--sparse'])), /not a valid tar archive \(a GNU sparse file \('S'\)/);
  assert.match(await refusal(gnuCreate(sparse, 'pax', ['--sparse'])), /not a valid tar archive \(the pax record "GNU\.sparse\.major", which other tar readers honour/);
  // A name that is not UTF-8 (Latin-1 "café"): GNU tar stores its bytes as they are.
  const latin1 = await fresh('latin1');
  await writeFile(Buffer.from(`${join(latin1, 'caf')}\xe9`, 'latin1'), 'x');
  assert.match(await refusal(gnuCreate(latin1, 'gnu')), /not a valid tar archive \(the name field is not UTF-8/);
  assert.match(await refusal(gnuCreate(latin1, 'pax')), /not a valid tar archive \(a pax record that is not UTF-8/);
  // Other compressions and none.
  const plain = gnuCreate(await fresh('plain'), 'gnu');
  assert.match(await refusal(plain, false), /not a gzip file/);
  for (const tool of ['xz', 'zstd', 'bzip2']) {
    let packed: Buffer;
    try {
      packed = execFileSync(tool, ['-c'], { input: plain });
    } catch {
      continue; // not installed here
    }
    assert.match(await refusal(packed, false), /not a gzip file/, tool);
  }
});
