/**
 * The archive scan on real tar.gz bytes: a clean bundle packed by the `tar`
 * package passes and extracts exactly; every hostile archive is refused
 * whole, with the entry named.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { SKILL_LIMITS, collisionKey, scanArchive } from '../../src/installer/archiveScan.js';
import { extractInto } from '../../src/installer/extractArchive.js';
import { packSkill } from '../../scripts/packSkill.js';
import { maliciousArchives } from './maliciousArchives.js';

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
