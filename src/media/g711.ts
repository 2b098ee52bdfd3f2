/**
 * ITU-T G.711 mu-law (PCMU) and A-law (PCMA), table driven.
 *
 * Decoding is one 256-entry lookup per byte. Encoding is one 64K-entry lookup
 * per sample, indexed by the 16-bit pattern of the sample: a per-sample
 * segment search would cost a branch chain in the hottest loop of every call.
 * The tables are built once at module load (about 130 KiB in all).
 *
 * Encoding follows the common 16-bit formulation (bias 0x84 and clip 32635,
 * as in the public-domain ulaw.c by Reese and Campbell, and its A-law
 * counterpart), bit-exact with the `alawmulaw` package. Against the 13/14-bit
 * Sun reference (g711.c) it differs only for some negative samples, by one
 * code at a decision boundary (see docs/media.md). Decoding gives the G.711
 * reconstruction values scaled to 16 bits.
 */

const CODES = 256;
const SAMPLE_PATTERNS = 65536;
/** Mask that turns an Int16 sample into its unsigned 16-bit table index. */
const INDEX_MASK = 0xffff;

/** G.711 mu-law: bias added before the segment search, and the largest biased magnitude. */
const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;
/** Every mu-law code is transmitted inverted (G.711 table 2a: "character signals inverted"). */
const MULAW_INVERT = 0xff;
/** A-law codes have the even bits inverted (G.711 table 1a). */
const ALAW_EVEN_BITS = 0x55;
const ALAW_CLIP = 32635;
const SIGN_BIT = 0x80;
const SEGMENT_SHIFT = 4;
const SEGMENT_MASK = 0x70;
const MANTISSA_MASK = 0x0f;
const INT16_MIN = -32768;

function buildMulawDecode(): Int16Array {
  const table = new Int16Array(CODES);
  for (let code = 0; code < CODES; code++) {
    const u = ~code & MULAW_INVERT;
    const segment = (u & SEGMENT_MASK) >> SEGMENT_SHIFT;
    const mantissa = u & MANTISSA_MASK;
    // Reconstruction value: ((2m + 33) << segment) - 33, in 14-bit units, times 4.
    const magnitude = (((mantissa << 3) + MULAW_BIAS) << segment) - MULAW_BIAS;
    table[code] = u & SIGN_BIT ? -magnitude : magnitude;
  }
  return table;
}

function buildAlawDecode(): Int16Array {
  const table = new Int16Array(CODES);
  for (let code = 0; code < CODES; code++) {
    const a = code ^ ALAW_EVEN_BITS;
    const segment = (a & SEGMENT_MASK) >> SEGMENT_SHIFT;
    const mantissa = a & MANTISSA_MASK;
    // Mid-point of the quantization interval, in 13-bit units, times 8.
    let magnitude = (mantissa << 4) + 8;
    if (segment > 0) magnitude = (magnitude + 0x100) << (segment - 1);
    // After the even-bit inversion, a set sign bit means a positive sample in A-law.
    table[code] = a & SIGN_BIT ? magnitude : -magnitude;
  }
  return table;
}

/** Segment of a biased mu-law magnitude: position of its top bit above bit 7 (0..7). */
function mulawEncodeSample(sample: number): number {
  const sign = sample < 0 ? SIGN_BIT : 0;
  let magnitude = (sign ? -sample : sample) + MULAW_BIAS;
  if (magnitude > MULAW_CLIP) magnitude = MULAW_CLIP;
  const top = magnitude >> 7;
  const segment = top === 0 ? 0 : 31 - Math.clz32(top);
  const mantissa = (magnitude >> (segment + 3)) & MANTISSA_MASK;
  return ~(sign | (segment << SEGMENT_SHIFT) | mantissa) & MULAW_INVERT;
}

/** A-law: segment 0 is linear below 256, then one segment per octave (G.711 table 1a). */
function alawEncodeSample(sample: number): number {
  const s = sample === INT16_MIN ? INT16_MIN + 1 : sample;
  const sign = s >= 0 ? SIGN_BIT : 0;
  let magnitude = sign ? s : -s;
  if (magnitude > ALAW_CLIP) magnitude = ALAW_CLIP;
  let companded: number;
  if (magnitude >= 256) {
    const segment = 32 - Math.clz32(magnitude >> 8);
    companded = (segment << SEGMENT_SHIFT) | ((magnitude >> (segment + 3)) & MANTISSA_MASK);
  } else {
    companded = magnitude >> 4;
  }
  return companded ^ (sign ^ ALAW_EVEN_BITS);
}

function buildEncode(encodeSample: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(SAMPLE_PATTERNS);
  for (let pattern = 0; pattern < SAMPLE_PATTERNS; pattern++) {
    table[pattern] = encodeSample((pattern << 16) >> 16);
  }
  return table;
}

const MULAW_DECODE = buildMulawDecode();
const ALAW_DECODE = buildAlawDecode();
const MULAW_ENCODE = buildEncode(mulawEncodeSample);
const ALAW_ENCODE = buildEncode(alawEncodeSample);

function decodeWith(table: Int16Array, input: Uint8Array, out: Int16Array | undefined, name: string): Int16Array {
  const n = input.length;
  let dst: Int16Array;
  if (out === undefined) {
    dst = new Int16Array(n);
  } else {
    if (out.length < n) throw new RangeError(`${name}: out holds ${out.length} samples, input has ${n}`);
    dst = out;
  }
  for (let i = 0; i < n; i++) dst[i] = table[input[i]!]!;
  return dst;
}

function encodeWith(table: Uint8Array, input: Int16Array, out: Uint8Array | undefined, name: string): Uint8Array {
  const n = input.length;
  let dst: Uint8Array;
  if (out === undefined) {
    dst = new Uint8Array(n);
  } else {
    if (out.length < n) throw new RangeError(`${name}: out holds ${out.length} bytes, input has ${n} samples`);
    dst = out;
  }
  for (let i = 0; i < n; i++) dst[i] = table[input[i]! & INDEX_MASK]!;
  return dst;
}

/** mu-law bytes to PCM16. With `out`, fills and returns it (out.length >= input.length). */
export function pcmuDecode(input: Uint8Array, out?: Int16Array): Int16Array {
  return decodeWith(MULAW_DECODE, input, out, 'pcmuDecode');
}

/** PCM16 to mu-law bytes. With `out`, fills and returns it (out.length >= input.length). */
export function pcmuEncode(input: Int16Array, out?: Uint8Array): Uint8Array {
  return encodeWith(MULAW_ENCODE, input, out, 'pcmuEncode');
}

/** A-law bytes to PCM16. With `out`, fills and returns it (out.length >= input.length). */
export function pcmaDecode(input: Uint8Array, out?: Int16Array): Int16Array {
  return decodeWith(ALAW_DECODE, input, out, 'pcmaDecode');
}

/** PCM16 to A-law bytes. With `out`, fills and returns it (out.length >= input.length). */
export function pcmaEncode(input: Int16Array, out?: Uint8Array): Uint8Array {
  return encodeWith(ALAW_ENCODE, input, out, 'pcmaEncode');
}
