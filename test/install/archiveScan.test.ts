/**
 * The archive scan on real tar.gz bytes: a clean bundle packed by the `tar`
 * package passes and extracts exactly; every hostile archive is refused
 * whole, with the entry named.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { SKILL_LIMITS, collisionKey, scanArchive } from '../../src/installer/archiveScan.js';
import { extractInto } from '../../src/installer/extractArchive.js';
import { packSkill } from '../../scripts/packSkill.js';
import { maliciousArchives } from './maliciousArchives.js';
import { craftTar, craftTarGz } from '../helpers/tarCraft.js';
import { gzipSync } from 'node:zlib';
import { create } from 'tar';

test('the real skill bundle scans clean, with the digest of each file, and extracts exactly', async () => {
  const { bytes } = await packSkill();
  const scanned = await scanArchive(bytes, SKILL_LIMITS, 'skill bundle');
  assert.deepEqual(scanned.entries.map((e) => e.path), ['SKILL.md']);
  assert.match(scanned.entries[0]!.sha256 ?? '', /^[0-9a-f]{64}$/);
  const root = await mkdtemp(join(tmpdir(), 'ttma-scan-'));
  try {
    await extractInto(scanned, join(root, 'skill'), 'skill bundle');
    assert.deepEqual(await readdir(root), ['skill']);
    assert.deepEqual(await readdir(join(root, 'skill')), ['SKILL.md']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('what tar readers agree on passes, and extraction writes exactly the contents the scan hashed', async () => {
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}.md`;
  const crafted = craftTar([
    { path: 'SKILL.md', body: 'skill' },
    // The header's own name cut inside a character, as a writer may when the pax path carries it whole.
    { path: 'caf\u00e9.md', body: 'pax path', pax: true, headerName: Buffer.from([0x63, 0x61, 0x66, 0xc3]) },
    { path: long, body: 'GNU long name', gnuLongName: true },
    // Base-256 (GNU) size of 1; then GNU tar's record padding: zeros after the end marker.
    { path: 'one.bin', body: 'x', sizeField: Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) },
    { path: 'meta.md', body: 'ignored metadata', paxRecords: { mtime: '1700000000.5', comment: 'git commit', 'LIBARCHIVE.xattr.user.x': 'eA' } },
  ], { after: Buffer.alloc(16 * 512) });
  const scanned = await scanArchive(gzipSync(crafted), SKILL_LIMITS, 'skill bundle');
  const want = { 'SKILL.md': 'skill', 'caf\u00e9.md': 'pax path', [long]: 'GNU long name', 'one.bin': 'x', 'meta.md': 'ignored metadata' };
  assert.deepEqual(scanned.entries.map((e) => e.path), Object.keys(want));
  const root = await mkdtemp(join(tmpdir(), 'ttma-scan-'));
  try {
    await extractInto(scanned, join(root, 'skill'), 'skill bundle');
    for (const [path, body] of Object.entries(want)) {
      const entry = scanned.entries.find((e) => e.path === path)!;
      assert.equal(entry.sha256, createHash('sha256').update(body).digest('hex'), path);
      assert.equal(await readFile(join(root, 'skill', path), 'utf8'), body, path);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('an archive node-tar packs with pax headers (a long non-ASCII path, a directory) passes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ttma-scan-'));
  try {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const deep = `${'\u00e9'.repeat(70)}/${'x'.repeat(90)}`;
    await mkdir(join(root, 'src', deep), { recursive: true });
    await writeFile(join(root, 'src', 'SKILL.md'), 'skill');
    await writeFile(join(root, 'src', deep, 'f.md'), 'deep');
    const chunks: Buffer[] = [];
    for await (const c of create({ gzip: true, cwd: join(root, 'src'), portable: true }, ['SKILL.md', `${deep}/f.md`])) chunks.push(c as Buffer);
    const scanned = await scanArchive(Buffer.concat(chunks), SKILL_LIMITS, 'skill bundle');
    assert.deepEqual(scanned.entries.map((e) => e.path), ['SKILL.md', `${deep}/f.md`]);
    assert.equal(scanned.bodies.get(`${deep}/f.md`)?.toString(), 'deep');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a truncated archive is refused wherever the cut falls: inside a header, a body, its padding, or the end marker', async () => {
  const whole = craftTar([{ path: 'SKILL.md', body: 'skill' }, { path: 'b.md', body: 'b'.repeat(700) }]);
  for (const cut of [100, 512, 1024, 1100, 1536 + 600, 1536 + 1024, whole.length - 512, whole.length - 1]) {
    await assert.rejects(scanArchive(gzipSync(whole.subarray(0, cut)), SKILL_LIMITS, 'skill bundle'), (err: unknown) => {
      assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), String(err));
      assert.match((err as Error).message, /^refused skill bundle: not a valid tar archive \(.*(truncated|ends inside|no end-of-archive)/, `cut at ${cut}`);
      return true;
    });
  }
  // The same archive whole passes; so does one ending on an entry boundary only when its end marker is there.
  await scanArchive(craftTarGz([{ path: 'SKILL.md', body: 'skill' }]), SKILL_LIMITS, 'skill bundle');
});

test('the collision key folds Unicode normalization and case', () => {
  assert.equal(collisionKey('Caf\u00e9'), collisionKey('Cafe\u0301'));
  assert.equal(collisionKey('README'), collisionKey('readme'));
  assert.equal(collisionKey('stra\u00dfe'), collisionKey('STRASSE'));
  assert.equal(collisionKey('\u212a'), collisionKey('k')); // Kelvin sign
  assert.notEqual(collisionKey('a'), collisionKey('b'));
});

for (const [name, [archive, why]] of Object.entries(maliciousArchives())) {
  test(`refused whole: ${name}`, async () => {
    await assert.rejects(scanArchive(archive, SKILL_LIMITS, 'skill bundle'), (err: unknown) => {
      assert.ok(isTtmaError(err, ErrorCodes.INSTALL_ARCHIVE), String(err));
      assert.match((err as Error).message, /^refused skill bundle: /);
      assert.match((err as Error).message, why);
      return true;
    });
  });
}
