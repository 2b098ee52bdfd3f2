/**
 * Adversarial side of the installer's tar reader: a fixed-seed fuzz loop
 * (tarMutations.ts) over valid and generated archives. For every case the
 * installer either refuses with TTMA_ERR_INSTALL_ARCHIVE, writing nothing,
 * or the entries its scan reports are exactly what its real extraction into
 * a temp directory writes (same names, same bytes), nothing lands outside
 * the target, and GNU tar extracting the same bytes writes the same tree.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { SKILL_LIMITS, scanArchive, type ScannedArchive } from '../../src/installer/archiveScan.js';
import { extractInto } from '../../src/installer/extractArchive.js';
import { readTar } from '../../src/installer/tarReader.js';
import { tarFiles } from '../../scripts/tarWriter.js';
import { craftTar } from '../helpers/tarCraft.js';
import { ABSOLUTE_SENTINEL, fuzzCase } from './tarMutations.js';
import { gnuExtractEach, gnuTar, readerTree, treeDiff, walkTree, type Tree } from './tarTrees.js';

/** Fixed, so a failure replays; TTMA_TARFUZZ_SEED / TTMA_TARFUZZ_ITERATIONS explore further by hand. */
const SEED = Number(process.env.TTMA_TARFUZZ_SEED) || 0x7a4f0000;
/** About 6 s on this machine's 2 cores, 11 s at a load of 12; the budget is 20 s. */
const ITERATIONS = Number(process.env.TTMA_TARFUZZ_ITERATIONS) || 2000;

const BASES: Buffer[] = [
  craftTar([{ path: 'SKILL.md', body: 'skill' }, { path: 'dir/', type: '5' }, { path: 'dir/a.md', body: 'a'.repeat(512) }, { path: 'empty.md', body: '' }]),
  craftTar([{ path: 'SKILL.md', body: 'skill' }, { path: 'caf\u00e9.md', body: 'pax', pax: true }, { path: `${'l'.repeat(120)}.md`, body: 'long', gnuLongName: true }]),
  tarFiles([{ path: 'SKILL.md', content: Buffer.from('skill'), executable: false }, { path: `${'p'.repeat(90)}/${'n'.repeat(90)}.md`, content: Buffer.alloc(513, 7), executable: true }], new Date(0)),
];

/** The tree a scan promises: its entries (and their parents) under the target, each file with the bytes the scan hashed. */
function promised(scanned: ScannedArchive): Tree {
  const tree: Tree = new Map();
  for (const entry of scanned.entries) {
    const segments = entry.path.split('/');
    for (let i = 1; i < segments.length; i++) tree.set(segments.slice(0, i).join('/'), { type: 'dir', mode: null, bytes: Buffer.alloc(0) });
    tree.set(entry.path, { type: entry.type, mode: null, bytes: entry.type === 'file' ? Buffer.from(scanned.bodies.get(entry.path)!) : Buffer.alloc(0) });
  }
  return tree;
}

/** One case: refused with a typed error (the scan is in memory: nothing to write), or written exactly as scanned; the installed tree. */
async function check(tar: Buffer, box: string): Promise<Tree | null> {
  let scanned: ScannedArchive;
  try {
    scanned = await scanArchive(gzipSync(tar, { level: 1 }), SKILL_LIMITS, 'fuzz bundle');
  } catch (err) {
    assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), `refused with an untyped error: ${(err as Error).stack}`);
    assert.match((err as Error).message, /^refused fuzz bundle: .+; the whole archive was refused and nothing was written$/s);
    return null;
  }
  // The scan reports every entry the reader read (none dropped, none renamed but for "./" and a directory's "/").
  assert.equal(treeDiff(readerTree(readTar(tar)), promised(scanned), ['the reader', 'the scan'], false), '', 'the scan reported other entries than the reader read');
  const target = join(box, 'x', 'y', 'target');
  await mkdir(join(box, 'x', 'y'), { recursive: true });
  try {
    await extractInto(scanned, target, 'fuzz bundle');
  } catch (err) {
    assert.fail(`the scan passed what extraction refused: ${(err as Error).message}`);
  }
  // Everything under the box: only the target's tree, exactly what the scan promised.
  const all = await walkTree(box);
  const want: Tree = new Map([['x', { type: 'dir', mode: null, bytes: Buffer.alloc(0) }], ['x/y', { type: 'dir', mode: null, bytes: Buffer.alloc(0) }], ['x/y/target', { type: 'dir', mode: null, bytes: Buffer.alloc(0) }]]);
  for (const [path, node] of promised(scanned)) want.set(`x/y/target/${path}`, node);
  assert.equal(treeDiff(want, all, ['the scan', 'the disk'], false), '', 'extraction wrote other than the scan reported');
  return walkTree(target);
}

test(`${ITERATIONS} seeded hostile archives: refused with a typed error, or written exactly as scanned (and as GNU tar writes them), never outside the target`, async () => {
  const started = Date.now();
  const runRoot = await mkdtemp(join(tmpdir(), 'ttma-tarfuzz-'));
  const accepted: { i: number; tar: Buffer; installed: Tree; story: string[] }[] = [];
  const fail = (i: number, story: string[], err: unknown): never => {
    throw new Error(`fuzz case ${i} (seed ${SEED + i}): ${(err as Error).message}\n  ${story.join('\n  ')}`.slice(0, 4000), { cause: err });
  };
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const { tar, story } = fuzzCase(SEED + i, BASES);
      const box = join(runRoot, `case-${i}`);
      try {
        const installed = await check(tar, box);
        if (installed) accepted.push({ i, tar, installed, story });
        await rm(box, { recursive: true, force: true });
        assert.deepEqual(await readdir(runRoot), [], 'something was left beside the box');
        assert.equal(existsSync(ABSOLUTE_SENTINEL), false, 'something was written at an absolute path');
      } catch (err) {
        fail(i, story, err);
      }
    }
    // What the installer accepted (plain files and directories, no "..") GNU tar may extract safely; it must write the same tree.
    // One shell for all of them: a spawn per case is most of the loop's time.
    if (gnuTar) {
      const gnuRoot = join(runRoot, 'gnu');
      await mkdir(gnuRoot);
      await Promise.all(accepted.map(async ({ i, tar }) => {
        await mkdir(join(gnuRoot, String(i)));
        await writeFile(join(gnuRoot, `${i}.tar`), tar);
      }));
      const statuses = gnuExtractEach(gnuRoot, accepted.map(({ i }) => String(i)));
      for (const { i, installed, story } of accepted) {
        try {
          assert.equal(statuses.get(String(i)), 0, `GNU tar refused what the installer accepted`);
          assert.equal(treeDiff(installed, await walkTree(join(gnuRoot, String(i))), ['the installer', 'GNU tar'], false), '', 'GNU tar wrote another tree');
        } catch (err) {
          fail(i, story, err);
        }
      }
    }
  } finally {
    await rm(runRoot, { recursive: true, force: true });
  }
  // The loop must reach both sides: a mutator refused every time would prove nothing.
  assert.ok(accepted.length >= ITERATIONS / 20, `only ${accepted.length} accepted of ${ITERATIONS}`);
  assert.ok(accepted.length <= ITERATIONS / 2, `${accepted.length} accepted of ${ITERATIONS}: the mutations do little`);
  process.stdout.write(`# tarFuzz: ${accepted.length} accepted of ${ITERATIONS} in ${Date.now() - started} ms\n`);
});

test('every base archive cut at every block boundary and inside every block is refused with a typed error', async () => {
  let cuts = 0;
  for (const [b, tar] of BASES.entries()) {
    // Every boundary, and every 29th byte inside each block (headers, bodies, the end marker).
    const points: number[] = [];
    for (let block = 0; block < tar.length; block += 512) for (let offset = 0; offset < 512; offset += offset === 0 ? 1 : 29) points.push(block + offset);
    for (const at of points) {
      await assert.rejects(scanArchive(gzipSync(tar.subarray(0, at), { level: 1 }), SKILL_LIMITS, 'fuzz bundle'), (err: unknown) => {
        assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), `base ${b} cut at ${at}: ${String(err)}`);
        assert.match((err as Error).message, /not a valid tar archive \(.*(truncated|ends inside|no entry after it)|the archive is empty/, `base ${b} cut at ${at}`);
        return true;
      });
      cuts += 1;
    }
  }
  assert.ok(cuts > 300, `${cuts} cuts`);
});
