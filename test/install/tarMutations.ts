/**
 * Seeded hostile tar archives for the fuzz loop (tarFuzz.test.ts): a
 * generated archive (duplicate and look-alike names, trailing "/" and "./"
 * variants, ".." hidden in a pax path, GNU long name or ustar prefix over a
 * benign header name, links in every encoding, bad pax lengths), then
 * byte-level mutations of its headers (bit flips, truncations, size and
 * checksum encodings), the checksum mostly fixed up so the mutation reaches
 * the parser behind it. One seed, one case: a failure replays from its seed.
 */
import { craftTar, setField, type CraftEntry } from '../helpers/tarCraft.js';
import { prng } from '../helpers/prng.js';

const BLOCK = 512;

/** Where an absolute path in a generated name points: the test checks nothing appears there. */
export const ABSOLUTE_SENTINEL = `/tmp/ttma-tarfuzz-abs-${process.pid}`;

const FRAGMENTS = [
  'a', 'A', 'b', 'SKILL.md', 'dir', 'x.md',
  'Caf\u00e9.md', 'Cafe\u0301.md', // NFC and NFD
  '\ufb01le', 'file', // a ligature NFKC folds
  '\u212a', 'k', 'K', // Kelvin sign
  'stra\u00dfe', 'STRASSE', '\uff21', // full case folding, fullwidth A
  '..', '.', '', 'C:x', 'a\\b', 'bad\u202etxt', 'nul\u0000x', 'line\nx',
  '\u00e9'.repeat(128), 'y'.repeat(120),
  ABSOLUTE_SENTINEL.slice(1),
];
const TYPES = ['0', '0', '0', '0', '5', '5', '\0', '7', '1', '2', '3', '6', 'S', 'D'];
const LINKS = ['SKILL.md', 'a', '../../etc/passwd', '/etc/passwd', `${ABSOLUTE_SENTINEL}/x`];

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

function paxRecord(key: string, value: string, delta = 0): string {
  const text = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(text) + 1;
  while (String(length).length + Buffer.byteLength(text) !== length) length += 1;
  return `${length + delta}${text}`;
}

/** A pax body that is wrong in one of the ways a reader could read two ways. */
function badPax(r: Rand, path: string): string {
  const ok = paxRecord('path', path);
  switch (int(r, 7)) {
    case 0: return paxRecord('path', path, pick(r, [-1, 1, -5, 7]));
    case 1: return `0 path=${path}\n`;
    case 2: return `99999999 path=${path}\n`;
    case 3: return ok.slice(0, -1); // no newline
    case 4: return `${ok}\0`; // a NUL after the records
    case 5: return `${ok}${ok}`; // the same keyword twice
    default: return `0${ok}`; // a leading zero in the length
  }
}

function randomPath(r: Rand, earlier: readonly string[]): string {
  if (earlier.length > 0 && r() < 0.3) {
    const prior = pick(r, earlier);
    // The same entry again, as itself, with a trailing "/", with "./", or as a parent.
    return pick(r, [prior, `${prior}/`, `./${prior}`, `${prior}/${pick(r, FRAGMENTS)}`, prior.replace(/\/$/, '')]);
  }
  const parts = Array.from({ length: 1 + int(r, 3) }, () => pick(r, FRAGMENTS));
  let path = parts.join('/');
  if (r() < 0.1) path = `/${path}`;
  if (r() < 0.15) path = `./${path}`;
  if (r() < 0.15) path = `${path}/`;
  return path === '' ? 'x.md' : path;
}

function randomBody(r: Rand): Buffer {
  const size = pick(r, [0, 1, 100, 511, 512, 513, 1024]);
  return Buffer.from(Array.from({ length: size }, () => int(r, 256)));
}

/** One generated entry, its path carried by a plain header, a pax path, a GNU long name or a ustar prefix. */
function randomEntry(r: Rand, earlier: string[]): CraftEntry {
  const path = randomPath(r, earlier);
  earlier.push(path);
  const entry: CraftEntry = { path, type: pick(r, TYPES), body: randomBody(r), mode: pick(r, [0o644, 0o755, 0o644, 0o4755, 0o1777]) };
  if (entry.type !== '0' && r() < 0.2) entry.withData = true;
  const bytes = Buffer.byteLength(path);
  const slash = path.lastIndexOf('/', path.length - 2);
  const encoding = pick(r, ['plain', 'pax', 'gnu', 'prefix']);
  if (encoding === 'prefix' && slash > 0 && slash <= 155 && bytes - slash - 1 <= 100) {
    entry.path = path.slice(slash + 1);
    entry.prefix = path.slice(0, slash);
    if (r() < 0.3) entry.version = pick(r, ['\0\0', '  ', '01']);
  } else if (encoding === 'gnu') {
    entry.gnuLongName = true;
  } else if (encoding === 'pax' || bytes > 100 || encoding === 'prefix') {
    entry.pax = true;
  }
  // A benign name in the header under the pax path or GNU long name that overrides it.
  if ((entry.pax || entry.gnuLongName) && r() < 0.5) entry.headerName = Buffer.from(pick(r, ['ok.md', 'SKILL.md', 'a', '../up.md']));
  if (r() < 0.2) {
    const link = pick(r, LINKS);
    const how = int(r, 3);
    if (how === 0) entry.linkpath = link;
    else if (how === 1) entry.paxRecords = { linkpath: link };
    else entry.gnuLongLink = link;
  }
  if (r() < 0.15) {
    entry.paxRecords = { ...entry.paxRecords, ...pick<Record<string, string>>(r, [{ mtime: '1700000000.5' }, { size: String(int(r, 2048)) }, { 'GNU.sparse.size': '1' }, { hdrcharset: 'BINARY' }, { path: pick(r, ['ok.md', '../evil.md', 'a/../../x']) }]) };
  }
  if (r() < 0.08) entry.rawPax = badPax(r, path);
  if (r() < 0.05) entry.paxGlobal = true;
  return entry;
}

/** Header offsets of a tar, read leniently (a mutation target, not a parse anyone trusts). */
function headerOffsets(tar: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    offsets.push(at);
    const field = header.subarray(124, 136);
    const size = field[0] === 0x80 ? field.subarray(1).reduce((v, b) => v * 256 + b, 0) : parseInt(field.toString('latin1'), 8) || 0;
    at += BLOCK + Math.ceil(Math.min(size, tar.length) / BLOCK) * BLOCK;
  }
  return offsets;
}

function unsignedSum(tar: Buffer, h: number): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += tar[h + i]!;
  return sum;
}

/** The header's checksum made right again: its own typeflag rewritten through setField. */
function fixChecksum(tar: Buffer, h: number): void {
  setField(tar, h, 156, 1, tar.subarray(h + 156, h + 157));
}

function sizeField(r: Rand, size: number): Buffer {
  const field = Buffer.alloc(12);
  const value = pick(r, [0, 1, size - 1, size + 1, size + 512, 2 ** 33, 8 ** 11 - 1, Number.MAX_SAFE_INTEGER]);
  switch (int(r, 8)) {
    case 0: field.write(`${Math.max(0, value).toString(8).padStart(11, '0').slice(-11)}\0`, 'latin1'); break;
    case 1: { // positive base-256
      field[0] = 0x80;
      let v = BigInt(Math.max(0, value));
      for (let i = 11; i >= 1; i--) { field[i] = Number(v & 0xffn); v >>= 8n; }
      break;
    }
    case 2: field.fill(0xff); break; // negative base-256 (-1)
    case 3: field[0] = 0x80; field.fill(0xff, 1); break; // base-256 beyond 2^53
    case 4: field.write('           \0', 'latin1'); break; // blanks
    case 5: field.write(size.toString(8).padStart(12, '0').slice(-12), 'latin1'); break; // no terminator
    case 6: field.write(`${'9'.repeat(11)}\0`, 'latin1'); break;
    default: field.write(`  ${size.toString(8)} \0`.padEnd(12, ' ').slice(0, 12), 'latin1'); // leading spaces
  }
  return field;
}

/** One byte-level mutation of `tar` (returned anew), and what it did. */
function mutate(r: Rand, tar: Buffer): [Buffer, string] {
  if (tar.length < BLOCK) return [tar, 'nothing left to mutate'];
  const heads = headerOffsets(tar);
  const out = Buffer.from(tar);
  const h = heads.length > 0 ? pick(r, heads) : 0;
  const fix = r() < 0.85;
  const done = (what: string): [Buffer, string] => {
    if (fix && h + BLOCK <= out.length && !/checksum|truncate|insert|end/.test(what)) fixChecksum(out, h);
    return [out, `${what}${fix ? '' : ' (checksum left)'}`];
  };
  switch (int(r, 9)) {
    case 0: {
      const at = h + int(r, BLOCK);
      out[at] = r() < 0.5 ? out[at]! ^ (1 << int(r, 8)) : int(r, 256);
      return done(`byte ${at} set to ${out[at]}`);
    }
    case 1: {
      const at = r() < 0.5 ? int(r, tar.length / BLOCK + 1) * BLOCK : h + int(r, BLOCK);
      return [Buffer.from(tar.subarray(0, at)), `truncate at ${at}`];
    }
    case 2: {
      const size = parseInt(tar.toString('latin1', h + 124, h + 136), 8) || 0;
      sizeField(r, size).copy(out, h + 124);
      return done(`size field of header ${h} set to ${JSON.stringify(out.toString('latin1', h + 124, h + 136))}`);
    }
    case 3: {
      let signed = 8 * 0x20;
      for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) signed += (out[h + i]! << 24) >> 24;
      const unsigned = unsignedSum(out, h);
      const base256 = `\x80\0\0\0${String.fromCharCode(...[24, 16, 8, 0].map((s) => (unsigned >>> s) & 0xff))}`;
      const form = pick(r, [base256, `${signed.toString(8).padStart(6, '0')}\0 `, `${(unsigned + pick(r, [-1, 1, 256])).toString(8).padStart(6, '0')}\0 `, `${unsigned.toString(8).padStart(7, '0')}\0`, ` ${unsigned.toString(8)}\0`.padEnd(8, ' '), `${unsigned.toString(8).padStart(8, '0')}`]);
      out.write(form, h + 148, 'latin1');
      return [out, `checksum of header ${h} written ${JSON.stringify(form)} (signed ${signed}, unsigned ${unsigned})`];
    }
    case 4: {
      const flag = pick(r, ['0', '1', '2', '3', '5', '6', '7', '\0', 'x', 'g', 'L', 'K', 'S', 'D', 'V', 'M', 'N', String.fromCharCode(int(r, 256))]);
      out.write(flag, h + 156, 'latin1');
      return done(`typeflag of header ${h} set to ${JSON.stringify(flag)}`);
    }
    case 5: {
      const [offset, width, label] = pick(r, [[0, 100, 'name'], [157, 100, 'linkname'], [345, 155, 'prefix'], [263, 2, 'version'], [257, 6, 'magic'], [100, 8, 'mode']] as const);
      const value = Buffer.from(pick(r, ['../evil.md', 'SKILL.md', 'a/', './a', '..', 'ustar\0', 'ustar ', '\0\0', '00', 'x'.repeat(width), '0004755\0', 'caf\u00e9.md']), 'utf8');
      out.fill(0, h + offset, h + offset + width);
      value.copy(out, h + offset, 0, width);
      return done(`${label} of header ${h} set to ${JSON.stringify(value.toString('utf8'))}`);
    }
    case 6: {
      // Copy an entry (header to the next header) to before another header or the end marker.
      const i = heads.indexOf(h);
      const end = heads[i + 1] ?? tar.length - 2 * BLOCK;
      const where = pick(r, [...heads, Math.max(0, tar.length - 2 * BLOCK)]);
      return [Buffer.concat([tar.subarray(0, where), tar.subarray(h, Math.max(h, end)), tar.subarray(where)]), `entry at ${h} inserted again at ${where}`];
    }
    case 7: {
      const form = int(r, 4);
      if (form === 0) return [Buffer.from(tar.subarray(0, Math.max(0, tar.length - BLOCK))), 'end marker cut to one block'];
      if (form === 1) return [Buffer.concat([tar, Buffer.alloc(BLOCK * (1 + int(r, 4)))]), 'zero padding after the end'];
      if (form === 2) return [Buffer.concat([tar, Buffer.from('garbage')]), 'garbage after the end'];
      return [Buffer.concat([tar.subarray(0, Math.max(0, tar.length - 2 * BLOCK)), Buffer.alloc(BLOCK), craftTar([{ path: 'after-zero.md', type: '0', body: 'x' }])]), 'a lone zero block before another entry'];
    }
    default: {
      const at = h + int(r, BLOCK);
      out[at] = 0;
      return done(`byte ${at} zeroed`);
    }
  }
}

export interface FuzzCase {
  tar: Buffer;
  /** What was generated and done, for the failure message. */
  story: string[];
}

/** The seed's case: a benign base (given) or a generated archive, then 0-3 mutations. */
export function fuzzCase(seed: number, bases: readonly Buffer[]): FuzzCase {
  const r = prng(seed);
  const story: string[] = [];
  let tar: Buffer;
  if (r() < 0.4) {
    tar = pick(r, bases);
    story.push(`base archive ${bases.indexOf(tar)}`);
  } else {
    const earlier: string[] = [];
    const entries = [{ path: 'SKILL.md', type: '0', body: 'skill' } as CraftEntry, ...Array.from({ length: 1 + int(r, 5) }, () => randomEntry(r, earlier))];
    try {
      tar = craftTar(entries);
    } catch {
      tar = craftTar(entries.map((e) => ({ ...e, pax: true })));
    }
    story.push(`generated ${JSON.stringify(entries.map((e) => ({ ...e, body: Buffer.from(e.body ?? '').length })))}`);
  }
  const count = story[0]!.startsWith('base') ? 1 + int(r, 3) : int(r, 3);
  for (let i = 0; i < count; i++) {
    const [next, what] = mutate(r, tar);
    tar = next;
    story.push(what);
  }
  return { tar, story };
}
