/**
 * Writes a scanned archive into a fresh staging directory (mode 0700, a
 * sibling of the target so rename is atomic), checks that what landed on
 * disk is exactly what the scan approved (no symlink, no extra entry, same
 * sizes), fixes modes, and only then renames it into place. On any failure
 * the staging directory is removed and the target is untouched.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm, chmod } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';
import { collisionKey, type ScannedArchive, type ScannedEntry } from './archiveScan.js';

const DIR_MODE = 0o755;
const FILE_MODE = 0o644;
const EXEC_MODE = 0o755;

function extractError(label: string, what: string, cause?: unknown): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_ARCHIVE, `refused ${label}: ${what}; nothing was written`, 2, { cause });
}

/**
 * Writes the scanned entries into `staging` (which must exist and be empty):
 * the contents the scan hashed, by the paths it approved, nothing read from
 * a tar header again. Exclusive creates that follow no symlink; modes are set
 * by verifyTree.
 */
export async function unpackScanned(archive: ScannedArchive, staging: string, label: string): Promise<void> {
  try {
    for (const entry of archive.entries) {
      const target = join(staging, ...entry.path.split('/'));
      if (entry.type === 'dir') {
        await mkdir(target, { recursive: true, mode: 0o700 });
        continue;
      }
      const body = archive.bodies.get(entry.path);
      if (!body) throw new Error(`no content for ${JSON.stringify(entry.path)}`);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const file = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await file.writeFile(body);
      } finally {
        await file.close();
      }
    }
  } catch (err) {
    throw extractError(label, `extraction failed (${(err as Error).message})`, err);
  }
  await verifyTree(staging, archive.entries, label);
}

/** Walks the staging tree with lstat: every node approved, of its type, of its size; modes set. */
async function verifyTree(root: string, entries: ScannedEntry[], label: string): Promise<void> {
  const expected = new Map<string, ScannedEntry>();
  for (const entry of entries) {
    expected.set(entry.path, entry);
    const segments = entry.path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (!expected.has(parent)) expected.set(parent, { path: parent, type: 'dir', size: 0, sha256: null, executable: true });
    }
  }
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      const rel = relative(root, full);
      const stats = await lstat(full);
      const want = expected.get(rel);
      if (!want) throw extractError(label, `extraction produced an unexpected entry ${JSON.stringify(rel)}`);
      if (stats.isSymbolicLink()) throw extractError(label, `extraction produced a symlink at ${JSON.stringify(rel)}`);
      if (want.type === 'dir') {
        if (!stats.isDirectory()) throw extractError(label, `${JSON.stringify(rel)} is not a directory after extraction`);
        await chmod(full, DIR_MODE);
        seen.add(collisionKey(rel));
        await walk(full);
      } else {
        if (!stats.isFile() || stats.size !== want.size || stats.nlink !== 1) {
          throw extractError(label, `${JSON.stringify(rel)} is not the plain file the scan approved`);
        }
        await chmod(full, want.executable ? EXEC_MODE : FILE_MODE);
        seen.add(collisionKey(rel));
      }
    }
  };
  await walk(root);
  const missing = entries.find((e) => !seen.has(collisionKey(e.path)));
  if (missing) throw extractError(label, `entry ${JSON.stringify(missing.path)} did not extract`);
}

/** A fresh 0700 directory beside `target`, for staging. */
export async function stagingBeside(target: string): Promise<string> {
  return mkdtemp(join(dirname(target), '.ttma-staging-'));
}

/** Extracts into a staging directory beside `target`, then renames it into place. */
export async function extractInto(archive: ScannedArchive, target: string, label: string): Promise<void> {
  const staging = await stagingBeside(target);
  try {
    await chmod(staging, 0o700);
    await unpackScanned(archive, staging, label);
    await chmod(staging, DIR_MODE);
    await rename(staging, target);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
