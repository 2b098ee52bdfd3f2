/**
 * The installer's one tar reader: the scan (archiveScan.ts), the manifest
 * reads (readEntry.ts) and the extraction (extractArchive.ts) all use the
 * entries it returns, so what is written is exactly what was checked; no
 * second parser can read a header differently from the scan.
 *
 * Strict, failing closed on anything two readers could read two ways:
 * a header checksum that does not match, a numeric field that is neither
 * octal nor positive base-256, a malformed or duplicated pax record, a
 * record that changes what another reader would write (GNU.sparse.*,
 * hdrcharset) or a global one that names a path or size, a non-file entry
 * carrying data, a path that is not UTF-8, a ustar prefix under a version
 * other than "00", a GNU long name with no NUL within its size, a uid, gid
 * or mtime that is not a number, a checksum in base-256, a GNU sparse
 * entry, an entry or the archive cut short, no end-of-archive marker, or
 * anything but zeros after it.
 * test/install/tarFormats.test.ts compares it with GNU tar; tarFuzz.test.ts
 * fuzzes it.
 *
 * Formats: POSIX.1-2024 pax, "ustar Interchange Format" (header layout,
 * checksum, octal fields, the end marker of two zero blocks) and "pax
 * Interchange Format" (extended header records "%d %s=%s\n"),
 * https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html ;
 * GNU long names ('L'/'K') and base-256 sizes as GNU tar writes them,
 * https://www.gnu.org/software/tar/manual/html_node/Standard.html
 */

const BLOCK = 512;
/** Larger pax or long-name bodies are refused: no real path needs them. */
const MAX_META_BYTES = 64 * 1024;

export interface TarEntry {
  /** As archived: pax path, else GNU long name, else ustar prefix "/" name. */
  path: string;
  /** The typeflag by node-tar's names (File, Directory, SymbolicLink, ...), so messages read as before. */
  type: string;
  /** Permission bits (07777). */
  mode: number;
  size: number;
  /** Pax linkpath, else GNU long link name, else the header's linkname; '' when none. */
  linkpath: string;
  /** The content: a view into the tar bytes, never a copy. */
  body: Buffer;
}

/** A framing problem; archiveScan.ts turns it into TTMA_ERR_INSTALL_ARCHIVE. */
export class TarFormatError extends Error {}

const TYPES: Record<string, string> = {
  '0': 'File', '\0': 'OldFile', '1': 'Link', '2': 'SymbolicLink', '3': 'CharacterDevice', '4': 'BlockDevice',
  '5': 'Directory', '6': 'FIFO', '7': 'ContiguousFile', D: 'GNUDumpDir', S: 'SparseFile', V: 'TapeVolumeHeader',
  M: 'ContinuationFile', N: 'OldGnuLongPath', A: 'SolarisACL', I: 'Inode', X: 'OldExtendedHeader',
};
const REGULAR = new Set(['0', '\0', '7']);
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function fail(at: number, what: string): never {
  throw new TarFormatError(`${what} (header at byte ${at})`);
}

function isZero(buf: Buffer): boolean {
  for (const byte of buf) if (byte !== 0) return false;
  return true;
}

/** A NUL-terminated text field, which must be UTF-8 (ustar: the name is "a null-terminated character string" unless full). */
function text(header: Buffer, offset: number, width: number, at: number, field: string): string {
  const raw = header.subarray(offset, offset + width);
  const end = raw.indexOf(0);
  try {
    return UTF8.decode(end < 0 ? raw : raw.subarray(0, end));
  } catch {
    return fail(at, `the ${field} field is not UTF-8`);
  }
}

/**
 * A numeric field: octal digits, optionally led by spaces and ended by
 * spaces or NULs (ustar), or positive base-256 (first byte 0x80, GNU, for
 * sizes of 8 GiB and more). Anything else is refused, not read up to the
 * first odd byte as parseInt would.
 */
function number(header: Buffer, offset: number, width: number, at: number, field: string): number {
  const raw = header.subarray(offset, offset + width);
  if (raw[0] === 0x80) {
    let value = 0;
    for (const byte of raw.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) fail(at, `the ${field} field is too large`);
    return value;
  }
  const field8 = raw.toString('latin1');
  const match = /^ *([0-7]+)[ \0]*$/.exec(field8);
  if (!match) fail(at, `the ${field} field is not an octal number (${JSON.stringify(field8)})`);
  return parseInt(match[1]!, 8);
}

/**
 * The ustar prefix of a header whose magic is "ustar\0" and whose prefix is
 * not empty (old GNU headers, magic "ustar  \0", keep times there instead).
 * GNU tar 1.34 joins it on the magic alone, whatever the version; node-tar
 * (header.js) only under version "00" (POSIX ustar). Under any other
 * version the readers write different paths, so it is refused.
 */
function ustarPrefix(header: Buffer, at: number): string {
  const version = header.toString('latin1', 263, 265);
  if (version !== '00') fail(at, `a ustar prefix field under version ${JSON.stringify(version)}, not "00" (GNU tar joins it to the name, other readers do not)`);
  return text(header, 345, 155, at, 'prefix');
}

/**
 * uid, gid and mtime are not used here, but GNU tar refuses an archive whose
 * fields are not numbers where node-tar's parseInt reads a prefix of them:
 * checked like the others. All NULs is allowed (node-tar's portable mode
 * leaves uid and gid empty, and GNU tar reads that as 0).
 */
function checkOwnerAndTime(header: Buffer, at: number): void {
  for (const [offset, width, field] of [[108, 8, 'uid'], [116, 8, 'gid'], [136, 12, 'mtime']] as const) {
    if (!isZero(header.subarray(offset, offset + width))) number(header, offset, width, at, field);
  }
}

/** ustar: the checksum is the unsigned byte sum of the header with its own field taken as eight spaces, in octal. */
function checkChecksum(header: Buffer, at: number): void {
  // GNU tar takes no base-256 checksum ("does not look like a tar archive"); node-tar does.
  if ((header[148]! & 0x80) !== 0) fail(at, 'a base-256 header checksum, which GNU tar does not read');
  const stored = number(header, 148, 8, at, 'checksum');
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += header[i]!;
  if (sum !== stored) fail(at, `header checksum mismatch (stored ${stored}, computed ${sum})`);
}

/** pax: records "%d %s=%s\n", the length counting the whole record in bytes; every byte of the body in some record. */
function paxRecords(body: Buffer, at: number): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const digits = space < 0 ? '' : body.toString('latin1', pos, space);
    if (!/^[1-9][0-9]{0,5}$/.test(digits)) fail(at, 'a malformed pax record length');
    const end = pos + Number(digits);
    if (end > body.length || body[end - 1] !== 0x0a) fail(at, 'a pax record whose length does not match its text');
    let record: string;
    try {
      record = UTF8.decode(body.subarray(space + 1, end - 1));
    } catch {
      return fail(at, 'a pax record that is not UTF-8');
    }
    const eq = record.indexOf('=');
    if (eq <= 0) fail(at, 'a pax record without "keyword="');
    const key = record.slice(0, eq);
    if (records.has(key)) fail(at, `the pax record ${JSON.stringify(key)} twice in one header`);
    records.set(key, record.slice(eq + 1));
    pos = end;
  }
  for (const key of records.keys()) {
    // Other readers write something else than the stored bytes (sparse maps) or decode the path differently.
    if (key.startsWith('GNU.sparse.') || key === 'hdrcharset') fail(at, `the pax record ${JSON.stringify(key)}, which other tar readers honour and this one does not`);
  }
  const size = records.get('size');
  if (size !== undefined && !/^[0-9]{1,15}$/.test(size)) fail(at, `the pax size ${JSON.stringify(size)} is not a decimal number`);
  for (const key of ['path', 'linkpath']) if (records.get(key) === '') fail(at, `an empty pax ${key}`);
  return records;
}

interface Pending {
  pax?: Map<string, string>;
  longPath?: string;
  longLink?: string;
  at: number;
}

/** Every entry of a plain (decompressed) tar, in order; throws TarFormatError. */
export function readTar(tar: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let pending: Pending | null = null;
  let at = 0;
  for (;;) {
    if (at + BLOCK > tar.length) {
      if (pending) fail(pending.at, 'an extended header with no entry after it');
      throw new TarFormatError(`no end-of-archive marker (two zero blocks) after byte ${at}: the archive is truncated`);
    }
    const header = tar.subarray(at, at + BLOCK);
    if (isZero(header)) {
      if (pending) fail(pending.at, 'an extended header with no entry after it');
      if (at + 2 * BLOCK > tar.length) throw new TarFormatError(`only one zero block at byte ${at} where the end-of-archive marker needs two: the archive is truncated`);
      if (!isZero(tar.subarray(at + BLOCK, at + 2 * BLOCK))) fail(at, 'a lone zero block in the middle of the archive');
      // Writers pad to their record size with zeros; anything else is data a reader stopping here never sees.
      if (!isZero(tar.subarray(at + 2 * BLOCK))) throw new TarFormatError(`data after the end-of-archive marker at byte ${at}`);
      return entries;
    }
    checkChecksum(header, at);
    const flag = String.fromCharCode(header[156]!);
    const size = number(header, 124, 12, at, 'size');
    const bodyStart = at + BLOCK;
    const metaSize = (): number => {
      if (size > MAX_META_BYTES) fail(at, `an extended header larger than ${MAX_META_BYTES} bytes`);
      if (bodyStart + size > tar.length) fail(at, 'the archive ends inside an extended header');
      return size;
    };
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const body = tar.subarray(bodyStart, bodyStart + metaSize());
      pending ??= { at };
      if (flag === 'g') {
        const global = paxRecords(body, at);
        for (const key of ['path', 'linkpath', 'size']) if (global.has(key)) fail(at, `a global pax header setting ${key} for every entry`);
      } else if (flag === 'x') {
        if (pending.pax) fail(at, 'two pax headers for one entry');
        pending.pax = paxRecords(body, at);
      } else {
        const nul = body.indexOf(0);
        // GNU tar reads the name up to a NUL in the whole padded block(s), node-tar only within the size (GNU tar writes the NUL itself).
        if (nul < 0) fail(at, `a GNU long ${flag === 'L' ? 'name' : 'link name'} with no NUL within its ${size} bytes (GNU tar reads on into the padding, other readers stop at the size)`);
        const name = text(body, 0, nul, at, flag === 'L' ? 'GNU long name' : 'GNU long link name');
        if (name === '') fail(at, 'an empty GNU long name');
        if (flag === 'L') {
          if (pending.longPath !== undefined) fail(at, 'two GNU long names for one entry');
          pending.longPath = name;
        } else {
          if (pending.longLink !== undefined) fail(at, 'two GNU long link names for one entry');
          pending.longLink = name;
        }
      }
      at = bodyStart + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    const pax = pending?.pax;
    if (pax?.has('path') && pending?.longPath !== undefined) fail(at, 'both a pax path and a GNU long name');
    if (pax?.has('linkpath') && pending?.longLink !== undefined) fail(at, 'both a pax linkpath and a GNU long link name');
    // The header's own fields only when nothing overrides them: a writer may cut a name it also put in a pax record mid-character.
    const headerPath = (): string => {
      const name = text(header, 0, 100, at, 'name');
      return header[345] !== 0 && header.toString('latin1', 257, 263) === 'ustar\0' ? `${ustarPrefix(header, at)}/${name}` : name;
    };
    const path = pax?.get('path') ?? pending?.longPath ?? headerPath();
    const linkpath = pax?.get('linkpath') ?? pending?.longLink ?? text(header, 157, 100, at, 'linkname');
    const entrySize = pax?.has('size') ? Number(pax.get('size')) : size;
    // Old archivers marked a directory as a regular file with a trailing "/".
    const type = (flag === '0' || flag === '\0') && path.endsWith('/') ? 'Directory' : TYPES[flag] ?? 'Unsupported';
    // GNU tar --sparse: the stored bytes are not the file, and other readers expand them.
    if (flag === 'S') fail(at, "a GNU sparse file ('S'), whose stored bytes are not its content: pack without --sparse");
    if (entrySize > 0 && (!REGULAR.has(flag) || type === 'Directory')) fail(at, `a ${type} entry carrying ${entrySize} bytes of data`);
    if (bodyStart + entrySize > tar.length) fail(at, `the archive ends inside ${JSON.stringify(path)} (it needs ${entrySize} bytes)`);
    const padded = Math.ceil(entrySize / BLOCK) * BLOCK;
    if (bodyStart + padded > tar.length) fail(at, `the archive ends inside the padding of ${JSON.stringify(path)}`);
    if (path === '') fail(at, 'an entry without a path');
    const mode = number(header, 100, 8, at, 'mode') & 0o7777;
    checkOwnerAndTime(header, at);
    entries.push({ path, type, mode, size: entrySize, linkpath, body: tar.subarray(bodyStart, bodyStart + entrySize) });
    pending = null;
    at = bodyStart + padded;
  }
}
