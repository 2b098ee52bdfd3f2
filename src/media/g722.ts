/**
 * ITU-T G.722 (7 kHz audio coding within 64 kbit/s): sub-band ADPCM at 16 kHz.
 * A 24-tap QMF splits each pair of input samples into a lower and a higher
 * sub-band sample at 8 kHz; the lower band is coded with 6 bits (ADPCM with an
 * embedded 4-bit core), the higher with 2 bits; one octet per pair,
 * `IH << 6 | IL` (section 1.4.3). 320 samples (20 ms) <-> 160 octets.
 *
 * Written from the Recommendation's block descriptions (sections 3 and 4,
 * 1988 text and the 2012 fixed-point reference): 16-bit two's-complement
 * arithmetic with saturation where the reference saturates (`add`, `sub`,
 * `mult`), the same tables, the same order of the predictor updates (block 4).
 * Encoder and decoder are separate stateful objects: one per direction per
 * call; nothing is shared between instances.
 */

const MAX16 = 32767;
const MIN16 = -32768;

/** Saturating 16-bit result (the reference's `add`/`sub`/`shl`). */
function sat16(x: number): number {
  return x > MAX16 ? MAX16 : x < MIN16 ? MIN16 : x;
}

/** The reference's `mult`: (a * b) >> 15, saturated (only -32768 * -32768 overflows). */
function mult(a: number, b: number): number {
  const p = (a * b) >> 15;
  return p > MAX16 ? MAX16 : p;
}

/** Sections 3.7 / 4.3 LIMIT: the reconstructed sub-band signal is 15 bits. */
function limit15(x: number): number {
  return x > 16383 ? 16383 : x < -16384 ? -16384 : x;
}

// ---------------------------------------------------------------------------
// Tables (section 3, tables 6-14). Quantizer outputs are the Recommendation's
// magnitudes (in units of 1/8) times 8, signed and indexed by the code itself.

/** QMF coefficients h(0)..h(23), scaled by 2^13 (table 1); symmetric. */
// h = [3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, ...mirrored]: written
// out in Ring12.dotEven (even taps) and Ring12.dotOdd (odd taps).

/** Lower-band decision levels Q6 (table 6), compared as (Q6 * DETL) >> 12. */
const Q6 = Int32Array.from([
  0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
  786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
]);
/** Quantizer interval (1..30) to 6-bit code, for negative and non-negative EL (table 6). */
const ILN = Int32Array.from([
  0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
  18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
]);
const ILP = Int32Array.from([
  0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
  46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
]);

/** 4-bit inverse quantizer (table 7, INVQAL; also the 48 kbit/s decoder), by IL >> 2. */
const QM4 = Int32Array.from([
  0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
  20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
]);
/** 5-bit inverse quantizer (table 8, 56 kbit/s decoder), by IL >> 1. */
const QM5 = Int32Array.from([
  -280, -280, -23352, -17560, -14120, -11664, -9752, -8184,
  -6864, -5712, -4696, -3784, -2960, -2208, -1520, -880,
  23352, 17560, 14120, 11664, 9752, 8184, 6864, 5712,
  4696, 3784, 2960, 2208, 1520, 880, 280, -280,
]);
/** 6-bit inverse quantizer (table 9, 64 kbit/s decoder), by IL. */
const QM6 = Int32Array.from([
  -136, -136, -136, -136, -24808, -21904, -19008, -16704,
  -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
  -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
  -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
  24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
  10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
  1688, 1360, 1040, 728, 432, 136, -432, -136,
]);
/** Lower-band log scale factor multipliers WL (table 10), by RIL4 of IL >> 2. */
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RIL4 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WL_BY_IL4 = Int32Array.from(RIL4, (m) => WL[m]!);

/** Higher band: decision level (table 11), inverse quantizer (table 12), WH (table 13). */
const Q2 = 564;
const QM2 = Int32Array.from([-7408, -1616, 7408, 1616]);
const WH_BY_IH = Int32Array.from([798, -214, 798, -214]);
/** QUANTH: magnitude (1 small, 2 large) to code, for negative and non-negative EH. */
const IHN = [0, 1, 0];
const IHP = [0, 3, 2];

/** Scale factor antilog ILB (table 14): 2^(i/32 + 11), for SCALEL / SCALEH. */
const ILB = Int32Array.from([
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
  2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
]);

/** LOGSCL / LOGSCH upper limits of the log scale factor (sections 3.5, 3.6). */
const NBL_MAX = 18432;
const NBH_MAX = 22528;
/** Initial (reset) quantizer scale factors DETL, DETH (section 6.1). */
const DETL_INIT = 32;
const DETH_INIT = 8;

/** SCALEL (shift 8) / SCALEH (shift 10): log scale factor to linear DET. */
function scale(nb: number, base: number): number {
  const wd1 = (nb >> 6) & 31;
  const shift = base - (nb >> 11);
  const wd3 = shift < 0 ? ILB[wd1]! << -shift : ILB[wd1]! >> shift;
  return wd3 << 2;
}

// ---------------------------------------------------------------------------

/**
 * One sub-band's adaptive predictor and scale factor: the state of blocks 2-4
 * (lower band 2L-4L, higher band 2H-4H). The same in encoder and decoder.
 */
class Band {
  /** Predictor output SL / SH, its zero section SZ. */
  s = 0;
  sz = 0;
  /** Reconstructed signal R(n-1), R(n-2); partially reconstructed P(n-1), P(n-2). */
  r1 = 0;
  r2 = 0;
  p1 = 0;
  p2 = 0;
  /** Pole coefficients A1, A2; zero coefficients B1..B6; quantized differences D(n-1)..D(n-6). Scalars: this is the hot path. */
  a1 = 0;
  a2 = 0;
  b1 = 0;
  b2 = 0;
  b3 = 0;
  b4 = 0;
  b5 = 0;
  b6 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  d4 = 0;
  d5 = 0;
  d6 = 0;
  /** Log scale factor NB and scale factor DET. */
  nb = 0;
  det: number;

  constructor(private readonly detInit: number) {
    this.det = detInit;
  }

  reset(): void {
    this.s = this.sz = this.r1 = this.r2 = this.p1 = this.p2 = this.a1 = this.a2 = this.nb = 0;
    this.b1 = this.b2 = this.b3 = this.b4 = this.b5 = this.b6 = 0;
    this.d1 = this.d2 = this.d3 = this.d4 = this.d5 = this.d6 = 0;
    this.det = this.detInit;
  }

  /**
   * Block 4 (section 3.6): RECONS, PARREC, UPZERO, UPPOL2, UPPOL1, FILTEZ,
   * FILTEP, PREDIC, with `dq` the quantized difference of this sample.
   */
  update(dq: number): void {
    const p = sat16(dq + this.sz); // PARREC
    const r = sat16(this.s + dq); // RECONS

    // UPZERO: sign-sign update of B1..B6 against D(n-1)..D(n-6), leakage 1 - 2^-8.
    // (+-128 plus B * 32640 / 32768 stays within 16 bits: no saturation needed.)
    const g = dq === 0 ? 0 : 128;
    const ng = dq < 0 ? -g : g; // +g where D(n-i) has the sign of dq (>= 0 counts as positive)
    const b1 = (this.d1 < 0 ? -ng : ng) + mult(this.b1, 32640);
    const b2 = (this.d2 < 0 ? -ng : ng) + mult(this.b2, 32640);
    const b3 = (this.d3 < 0 ? -ng : ng) + mult(this.b3, 32640);
    const b4 = (this.d4 < 0 ? -ng : ng) + mult(this.b4, 32640);
    const b5 = (this.d5 < 0 ? -ng : ng) + mult(this.b5, 32640);
    const b6 = (this.d6 < 0 ? -ng : ng) + mult(this.b6, 32640);
    // DELAYA.
    const d6 = this.d5;
    const d5 = this.d4;
    const d4 = this.d3;
    const d3 = this.d2;
    const d2 = this.d1;
    const d1 = dq;

    // UPPOL2 (uses the old A1), limited to +-12288.
    const pNeg = p < 0;
    const wd1 = sat16(this.a1 * 4);
    const wd2 = (pNeg === this.p1 < 0 ? sat16(-wd1) : wd1) >> 7;
    const wd3 = pNeg === this.p2 < 0 ? 128 : -128;
    let a2 = wd2 + wd3 + mult(this.a2, 32512); // |.| < 12800: no saturation needed
    if (a2 > 12288) a2 = 12288;
    else if (a2 < -12288) a2 = -12288;

    // UPPOL1, limited to +-(15360 - A2) for stability.
    // |A1| <= 15360 + 12288, so neither sum below leaves 16 bits.
    let a1 = (pNeg === this.p1 < 0 ? 192 : -192) + mult(this.a1, 32640);
    const a1Max = 15360 - a2;
    if (a1 > a1Max) a1 = a1Max;
    else if (a1 < -a1Max) a1 = -a1Max;

    this.p2 = this.p1;
    this.p1 = p;
    this.a1 = a1;
    this.a2 = a2;

    // FILTEZ: six-tap zero section on the updated B and delayed D, from B6 down, saturating at each add.
    let sz = mult(sat16(d6 * 2), b6);
    sz = sat16(sz + mult(sat16(d5 * 2), b5));
    sz = sat16(sz + mult(sat16(d4 * 2), b4));
    sz = sat16(sz + mult(sat16(d3 * 2), b3));
    sz = sat16(sz + mult(sat16(d2 * 2), b2));
    sz = sat16(sz + mult(sat16(d1 * 2), b1));
    this.sz = sz;
    this.b1 = b1;
    this.b2 = b2;
    this.b3 = b3;
    this.b4 = b4;
    this.b5 = b5;
    this.b6 = b6;
    this.d1 = d1;
    this.d2 = d2;
    this.d3 = d3;
    this.d4 = d4;
    this.d5 = d5;
    this.d6 = d6;

    // FILTEP: two-pole section on R(n), R(n-1).
    this.r2 = this.r1;
    this.r1 = r;
    const sp = sat16(mult(a1, sat16(r * 2)) + mult(a2, sat16(this.r2 * 2)));

    this.s = sat16(sp + sz); // PREDIC
  }

  /** LOGSCL + SCALEL (sections 3.5, 3.6): adapt from the 4-bit core of a lower-band code. */
  adaptLower(il4: number): void {
    let nb = mult(this.nb, 32512) + WL_BY_IL4[il4]!;
    if (nb < 0) nb = 0;
    else if (nb > NBL_MAX) nb = NBL_MAX;
    this.nb = nb;
    this.det = scale(nb, 8);
  }

  /** LOGSCH + SCALEH: adapt from a higher-band code. */
  adaptHigher(ih: number): void {
    let nb = mult(this.nb, 32512) + WH_BY_IH[ih]!;
    if (nb < 0) nb = 0;
    else if (nb > NBH_MAX) nb = NBH_MAX;
    this.nb = nb;
    this.det = scale(nb, 10);
  }
}

/** G.722 modes (section 1.3): 1 = 64 kbit/s (6-bit lower band), 2 = 56, 3 = 48 kbit/s. */
export type G722Mode = 1 | 2 | 3;

export const G722_SAMPLE_RATE = 16000;
/** Octets in a 20 ms frame: one per pair of 16 kHz samples. */
export const G722_FRAME_BYTES = 160;

/**
 * Twelve-sample history in a doubled ring: each sample is written at `pos`
 * and `pos + 12`, so the 12 newest are always `ring[pos .. pos + 11]`, newest first.
 */
class Ring12 {
  readonly data = new Int32Array(24);
  pos = 0;
  push(v: number): void {
    const pos = this.pos === 0 ? 11 : this.pos - 1;
    this.data[pos] = v;
    this.data[pos + 12] = v;
    this.pos = pos;
  }
  /** Sum of h(2i) x(n - i), newest first: h(0), h(2), ..., h(22) (unrolled: the codec's hottest loop). */
  dotEven(): number {
    const x = this.data;
    const o = this.pos;
    return (
      3 * x[o]! - 11 * x[o + 1]! + 12 * x[o + 2]! + 32 * x[o + 3]! - 210 * x[o + 4]! + 951 * x[o + 5]! +
      3876 * x[o + 6]! - 805 * x[o + 7]! + 362 * x[o + 8]! - 156 * x[o + 9]! + 53 * x[o + 10]! - 11 * x[o + 11]!
    );
  }
  /** Sum of h(2i + 1) x(n - i): h(1), h(3), ..., h(23). */
  dotOdd(): number {
    const x = this.data;
    const o = this.pos;
    return (
      -11 * x[o]! + 53 * x[o + 1]! - 156 * x[o + 2]! + 362 * x[o + 3]! - 805 * x[o + 4]! + 3876 * x[o + 5]! +
      951 * x[o + 6]! - 210 * x[o + 7]! + 32 * x[o + 8]! + 12 * x[o + 9]! - 11 * x[o + 10]! + 3 * x[o + 11]!
    );
  }
  reset(): void {
    this.data.fill(0);
    this.pos = 0;
  }
}

/** Stateful G.722 encoder (64 kbit/s, mode 1): PCM16 at 16 kHz to octets. */
export class G722Encoder {
  readonly #low = new Band(DETL_INIT);
  readonly #high = new Band(DETH_INIT);
  /** Transmit QMF history: the newer sample of each pair, and the older. */
  readonly #newer = new Ring12();
  readonly #older = new Ring12();
  /** A sample left over from an odd-length call (first of the next pair), or null. */
  #pending: number | null = null;

  /** Octets produced by `encode` of `samples` more samples (a leftover sample counts). */
  outputLength(samples: number): number {
    return (samples + (this.#pending === null ? 0 : 1)) >> 1;
  }

  /**
   * Encode PCM16 at 16 kHz. Each pair of samples gives one octet; an odd
   * sample is kept for the next call, so any chunking gives the same bytes.
   * With `out` (at least `outputLength(pcm.length)` long), fills and returns it.
   */
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
    const n = this.outputLength(pcm.length);
    let dst: Uint8Array;
    if (out === undefined) {
      dst = new Uint8Array(n);
    } else {
      if (out.length < n) throw new RangeError(`G722Encoder.encode: out holds ${out.length} bytes, input needs ${n}`);
      dst = out;
    }
    let i = 0;
    let first = this.#pending;
    for (let k = 0; k < n; k++) {
      if (first === null) first = pcm[i++]!;
      dst[k] = this.#encodePair(first, pcm[i++]!);
      first = null;
    }
    this.#pending = i < pcm.length ? pcm[i]! : first;
    return dst;
  }

  /** Sections 3.1-3.6: QMF analysis, then the lower- and higher-band ADPCM encoders. */
  #encodePair(x0: number, x1: number): number {
    // Transmit QMF (3.1): xA on the newer samples with even taps, xB on the older with odd taps.
    this.#older.push(x0);
    this.#newer.push(x1);
    const xa = this.#newer.dotEven();
    const xb = this.#older.dotOdd();
    // Gain 2^13 of the taps, and 16-bit input to the 15-bit sub-band signals.
    const xl = limit15((xa + xb) >> 14);
    const xh = limit15((xa - xb) >> 14);

    // Lower band (3.2-3.6): SUBTRA, QUANTL, INVQAL, LOGSCL/SCALEL, block 4.
    const low = this.#low;
    const el = sat16(xl - low.s);
    const wd = el >= 0 ? el : -el - 1;
    const det = low.det;
    // QUANTL: the first interval m in 1..29 with wd < (Q6(m) * DETL) >> 12, else 30. The levels
    // rise with m, so a binary search finds the same m as the Recommendation's linear scan.
    let lo = 1;
    let hi = 30;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (wd < (Q6[mid]! * det) >> 12) hi = mid;
      else lo = mid + 1;
    }
    const m = lo;
    const il = el < 0 ? ILN[m]! : ILP[m]!;
    const il4 = il >> 2;
    const dlt = mult(det, QM4[il4]!);
    low.adaptLower(il4);
    low.update(dlt);

    // Higher band (3.3-3.6): SUBTRA, QUANTH, INVQAH, LOGSCH/SCALEH, block 4.
    const high = this.#high;
    const eh = sat16(xh - high.s);
    const wdh = eh >= 0 ? eh : -eh - 1;
    const mih = wdh >= (Q2 * high.det) >> 12 ? 2 : 1;
    const ih = eh < 0 ? IHN[mih]! : IHP[mih]!;
    const dh = mult(high.det, QM2[ih]!);
    high.adaptHigher(ih);
    high.update(dh);

    return (ih << 6) | il;
  }

  /** Back to the initial state (section 6.1). */
  reset(): void {
    this.#low.reset();
    this.#high.reset();
    this.#newer.reset();
    this.#older.reset();
    this.#pending = null;
  }
}

/**
 * Stateful G.722 decoder: octets to PCM16 at 16 kHz, two samples per octet.
 * Mode 1 (64 kbit/s) uses all six lower-band bits; modes 2 and 3 ignore the
 * one or two least significant bits (auxiliary data at 56 / 48 kbit/s).
 */
export class G722Decoder {
  readonly mode: G722Mode;
  readonly #low = new Band(DETL_INIT);
  readonly #high = new Band(DETH_INIT);
  /** Receive QMF history: RL - RH and RL + RH. */
  readonly #diff = new Ring12();
  readonly #sum = new Ring12();
  readonly #table: Int32Array;
  readonly #shift: number;

  constructor(mode: G722Mode = 1) {
    if (mode !== 1 && mode !== 2 && mode !== 3) throw new RangeError(`G722Decoder: mode must be 1, 2 or 3, got ${String(mode)}`);
    this.mode = mode;
    this.#table = mode === 1 ? QM6 : mode === 2 ? QM5 : QM4;
    this.#shift = mode - 1;
  }

  /** Decode octets; with `out` (at least 2 samples per octet), fills and returns it. */
  decode(bytes: Uint8Array, out?: Int16Array): Int16Array {
    const n = bytes.length * 2;
    let dst: Int16Array;
    if (out === undefined) {
      dst = new Int16Array(n);
    } else {
      if (out.length < n) throw new RangeError(`G722Decoder.decode: out holds ${out.length} samples, input needs ${n}`);
      dst = out;
    }
    const low = this.#low;
    const high = this.#high;
    const table = this.#table;
    const shift = this.#shift;
    for (let k = 0, j = 0; k < bytes.length; k++, j += 2) {
      const code = bytes[k]!;
      const il = code & 0x3f;
      const ih = code >> 6;

      // Lower band (4.2): INVQBL in the mode's resolution, RECONS, LIMIT;
      // the predictor and the scale factor follow the 4-bit core only.
      const det = low.det;
      const rl = limit15(sat16(low.s + mult(det, table[il >> shift]!)));
      const il4 = il >> 2;
      const dlt = mult(det, QM4[il4]!);
      low.adaptLower(il4);
      low.update(dlt);

      // Higher band (4.3): INVQAH, RECONS, LIMIT.
      const dh = mult(high.det, QM2[ih]!);
      const rh = limit15(sat16(high.s + dh));
      high.adaptHigher(ih);
      high.update(dh);

      // Receive QMF (4.4): two output samples from RL - RH (even taps) and RL + RH (odd taps).
      this.#diff.push(rl - rh);
      this.#sum.push(rl + rh);
      dst[j] = sat16(this.#diff.dotEven() >> 11);
      dst[j + 1] = sat16(this.#sum.dotOdd() >> 11);
    }
    return dst;
  }

  reset(): void {
    this.#low.reset();
    this.#high.reset();
    this.#diff.reset();
    this.#sum.reset();
  }
}
