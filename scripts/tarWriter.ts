/**
 * A deterministic ustar archive of plain files, in the order given: no
 * directory entries (extraction creates them), owner 0:0 with no names, one
 * fixed mtime, mode 0644 or 0755. So the same files always give the same
 * bytes, and no entry is ever a link: node-tar's own packer turns a file
 * whose inode it has seen before into a hard-link entry, which the installer
 * refuses (and `npm ci` / `cp -al` trees are full of shared inodes).
 *
 * Header layout: POSIX.1-1988 ustar, as in
 * https://www.gnu.org/software/tar/manual/html_node/Standard.html
 */

const BLOCK = 512;
const NAME_MAX = 100;
const PREFIX_MAX = 155;

export interface TarFile {
  /** Relative, "/"-separated, no "." or ".." segments. */
  path: string;
  content: Buffer;
  executable: boolean;
}

/** `value` as a NUL-terminated octal field of `width` bytes. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new Error(`tar: ${value} does not fit an octal field of ${width} bytes`);
  return `${digits.padStart(width - 1, '0')}\0`;
}

/** Splits a path into ustar's prefix and name fields. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= NAME_MAX) return { prefix: '', name: path };
  // The name is what follows some "/", at most 100 bytes; the prefix at most 155.
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= PREFIX_MAX && Buffer.byteLength(name) <= NAME_MAX && name !== '') return { prefix, name };
  }
  throw new Error(`tar: the path ${JSON.stringify(path)} does not fit a ustar header`);
}

function header(file: TarFile, mtimeSeconds: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const { prefix, name } = splitPath(file.path);
  const put = (offset: number, text: string) => h.write(text, offset, 'utf8');
  put(0, name);
  put(100, octal(file.executable ? 0o755 : 0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(file.content.length, 12));
  put(136, octal(mtimeSeconds, 12));
  put(148, '        '); // the checksum is computed with its own field as spaces
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  put(345, prefix);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** The uncompressed tar stream: each file's header and padded content, then two zero blocks. */
export function tarFiles(files: readonly TarFile[], mtime: Date): Buffer {
  const seconds = Math.floor(mtime.getTime() / 1000);
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(header(file, seconds), file.content);
    const pad = (BLOCK - (file.content.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}
