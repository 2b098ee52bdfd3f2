/**
 * Whole-signal resampling between any two rates, for audio converted once
 * (greeting and hold files: 44.1 kHz and 22.05 kHz WAVs are common, and their
 * ratio to our rates reduces to factors the polyphase Resampler does not
 * build, e.g. 441/80). Direct windowed-sinc interpolation: each output sample
 * is the input convolved with a Kaiser-windowed sinc centred on its exact
 * input position (kernel from a table, linearly interpolated), cut off below
 * the lower Nyquist. Too slow for the call path (64 or more multiply-adds per
 * output sample), fine once at start-up: the loader converts a file at an
 * unusual rate to 48 kHz with this, and the polyphase Resampler does the rest.
 * The output is aligned with the input: no group delay.
 */
import { besselI0, kaiserBeta } from './kaiserLowpass.js';

/** Stopband the window is designed for, as the call path's resampler (70 dB). */
const ATTENUATION_DB = 75;
/** Input samples on each side of the centre, at the lower rate's spacing. */
const HALF_WIDTH = 32;
/** Cutoff as a share of the lower Nyquist: passband to 0.9, transition above. */
const CUTOFF_SHARE = 0.92;
/** Kernel table points per input sample: interpolation error far below the window's sidelobes. */
const TABLE_STEPS = 512;

/** The windowed-sinc kernel h(x) for x = 0, 1/TABLE_STEPS, ... half (symmetric), plus a zero guard. */
function kernelTable(cutoff: number, half: number): Float64Array {
  const beta = kaiserBeta(ATTENUATION_DB);
  const i0Beta = besselI0(beta);
  const table = new Float64Array(half * TABLE_STEPS + 2);
  for (let i = 0; i <= half * TABLE_STEPS; i++) {
    const x = i / TABLE_STEPS;
    const ratio = x / half;
    const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - ratio * ratio))) / i0Beta;
    const arg = 2 * cutoff * x;
    const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
    table[i] = 2 * cutoff * sinc * window;
  }
  return table;
}

export function resampleOffline(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (!(fromRate > 0) || !(toRate > 0) || !Number.isFinite(fromRate) || !Number.isFinite(toRate)) {
    throw new RangeError(`resampleOffline: rates must be positive, got ${fromRate} -> ${toRate}`);
  }
  if (fromRate === toRate) return input.slice();
  const outLength = Math.round((input.length * toRate) / fromRate);
  const out = new Int16Array(outLength);
  // Cutoff in cycles per input sample; the kernel widens when downsampling.
  const cutoff = (CUTOFF_SHARE * Math.min(fromRate, toRate)) / (2 * fromRate);
  const half = Math.ceil(HALF_WIDTH * Math.max(1, fromRate / toRate));
  const table = kernelTable(cutoff, half);
  for (let n = 0; n < outLength; n++) {
    const t = (n * fromRate) / toRate;
    const centre = Math.floor(t);
    let sum = 0;
    const first = Math.max(0, centre - half + 1);
    const last = Math.min(input.length - 1, centre + half);
    for (let k = first; k <= last; k++) {
      // |t - k| < half: look the kernel up with linear interpolation.
      const pos = Math.abs(t - k) * TABLE_STEPS;
      const i = pos | 0;
      const frac = pos - i;
      sum += input[k]! * (table[i]! + frac * (table[i + 1]! - table[i]!));
    }
    const v = Math.round(sum);
    out[n] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
