/**
 * Filter design for Resampler: a Kaiser-windowed sinc low-pass per rate pair,
 * split into polyphase branches, designed once and cached for the process
 * (every call on a worker shares it).
 *
 * Band edges: passband to 3.4 kHz when the lower rate is 8 kHz (ITU-T G.712
 * telephone channel), 7 kHz at 16 kHz (G.722 wideband), 10.5 kHz at 24 kHz.
 * Stopband from the output Nyquist frequency when downsampling (nothing the
 * output cannot carry aliases back in above -70 dB), and from the image of the
 * passband edge when upsampling (8 kHz - 3.4 kHz = 4.6 kHz for 8 kHz input):
 * the transition then sits symmetrically on the input Nyquist frequency, one
 * branch becomes a pure delay (a Nyquist filter), and the filter is half as long
 * as with a stopband at 4 kHz. Input between the passband edge and the input
 * Nyquist (3.4-4 kHz at 8 kHz, outside the telephone channel) is imaged with less
 * rejection. Length: the shortest on the branch grid whose measured stopband,
 * on the final Float32 coefficients, reaches 70.5 dB.
 */
import { fft, nextPowerOfTwo } from './fft.js';
import { designKaiserLowpass, kaiserBeta, kaiserTaps } from './kaiserLowpass.js';

/** Passband edge by the lower of the two rates (telephone band at 8 kHz: ITU-T G.712; wideband: G.722). */
const PASSBAND_EDGE_HZ: ReadonlyMap<number, number> = new Map([
  [8000, 3400],
  [16000, 7000],
  [24000, 10500],
]);
/** Passband edge for other rates, as a share of the lower rate (3.4 kHz / 8 kHz). */
const DEFAULT_PASSBAND_SHARE = 0.425;
/** Stopband attenuation every design must reach, measured on the final coefficients. */
const REQUIRED_ATTENUATION_DB = 70.5;
/** Kaiser window shape (beta for 72 dB side lobes): a little beyond the requirement, so added length can reach it. */
const WINDOW_ATTENUATION_DB = 72;
/** The length search starts at Kaiser's estimate for this many dB less than required. */
const DESIGN_SEARCH_DB = 3;
/** A design longer than this multiple of Kaiser's estimate means the window cannot reach the requirement. */
const MAX_LENGTH_FACTOR = 2;
/** Frequency points per tap when the design checks its own stopband: side lobes are about 2 points per tap wide. */
const RESPONSE_POINTS_PER_TAP = 32;
/** Largest interpolation or decimation factor after reducing L/M (48 kHz <-> 1 kHz). */
const MAX_FACTOR = 48;
/** Taps smaller than this at the ends of a polyphase branch are dropped (sinc zeros). */
const NEGLIGIBLE_TAP = 1e-10;

export interface ResamplerFilterInfo {
  readonly fromRate: number;
  readonly toRate: number;
  /** Interpolation factor. */
  readonly up: number;
  /** Decimation factor. */
  readonly down: number;
  /** Prototype filter length at fromRate * up. */
  readonly taps: number;
  readonly beta: number;
  readonly passbandHz: number;
  readonly stopbandHz: number;
  readonly cutoffHz: number;
  /** Multiply-adds per output sample, averaged over the polyphase branches. */
  readonly macsPerOutput: number;
  /** Group delay in output samples. */
  readonly delayOutputSamples: number;
}

interface Branches {
  /** All branches' taps, each branch stored oldest-input-first. */
  readonly coefs: Float32Array;
  readonly branchStart: Int32Array;
  readonly branchLength: Int32Array;
  /** How far back from the newest input the oldest tap of each branch reaches. */
  readonly branchReach: Int32Array;
  /** 1 where a branch is its own mirror image: its loop adds sample pairs before multiplying. */
  readonly branchSymmetric: Uint8Array;
}

export interface PolyphaseDesign extends Branches {
  readonly info: ResamplerFilterInfo;
  /** Input samples kept between calls. */
  readonly history: number;
}

const designs = new Map<string, PolyphaseDesign>();

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export function checkRate(rate: number, which: string): void {
  if (!Number.isInteger(rate) || rate <= 0) {
    throw new RangeError(`Resampler: ${which} rate must be a positive integer in Hz, got ${rate}`);
  }
}

/**
 * Split the prototype into its `up` polyphase branches: branch p holds
 * h[p + q*up], trimmed of negligible end taps, stored oldest input first, and
 * scaled to unity DC gain so a constant input gives a constant output (no image
 * of DC at the branch rate).
 */
function splitBranches(prototype: Float64Array, up: number): Branches {
  const taps = prototype.length;
  const branchStart = new Int32Array(up);
  const branchLength = new Int32Array(up);
  const branchReach = new Int32Array(up);
  const parts: Float64Array[] = [];
  let total = 0;
  for (let p = 0; p < up; p++) {
    const count = Math.ceil((taps - p) / up);
    let peak = 0;
    for (let q = 0; q < count; q++) peak = Math.max(peak, Math.abs(prototype[p + q * up]!));
    let first = 0;
    let last = count - 1;
    while (first < last && Math.abs(prototype[p + first * up]!) < NEGLIGIBLE_TAP * peak) first++;
    while (last > first && Math.abs(prototype[p + last * up]!) < NEGLIGIBLE_TAP * peak) last--;
    let sum = 0;
    for (let q = first; q <= last; q++) sum += prototype[p + q * up]!;
    // Coefficient j multiplies x[newest - last + j].
    const part = new Float64Array(last - first + 1);
    for (let j = 0; j < part.length; j++) part[j] = prototype[p + (last - j) * up]! / sum;
    parts.push(part);
    branchStart[p] = total;
    branchLength[p] = part.length;
    branchReach[p] = last;
    total += part.length;
  }
  const coefs = new Float32Array(total);
  parts.forEach((part, p) => coefs.set(part, branchStart[p]!));
  // A linear-phase prototype with its centre on the branch grid leaves the
  // centre branch (and, for up = 2, both branches) symmetric.
  const branchSymmetric = new Uint8Array(up);
  for (let p = 0; p < up; p++) {
    const start = branchStart[p]!;
    const length = branchLength[p]!;
    let symmetric = 1;
    for (let j = 0; j < length >> 1; j++) {
      if (coefs[start + j] !== coefs[start + length - 1 - j]) symmetric = 0;
    }
    branchSymmetric[p] = symmetric;
  }
  return { coefs, branchStart, branchLength, branchReach, branchSymmetric };
}

/** The branches put back together as one `taps`-long filter at the upsampled rate (DC gain `up`). */
function joinBranches(b: Branches, up: number, taps: number): Float64Array {
  const h = new Float64Array(taps);
  for (let p = 0; p < up; p++) {
    const start = b.branchStart[p]!;
    const reach = b.branchReach[p]!;
    for (let j = 0; j < b.branchLength[p]!; j++) h[p + (reach - j) * up] = b.coefs[start + j]!;
  }
  return h;
}

/** Highest response from `stopbandHz` to half the upsampled rate, in dB relative to DC. */
function stopbandPeakDb(b: Branches, up: number, taps: number, upRate: number, stopbandHz: number): number {
  const h = joinBranches(b, up, taps);
  const size = nextPowerOfTwo(RESPONSE_POINTS_PER_TAP * h.length);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(h);
  fft(re, im);
  let peak = 0;
  for (let k = Math.floor((stopbandHz / upRate) * size); k <= size / 2; k++) {
    if ((k * upRate) / size < stopbandHz) continue;
    peak = Math.max(peak, Math.hypot(re[k]!, im[k]!));
  }
  return 20 * Math.log10(peak / up);
}

export function polyphaseDesign(fromRate: number, toRate: number): PolyphaseDesign {
  const key = `${fromRate}>${toRate}`;
  const cached = designs.get(key);
  if (cached !== undefined) return cached;

  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  if (up > MAX_FACTOR || down > MAX_FACTOR) {
    throw new RangeError(`Resampler: ${fromRate} Hz -> ${toRate} Hz reduces to ${up}/${down}, beyond factor ${MAX_FACTOR}`);
  }
  const lower = Math.min(fromRate, toRate);
  const passbandHz = PASSBAND_EDGE_HZ.get(lower) ?? lower * DEFAULT_PASSBAND_SHARE;
  const stopbandHz = toRate > fromRate ? lower - passbandHz : lower / 2;
  const cutoffHz = (passbandHz + stopbandHz) / 2;
  const upRate = fromRate * up;
  const beta = kaiserBeta(WINDOW_ATTENUATION_DB);
  // Length on the grid 2*up*down*k + 1: odd (integer centre), the centre on an
  // input sample (a pure-delay branch when cutting at the input Nyquist), and a
  // group delay of a whole number of output samples. Kaiser's estimate is a
  // start; the shortest length whose measured stopband meets the requirement wins.
  const grid = 2 * up * down;
  const transitionHz = stopbandHz - passbandHz;
  const shortest = kaiserTaps(REQUIRED_ATTENUATION_DB - DESIGN_SEARCH_DB, transitionHz, upRate);
  const longest = MAX_LENGTH_FACTOR * kaiserTaps(REQUIRED_ATTENUATION_DB, transitionHz, upRate);
  let taps = Math.max(1, Math.floor((shortest - 1) / grid)) * grid + 1;
  let branches = splitBranches(designKaiserLowpass(taps, cutoffHz, upRate, beta), up);
  while (stopbandPeakDb(branches, up, taps, upRate, stopbandHz) > -REQUIRED_ATTENUATION_DB) {
    taps += grid;
    if (taps > longest) throw new Error(`Resampler: no ${fromRate} -> ${toRate} Hz filter reaches ${REQUIRED_ATTENUATION_DB} dB`);
    branches = splitBranches(designKaiserLowpass(taps, cutoffHz, upRate, beta), up);
  }
  const { branchLength, branchReach } = branches;
  let maxReach = 0;
  let macs = 0;
  for (let p = 0; p < up; p++) maxReach = Math.max(maxReach, branchReach[p]!);
  // Outputs visit the branches in turn: p = (m * down) mod up.
  for (let m = 0; m < up; m++) macs += branchLength[(m * down) % up]!;

  const info: ResamplerFilterInfo = {
    fromRate,
    toRate,
    up,
    down,
    taps,
    beta,
    passbandHz,
    stopbandHz,
    cutoffHz,
    macsPerOutput: macs / up,
    delayOutputSamples: (taps - 1) / 2 / down,
  };
  // An output waiting from the previous call can have its newest input up to
  // ceil((down - 1) / up) samples back, on top of the longest branch reach.
  const history = maxReach + Math.ceil((down - 1) / up) + 1;
  const result: PolyphaseDesign = { ...branches, info, history };
  designs.set(key, result);
  return result;
}

/** The filter a Resampler for this pair uses (designs and caches it). */
export function resamplerFilterInfo(fromRate: number, toRate: number): ResamplerFilterInfo {
  checkRate(fromRate, 'input');
  checkRate(toRate, 'output');
  if (fromRate === toRate) {
    return {
      fromRate,
      toRate,
      up: 1,
      down: 1,
      taps: 1,
      beta: 0,
      passbandHz: fromRate / 2,
      stopbandHz: fromRate / 2,
      cutoffHz: fromRate / 2,
      macsPerOutput: 0,
      delayOutputSamples: 0,
    };
  }
  return polyphaseDesign(fromRate, toRate).info;
}

/**
 * Test-only: the prototype filter as the polyphase branches hold it (after the
 * per-branch normalization and Float32 rounding), at fromRate * up, DC gain up.
 */
export function resamplerImpulseResponseForTest(fromRate: number, toRate: number): Float64Array {
  const d = polyphaseDesign(fromRate, toRate);
  return joinBranches(d, d.info.up, d.info.taps);
}
