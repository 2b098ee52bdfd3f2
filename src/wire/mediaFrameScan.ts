/**
 * A fast path for the one frame that arrives 50 times a second per call: the
 * provider's `media` frame. It reads the frame's bytes in place, without
 * decoding them to a string or building objects, and decodes the base64
 * payload straight into the caller's memory (DESIGN.md section 4: "decode
 * base64 into your own preallocated memory").
 *
 * It accepts a strict subset of JSON and says "not mine" for anything else,
 * so the caller falls back to TextDecoder + JSON.parse, which stays the one
 * authority on what a frame means. The subset: one object, optional
 * whitespace, keys and values that are strings of printable ASCII without
 * escapes, except `media`, whose value is one such object of strings. A
 * number, `null`, an escape, a byte outside printable ASCII, a duplicate key
 * that we read, or anything after the closing brace means "not mine". On the
 * frames it accepts, it reads exactly what JSON.parse would read (a fast-check
 * differential test holds it to that: test/wire/mediaFrameScan.test.ts).
 *
 * The payload, the frame's longest string, is not checked byte by byte as a
 * string: its end is the next quote (a native search), and decoding it as
 * padded standard base64, whose alphabet has no quote, backslash or byte
 * outside printable ASCII, is the check. A payload that does not decode
 * makes the whole frame "not mine", so the JSON reading of the rest stands.
 */

/** What a media frame holds; filled in place so the hot path allocates nothing. */
export interface MediaFrameScan {
  /** Offsets in the frame of the payload's base64 text (without the quotes). */
  payloadStart: number;
  payloadEnd: number;
  /** Bytes of payload decoded into the caller's buffer. */
  payloadBytes: number;
  /** `media.track`: absent, `inbound`, or something else. */
  track: 'absent' | 'inbound' | 'other';
  /** `media.chunk` as the slow path reads it: 1 to 15 decimal digits, else NaN (absent or unreadable). */
  chunk: number;
}

export function newMediaFrameScan(): MediaFrameScan {
  return { payloadStart: 0, payloadEnd: 0, payloadBytes: 0, track: 'absent', chunk: NaN };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;
const LAST_PRINTABLE = 0x7e;
const FIRST_PRINTABLE = 0x20;
/** readChunk in CallActor: longer digit strings are not safe integers. */
const MAX_CHUNK_DIGITS = 15;

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY_EVENT = ascii('event');
const KEY_MEDIA = ascii('media');
const KEY_TRACK = ascii('track');
const KEY_CHUNK = ascii('chunk');
const KEY_PAYLOAD = ascii('payload');
const VALUE_MEDIA = KEY_MEDIA;
const VALUE_INBOUND = ascii('inbound');

/** JSON's four whitespace bytes. */
function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    i++;
  }
  return i;
}

/** The closing quote of a string whose text starts at i, or -1 when it holds an escape or a byte outside printable ASCII. */
function plainStringEnd(b: Uint8Array, i: number): number {
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    // One unsigned compare for "below space or above tilde".
    if (c === BACKSLASH || ((c - FIRST_PRINTABLE) >>> 0) > LAST_PRINTABLE - FIRST_PRINTABLE) return -1;
  }
  return -1;
}

function bytesEqual(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[start + k] !== word[k]) return false;
  return true;
}

function readDigits(b: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > MAX_CHUNK_DIGITS) return NaN;
  let value = 0;
  for (let k = start; k < end; k++) {
    const c = b[k]!;
    if (c < ZERO || c > NINE) return NaN;
    value = value * 10 + (c - ZERO);
  }
  return value;
}

/**
 * Reads the `media` object whose opening brace is at i; returns the index
 * after its closing brace, or -1 ("not mine").
 */
function scanMediaObject(b: Uint8Array, i: number, out: MediaFrameScan, payloadOut: Uint8Array): number {
  let seenTrack = false;
  let seenChunk = false;
  let seenPayload = false;
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE) return -1; // no payload
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    const keyStart = i + 1;
    const keyEnd = plainStringEnd(b, keyStart);
    if (keyEnd < 0) return -1;
    i = skipSpace(b, keyEnd + 1);
    if (b[i] !== COLON) return -1;
    i = skipSpace(b, i + 1);
    if (b[i] !== QUOTE) return -1; // media's values are all strings
    const valueStart = i + 1;
    const isPayload = bytesEqual(b, keyStart, keyEnd, KEY_PAYLOAD);
    const valueEnd = isPayload ? b.indexOf(QUOTE, valueStart) : plainStringEnd(b, valueStart);
    if (valueEnd < 0) return -1;
    if (isPayload) {
      if (seenPayload) return -1;
      seenPayload = true;
      out.payloadStart = valueStart;
      out.payloadEnd = valueEnd;
      out.payloadBytes = decodeBase64Into(b, valueStart, valueEnd, payloadOut);
      if (out.payloadBytes < 0) return -1;
    } else if (bytesEqual(b, keyStart, keyEnd, KEY_TRACK)) {
      if (seenTrack) return -1;
      seenTrack = true;
      out.track = bytesEqual(b, valueStart, valueEnd, VALUE_INBOUND) ? 'inbound' : 'other';
    } else if (bytesEqual(b, keyStart, keyEnd, KEY_CHUNK)) {
      if (seenChunk) return -1;
      seenChunk = true;
      out.chunk = readDigits(b, valueStart, valueEnd);
    }
    i = skipSpace(b, valueEnd + 1);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE) return -1;
    if (!seenPayload) return -1;
    if (!seenTrack) out.track = 'absent';
    if (!seenChunk) out.chunk = NaN;
    return i + 1;
  }
}

/**
 * True when `b` is a media frame in the subset above, with `out` filled in and
 * its payload decoded into the first `out.payloadBytes` of `payloadOut`
 * (which may be partly written either way); false means "ask JSON.parse"
 * (another event, any form this does not read, or a payload that is not
 * padded standard base64 or does not fit).
 */
export function scanMediaFrame(b: Uint8Array, out: MediaFrameScan, payloadOut: Uint8Array): boolean {
  let seenEvent = false;
  let seenMedia = false;
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN) return false;
  i = skipSpace(b, i + 1);
  for (;;) {
    if (b[i] !== QUOTE) return false;
    const keyStart = i + 1;
    const keyEnd = plainStringEnd(b, keyStart);
    if (keyEnd < 0) return false;
    i = skipSpace(b, keyEnd + 1);
    if (b[i] !== COLON) return false;
    i = skipSpace(b, i + 1);
    if (bytesEqual(b, keyStart, keyEnd, KEY_MEDIA)) {
      if (seenMedia || b[i] !== OPEN) return false;
      seenMedia = true;
      i = scanMediaObject(b, i, out, payloadOut);
      if (i < 0) return false;
    } else {
      if (b[i] !== QUOTE) return false;
      const valueStart = i + 1;
      const valueEnd = plainStringEnd(b, valueStart);
      if (valueEnd < 0) return false;
      if (bytesEqual(b, keyStart, keyEnd, KEY_EVENT)) {
        // Only media frames are ours; every other event takes the slow path.
        if (seenEvent || !bytesEqual(b, valueStart, valueEnd, VALUE_MEDIA)) return false;
        seenEvent = true;
      }
      i = valueEnd + 1;
    }
    i = skipSpace(b, i);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE) return false;
    return seenEvent && seenMedia && skipSpace(b, i + 1) === b.length;
  }
}

/** Value of each base64 character (RFC 4648 section 4 alphabet), -1 for any other byte. */
const BASE64_VALUE = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let k = 0; k < alphabet.length; k++) table[alphabet.charCodeAt(k)] = k;
  return table;
})();
const PAD = 0x3d;

/**
 * Decodes padded base64 text b[start, end) into `out`; returns the bytes
 * written, or -1 when the text is not padded standard base64 or does not
 * fit (the caller then takes the slow path, whose decoder is more lenient).
 */
export function decodeBase64Into(b: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const length = end - start;
  if (length === 0 || length % 4 !== 0) return -1;
  let pads = 0;
  if (b[end - 1] === PAD) pads = b[end - 2] === PAD ? 2 : 1;
  const bytes = (length / 4) * 3 - pads;
  if (bytes > out.length) return -1;
  const fullEnd = end - (pads > 0 ? 4 : 0);
  let o = 0;
  let i = start;
  for (; i < fullEnd; i += 4) {
    const a = BASE64_VALUE[b[i]!]!;
    const c = BASE64_VALUE[b[i + 1]!]!;
    const d = BASE64_VALUE[b[i + 2]!]!;
    const e = BASE64_VALUE[b[i + 3]!]!;
    if ((a | c | d | e) < 0) return -1;
    const v = (a << 18) | (c << 12) | (d << 6) | e;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  if (pads > 0) {
    const a = BASE64_VALUE[b[i]!]!;
    const c = BASE64_VALUE[b[i + 1]!]!;
    const d = pads === 1 ? BASE64_VALUE[b[i + 2]!]! : 0;
    if ((a | c | d) < 0) return -1;
    const v = (a << 18) | (c << 12) | (d << 6);
    out[o++] = v >> 16;
    if (pads === 1) out[o++] = (v >> 8) & 0xff;
  }
  return o;
}
