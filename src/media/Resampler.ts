/**
 * Stateful band-limited sample-rate conversion by a rational factor L/M:
 * upsample by L, low-pass, keep every M-th sample, done as a polyphase FIR so
 * only the taps that meet real input samples are computed.
 *
 * The filter (windowed sinc, Kaiser window; see polyphaseDesign.ts) is designed
 * once per rate pair and shared: passband ripple far under 0.1 dB up to 3.4 kHz
 * (7 kHz when the lower rate is 16 kHz), >= 70 dB against aliases and images.
 * Linear phase: the group delay is a whole number of output samples (delayOutputSamples).
 *
 * State across calls (history, polyphase phase, fractional output position) makes
 * the output independent of how the input is chunked: 160-sample frames give the
 * same samples as one piece. Total output after T input samples is floor(T * L / M).
 */
import { FRAME_MS } from './constants.js';
import { checkRate, polyphaseDesign, type PolyphaseDesign } from './polyphaseDesign.js';

import { frameArena } from './FrameArena.js';
export { resamplerFilterInfo, resamplerImpulseResponseForTest, type ResamplerFilterInfo } from './polyphaseDesign.js';

const INT16_MAX = 32767;
const INT16_MIN = -32768;
const MS_PER_SECOND = 1000;

/**
 * sum of c[start + j] * x[offset + j] for j < length. Four accumulators: the
 * adds are independent, so they overlap instead of waiting on one another.
 */
function dot(c: Float32Array, start: number, length: number, x: Float32Array, offset: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const end = start + length;
  let j = start;
  let k = offset;
  for (; j + 3 < end; j += 4, k += 4) {
    a0 += c[j]! * x[k]!;
    a1 += c[j + 1]! * x[k + 1]!;
    a2 += c[j + 2]! * x[k + 2]!;
    a3 += c[j + 3]! * x[k + 3]!;
  }
  for (; j < end; j++, k++) a0 += c[j]! * x[k]!;
  return a0 + a1 + a2 + a3;
}

/** dot() for c symmetric about its middle: pairs of samples share one multiply. */
function dotSymmetric(c: Float32Array, start: number, length: number, x: Float32Array, offset: number): number {
  const half = length >> 1;
  let a0 = length & 1 ? c[start + half]! * x[offset + half]! : 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = start;
  let lo = offset;
  let hi = offset + length - 1;
  const end = start + half;
  for (; j + 3 < end; j += 4, lo += 4, hi -= 4) {
    a0 += c[j]! * (x[lo]! + x[hi]!);
    a1 += c[j + 1]! * (x[lo + 1]! + x[hi - 1]!);
    a2 += c[j + 2]! * (x[lo + 2]! + x[hi - 2]!);
    a3 += c[j + 3]! * (x[lo + 3]! + x[hi - 3]!);
  }
  for (; j < end; j++, lo++, hi--) a0 += c[j]! * (x[lo]! + x[hi]!);
  return a0 + a1 + a2 + a3;
}

export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** Group delay in output samples (a whole number). */
  readonly delayOutputSamples: number;
  readonly #design: PolyphaseDesign | null;
  readonly #up: number;
  readonly #down: number;
  /** History then the current input, as floats for the multiply-adds. */
  #work: Float32Array;
  /** Newest input index of the next output, relative to the next call's first sample. */
  #newest = 0;
  /** Polyphase branch of the next output. */
  #branch = 0;
  /** (L * inputs so far) mod M: the fractional output position. */
  #fraction = 0;

  constructor(fromRate: number, toRate: number) {
    checkRate(fromRate, 'input');
    checkRate(toRate, 'output');
    this.fromRate = fromRate;
    this.toRate = toRate;
    if (fromRate === toRate) {
      this.#design = null;
      this.#up = 1;
      this.#down = 1;
      this.delayOutputSamples = 0;
      this.#work = new Float32Array(0);
    } else {
      const d = polyphaseDesign(fromRate, toRate);
      this.#design = d;
      this.#up = d.info.up;
      this.#down = d.info.down;
      this.delayOutputSamples = d.info.delayOutputSamples;
      // Room for a frame; a longer chunk grows it once.
      this.#work = new Float32Array(d.history + Math.ceil((fromRate * FRAME_MS) / MS_PER_SECOND));
    }
  }

  /** Output samples the next process() call will return for `inputLength` input samples. */
  outputLength(inputLength: number): number {
    return Math.floor((this.#fraction + this.#up * inputLength) / this.#down);
  }

  /**
   * Convert the next chunk. Returns a new array, or with `out` (long enough for
   * outputLength(input.length)) a view of its first samples, allocating nothing else.
   */
  process(input: Int16Array, out?: Int16Array): Int16Array {
    const count = this.outputLength(input.length);
    if (out === undefined) {
      const dst = frameArena.int16(count);
      this.processInto(input, dst);
      return dst;
    }
    this.processInto(input, out);
    return out.length === count ? out : out.subarray(0, count);
  }

  /** Convert the next chunk into `out`; returns the number of samples written. */
  processInto(input: Int16Array, out: Int16Array): number {
    const n = input.length;
    const count = this.outputLength(n);
    if (out.length < count) throw new RangeError(`Resampler.process: out holds ${out.length} samples, needs ${count}`);
    const d = this.#design;
    if (d === null) {
      out.set(input);
      return count;
    }
    const history = d.history;
    if (this.#work.length < history + n) {
      const grown = new Float32Array(history + n);
      grown.set(this.#work.subarray(0, history));
      this.#work = grown;
    }
    const work = this.#work;
    for (let i = 0; i < n; i++) work[history + i] = input[i]!;

    const { coefs, branchStart, branchLength, branchReach, branchSymmetric } = d;
    const up = this.#up;
    const down = this.#down;
    let newest = this.#newest;
    let branch = this.#branch;
    for (let o = 0; o < count; o++) {
      const start = branchStart[branch]!;
      const length = branchLength[branch]!;
      const offset = history + newest - branchReach[branch]!;
      const acc =
        length === 1
          ? coefs[start]! * work[offset]!
          : branchSymmetric[branch] === 1
            ? dotSymmetric(coefs, start, length, work, offset)
            : dot(coefs, start, length, work, offset);
      let v = Math.round(acc);
      if (v > INT16_MAX) v = INT16_MAX;
      else if (v < INT16_MIN) v = INT16_MIN;
      out[o] = v;
      branch += down;
      while (branch >= up) {
        branch -= up;
        newest++;
      }
    }
    this.#newest = newest - n;
    this.#branch = branch;
    this.#fraction = this.#fraction + up * n - count * down;
    work.copyWithin(0, n, n + history);
    return count;
  }

  /** Forget all history, as if newly constructed. */
  reset(): void {
    this.#work.fill(0);
    this.#newest = 0;
    this.#branch = 0;
    this.#fraction = 0;
  }
}
