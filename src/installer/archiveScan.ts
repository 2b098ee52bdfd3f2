/**
 * Scans a tar.gz completely, in memory, before a single byte of it is
 * written (FAQ-15). The archive is refused whole when any entry is not a
 * plain file or directory (symlinks, hard links, devices, FIFOs), has an
 * absolute path, a ".." segment, a backslash, a drive letter, control or
 * invisible characters, collides with another entry after Unicode NFKC
 * normalization and case folding, or passes a depth, count, size or
 * decompression-ratio limit.
 *
 * Decompression is ours (zlib with maxOutputLength), so a gzip bomb stops at
 * the limit instead of filling memory; tarReader.ts then reads the plain tar
 * bytes once, refusing what two tar readers could read two ways (no end
 * marker, a bad checksum or size field, pax records another reader would
 * honour), and extractArchive.ts writes exactly the contents hashed here: no
 * second parse between the check and the write.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { ErrorCodes, TtmaError } from '../errors.js';
import { excerpt } from './fields.js';
import { readTar, TarFormatError, type TarEntry } from './tarReader.js';

export interface ArchiveLimits {
  maxEntries: number;
  maxDepth: number;
  maxFileBytes: number;
  /** Decompressed tar stream, headers included. */
  maxTarBytes: number;
  /** Decompressed bytes per compressed byte, above the floor. */
  maxRatio: number;
  /** Below this many decompressed bytes the ratio is not checked (tar padding alone compresses ~100:1). */
  ratioFloorBytes: number;
}

export const SKILL_LIMITS: ArchiveLimits = {
  maxEntries: 256,
  maxDepth: 8,
  maxFileBytes: 1024 * 1024,
  maxTarBytes: 8 * 1024 * 1024,
  maxRatio: 100,
  ratioFloorBytes: 1024 * 1024,
};

export const GATEWAY_LIMITS: ArchiveLimits = {
  maxEntries: 20_000,
  maxDepth: 16,
  maxFileBytes: 64 * 1024 * 1024,
  maxTarBytes: 256 * 1024 * 1024,
  maxRatio: 100,
  ratioFloorBytes: 1024 * 1024,
};

export interface ScannedEntry {
  /** Normalized: no leading "./", no trailing "/". */
  path: string;
  type: 'file' | 'dir';
  size: number;
  /** Hex SHA-256 of the content (files only). */
  sha256: string | null;
  /** Owner-executable bit of the archived mode. */
  executable: boolean;
}

export interface ScannedArchive {
  /** The decompressed tar stream. */
  tar: Buffer;
  entries: ScannedEntry[];
  /** Each file's content by its normalized path: views into `tar`, what the scan hashed and extraction writes. */
  bodies: ReadonlyMap<string, Buffer>;
  compressedBytes: number;
}

const PLAIN_TYPES = new Set(['File', 'OldFile', 'Directory']);
/** C0/C1 controls, format characters (bidi overrides, zero-width), line and paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const MAX_PATH_LENGTH = 255;
/** NAME_MAX of Linux file systems (ext4, xfs, btrfs, tmpfs): bytes in one path segment. */
const MAX_NAME_BYTES = 255;

function archiveError(label: string, what: string): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_ARCHIVE, `refused ${label}: ${what}; the whole archive was refused and nothing was written`, 2);
}

/** The folded key two names collide on: NFKC, then full case folding (ß and SS, K and the Kelvin sign). */
export function collisionKey(path: string): string {
  return path.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** What is wrong with an entry's path, or null; and the normalized path. */
export function pathProblem(raw: string, isDir: boolean, maxDepth: number): { problem: string } | { path: string } {
  if (raw.length === 0) return { problem: 'empty path' };
  if (raw.length > MAX_PATH_LENGTH) return { problem: `path longer than ${MAX_PATH_LENGTH} characters` };
  if (INVISIBLE.test(raw)) return { problem: 'control or invisible characters in the path' };
  if (raw.includes('\\')) return { problem: 'backslash in the path' };
  if (/^[A-Za-z]:/.test(raw)) return { problem: 'drive letter in the path' };
  if (raw.startsWith('/')) return { problem: 'absolute path' };
  let path = raw.startsWith('./') ? raw.slice(2) : raw;
  if (isDir && path.endsWith('/')) path = path.slice(0, -1);
  if (path === '' && isDir) return { path: '' };
  const segments = path.split('/');
  if (segments.includes('..')) return { problem: '".." in the path' };
  if (segments.some((s) => s === '' || s === '.')) return { problem: 'empty or "." segment in the path' };
  if (segments.length > maxDepth) return { problem: `deeper than ${maxDepth} levels` };
  // Linux refuses a longer name (ENAMETOOLONG) at open(2): the scan would pass what extraction cannot write.
  if (segments.some((s) => Buffer.byteLength(s) > MAX_NAME_BYTES)) return { problem: `a path segment longer than ${MAX_NAME_BYTES} bytes` };
  return { path };
}

function startsWith(buf: Buffer, magic: number[]): boolean {
  return magic.every((b, i) => buf[i] === b);
}

function gunzipBounded(gz: Buffer, limits: ArchiveLimits, label: string): Buffer {
  if (!startsWith(gz, GZIP_MAGIC)) throw archiveError(label, 'not a gzip file');
  const ratioCap = Math.max(limits.ratioFloorBytes, gz.length * limits.maxRatio);
  const cap = Math.min(limits.maxTarBytes, ratioCap);
  try {
    return gunzipSync(gz, { maxOutputLength: cap });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw archiveError(
        label,
        cap === ratioCap
          ? `decompresses beyond ${limits.maxRatio}:1 (${gz.length} compressed bytes would pass ${cap} bytes): a gzip bomb`
          : `decompresses beyond ${limits.maxTarBytes} bytes`,
      );
    }
    throw archiveError(label, `gzip data is corrupt (${(cause as Error).message})`);
  }
}

/** Scans the whole archive; throws TTMA_ERR_INSTALL_ARCHIVE naming the first bad entry. */
export async function scanArchive(gz: Buffer, limits: ArchiveLimits, label: string): Promise<ScannedArchive> {
  const tar = gunzipBounded(gz, limits, label);
  if (startsWith(tar, GZIP_MAGIC) || startsWith(tar, ZSTD_MAGIC)) throw archiveError(label, 'compressed twice (nested compression is refused)');
  const entries: ScannedEntry[] = [];
  const byKey = new Map<string, ScannedEntry>();
  const bodies = new Map<string, Buffer>();
  let problem: string | null = null;
  let count = 0;

  const refuse = (entry: TarEntry, what: string): void => {
    problem ??= `entry ${excerpt(entry.path)}: ${what}`;
  };

  let parsed: TarEntry[];
  try {
    parsed = readTar(tar);
  } catch (err) {
    if (err instanceof TarFormatError) throw archiveError(label, `not a valid tar archive (${err.message})`);
    throw err;
  }
  for (const entry of parsed) {
    count += 1;
    if (problem) break;
    if (count > limits.maxEntries) {
      problem = `more than ${limits.maxEntries} entries`;
      break;
    }
    if (!PLAIN_TYPES.has(entry.type)) {
      refuse(entry, `a ${entry.type} entry, not a plain file or directory${entry.linkpath ? ` (points at ${excerpt(entry.linkpath)})` : ''}`);
      continue;
    }
    // A link target on a file or directory means nothing to us, but a reader that honours it writes a link (pax linkpath, GNU 'K').
    if (entry.linkpath !== '') {
      refuse(entry, `a ${entry.type} entry with a link target ${excerpt(entry.linkpath)} (a pax linkpath or long link name on a plain entry)`);
      continue;
    }
    const isDir = entry.type === 'Directory';
    const mode = entry.mode;
    if ((mode & 0o7000) !== 0) {
      refuse(entry, 'setuid, setgid or sticky mode bits');
      continue;
    }
    const checked = pathProblem(entry.path, isDir, limits.maxDepth);
    if ('problem' in checked) {
      refuse(entry, checked.problem);
      continue;
    }
    if (checked.path === '') continue; // "./" itself
    const size = entry.size;
    if (!isDir && size > limits.maxFileBytes) {
      refuse(entry, `file larger than ${limits.maxFileBytes} bytes`);
      continue;
    }
    const scanned: ScannedEntry = {
      path: checked.path,
      type: isDir ? 'dir' : 'file',
      size: isDir ? 0 : size,
      sha256: isDir ? null : createHash('sha256').update(entry.body).digest('hex'),
      executable: (mode & 0o100) !== 0,
    };
    const key = collisionKey(checked.path);
    const earlier = byKey.get(key);
    if (earlier) {
      refuse(entry, earlier.path === checked.path ? 'appears twice' : `collides with ${excerpt(earlier.path)} after Unicode normalization and case folding`);
      continue;
    }
    byKey.set(key, scanned);
    entries.push(scanned);
    if (!isDir) bodies.set(checked.path, entry.body);
  }
  if (problem) throw archiveError(label, problem);
  if (entries.length === 0) throw archiveError(label, 'the archive is empty');
  // A file may not also be a directory on another entry's path (a/b as a file and a/b/c).
  const files = new Set(entries.filter((e) => e.type === 'file').map((e) => collisionKey(e.path)));
  for (const entry of entries) {
    const segments = entry.path.split('/');
    for (let i = 1; i < segments.length; i++) {
      if (files.has(collisionKey(segments.slice(0, i).join('/')))) {
        throw archiveError(label, `entry ${excerpt(entry.path)}: a parent of it is a file`);
      }
    }
  }
  return { tar, entries, bodies, compressedBytes: gz.length };
}
