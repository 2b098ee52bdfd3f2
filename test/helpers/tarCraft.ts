/**
 * Hand-made tar archives for the installer's attack tests: ustar headers
 * written byte by byte, so an entry can be anything the format allows
 * (symlinks, hard links, devices, absolute or ".." paths, setuid modes),
 * including what the `tar` package refuses to produce.
 */
import { gzipSync } from 'node:zlib';

export interface CraftEntry {
  path: string;
  /** ustar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory, '6' FIFO. */
  type?: string;
  body?: Buffer | string;
  linkpath?: string;
  mode?: number;
  /** Put the path in a pax extended header (for long or non-ASCII names). */
  pax?: boolean;
  /** More pax records for this entry, in its own extended header (with `pax`, after the path). */
  paxRecords?: Record<string, string>;
  /** The extended header's body as given, records or not. */
  rawPax?: string;
  /** The header's own name field when the path is in a pax or GNU long name header (default "placeholder"). */
  headerName?: Buffer;
  /** Make that extended header a global one ('g'), for every entry after it. */
  paxGlobal?: boolean;
  /** A GNU long link name ('K' entry) before this entry. */
  gnuLongLink?: string;
  /** Put the path in a GNU long name ('L' entry) before this entry. */
  gnuLongName?: boolean;
  /** The header's size field, as given (12 bytes), instead of the octal length. */
  sizeField?: Buffer | string;
  /** Store a checksum one off the right one. */
  badChecksum?: boolean;
  /** The ustar prefix field (the header's name field keeps `path`). */
  prefix?: string;
  /** The two version bytes after the "ustar\0" magic (default "00"). */
  version?: string;
  /** Write the body and its size whatever the type (a directory carrying data). */
  withData?: boolean;
}

export interface CraftOptions {
  /** The end-of-archive marker: two zero blocks (the default), one, or none. */
  end?: 2 | 1 | 0;
  /** Bytes after the end marker. */
  after?: Buffer;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

interface HeaderTweaks {
  sizeField?: Buffer | string;
  badChecksum?: boolean;
  prefix?: string;
  version?: string;
}

function header(path: string | Buffer, type: string, size: number, mode: number, linkpath: string, tweaks: HeaderTweaks = {}): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = Buffer.from(path);
  if (name.length > 100) throw new Error(`path too long for a plain header: ${path}`);
  name.copy(h, 0);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(1000, 8), 108, 'ascii');
  h.write(octal(1000, 8), 116, 'ascii');
  if (tweaks.sizeField === undefined) h.write(octal(size, 12), 124, 'ascii');
  else Buffer.from(tweaks.sizeField).copy(h, 124, 0, 12);
  h.write(octal(1_700_000_000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  Buffer.from(linkpath, 'utf8').copy(h, 157);
  h.write('ustar\0', 257, 'ascii');
  h.write(tweaks.version ?? '00', 263, 'latin1');
  if (tweaks.prefix !== undefined) Buffer.from(tweaks.prefix, 'utf8').copy(h, 345, 0, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  if (tweaks.badChecksum) sum += 1;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function padded(body: Buffer): Buffer {
  const rest = body.length % BLOCK;
  return rest === 0 ? body : Buffer.concat([body, Buffer.alloc(BLOCK - rest)]);
}

function paxRecord(key: string, value: string): string {
  const text = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(text) + 1;
  while (String(length).length + Buffer.byteLength(text) !== length) length += 1;
  return `${length}${text}`;
}

export function craftTar(entries: CraftEntry[], options: CraftOptions = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? '5' : '0');
    const body = Buffer.from(e.body ?? '');
    const mode = e.mode ?? (type === '5' ? 0o755 : 0o644);
    const hasData = type === '0' || e.withData === true;
    const tweaks = { sizeField: e.sizeField, badChecksum: e.badChecksum, prefix: e.prefix, version: e.version };
    if (e.gnuLongLink !== undefined) {
      const name = Buffer.from(`${e.gnuLongLink}\0`, 'utf8');
      parts.push(header('././@LongLink', 'K', name.length, 0o644, ''), padded(name));
    }
    if (e.gnuLongName) {
      const name = Buffer.from(`${e.path}\0`, 'utf8');
      parts.push(header('././@LongLink', 'L', name.length, 0o644, ''), padded(name));
    }
    const records = [...(e.pax ? [paxRecord('path', e.path)] : []), ...Object.entries(e.paxRecords ?? {}).map(([k, v]) => paxRecord(k, v))];
    if (records.length > 0 || e.rawPax !== undefined) {
      const pax = Buffer.from(e.rawPax ?? records.join(''), 'utf8');
      parts.push(header('PaxHeader/x', e.paxGlobal ? 'g' : 'x', pax.length, 0o644, ''), padded(pax));
    }
    parts.push(header(e.pax || e.gnuLongName ? e.headerName ?? 'placeholder' : e.path, type, hasData ? body.length : 0, mode, e.linkpath ?? '', tweaks));
    if (hasData && body.length > 0) parts.push(padded(body));
  }
  const end = options.end ?? 2;
  parts.push(Buffer.alloc(end * BLOCK), options.after ?? Buffer.alloc(0));
  return Buffer.concat(parts);
}

/** Writes `value` over a header field (the rest of `width` zeroed) and stores the header's right checksum again. */
export function setField(tar: Buffer, headerAt: number, offset: number, width: number, value: Buffer | string): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value); // a copy: `value` may be a view of the field
  tar.fill(0, headerAt + offset, headerAt + offset + width);
  bytes.copy(tar, headerAt + offset, 0, width);
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += tar[headerAt + i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, headerAt + 148, 'latin1');
}

export function craftTarGz(entries: CraftEntry[], options: CraftOptions = {}): Buffer {
  return gzipSync(craftTar(entries, options), { level: 9 });
}
