/**
 * One byte range of a `Range` header (RFC 9110 section 14), for playing a
 * recording from the middle: an `<audio>` element seeks by asking for
 * `bytes=N-`. Only a single range is served; anything else (several ranges,
 * another unit, a malformed value) is ignored and the whole file is sent,
 * which the RFC allows a server to do. Values are bounded so a hostile
 * header cannot make a huge number.
 */

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/** A single range's shape: `a-b`, `a-` or `-n`, at most 15 digits a side. */
const SINGLE_RANGE = /^bytes=(\d{0,15})-(\d{0,15})$/;

/**
 * The range to serve of a `size`-byte body: a ByteRange, 'unsatisfiable'
 * (answer 416), or null (no usable range: answer 200 with everything).
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first === '') {
    // A suffix: the last n bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

/** `bytes a-b/total`: the Content-Range of a 206. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/**
 * The caller's range to pass on to another server, rebuilt from its digits
 * (never the caller's text), or null when it is not a single byte range.
 */
export function forwardableRange(header: string | undefined): string | null {
  const match = SINGLE_RANGE.exec((header ?? '').trim());
  if (!match) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first !== '' && last !== '' && Number(last) < Number(first)) return null;
  return `bytes=${first === '' ? '' : Number(first)}-${last === '' ? '' : Number(last)}`;
}

/** The `start-end/total` of an upstream 206's Content-Range, or null when it is not one well-formed range. */
export function parseContentRange(header: string | undefined): { range: ByteRange; size: number } | null {
  const match = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(header ?? '');
  if (!match) return null;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const size = Number(match[3]);
  if (end < start || end >= size) return null;
  return { range: { start, end }, size };
}
