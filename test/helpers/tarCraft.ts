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
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(path: string, type: string, size: number, mode: number, linkpath: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = Buffer.from(path, 'utf8');
  if (name.length > 100) throw new Error(`path too long for a plain header: ${path}`);
  name.copy(h, 0);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(1000, 8), 108, 'ascii');
  h.write(octal(1000, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(1_700_000_000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  Buffer.from(linkpath, 'utf8').copy(h, 157);
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
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

export function craftTar(entries: CraftEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? '5' : '0');
    const body = Buffer.from(e.body ?? '');
    const mode = e.mode ?? (type === '5' ? 0o755 : 0o644);
    if (e.pax) {
      const pax = Buffer.from(paxRecord('path', e.path), 'utf8');
      parts.push(header('PaxHeader/x', 'x', pax.length, 0o644, ''), padded(pax));
      parts.push(header('placeholder', type, body.length, mode, e.linkpath ?? ''));
    } else {
      parts.push(header(e.path, type, type === '0' ? body.length : 0, mode, e.linkpath ?? ''));
    }
    if (type === '0' && body.length > 0) parts.push(padded(body));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

export function craftTarGz(entries: CraftEntry[]): Buffer {
  return gzipSync(craftTar(entries), { level: 9 });
}
