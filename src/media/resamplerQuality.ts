/**
 * Resampler quality, measured with sines the way the issue states the targets:
 * passband ripple (gain of tones up to the passband edge), stopband rejection
 * (aliases of tones above the output Nyquist, and images/aliases/noise around
 * passband tones), and the SNR of a tone through 8 k -> 16 k -> 8 k. The tests
 * assert these and `bench:media` reports them, so both quote one measurement.
 * Pure computation: signals in, decibels out.
 */
import { Resampler, resamplerFilterInfo } from './Resampler.js';

export const RESAMPLER_RATES = [8000, 16000, 24000, 48000] as const;

/** Every ordered pair of different rates. */
export const RESAMPLER_PAIRS: readonly (readonly [number, number])[] = RESAMPLER_RATES.flatMap((a) =>
  RESAMPLER_RATES.filter((b) => b !== a).map((b) => [a, b] as const),
);

/** Anything that turns 20 ms frames at one rate into frames at another, keeping state. */
export interface FrameResampler {
  process(input: Int16Array): Int16Array;
}

export type ResamplerFactory = (from: number, to: number) => FrameResampler;

const typescriptResampler: ResamplerFactory = (from, to) => new Resampler(from, to);

export const PROBE_AMPLITUDE = 30000;
const PROBE_SECONDS = 0.06;
const RIPPLE_SECONDS = 0.25;
const ROUND_TRIP_HZ = 1013;

export function tone(rate: number, hz: number, seconds: number, amplitude = PROBE_AMPLITUDE): Int16Array {
  const x = new Int16Array(Math.round(rate * seconds));
  for (let n = 0; n < x.length; n++) x[n] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / rate + 0.3));
  return x;
}

/** Run `input` through a fresh resampler in 20 ms frames, as the call path does. */
export function inFrames(from: number, to: number, input: Int16Array, make: ResamplerFactory = typescriptResampler): Int16Array {
  const r = make(from, to);
  const frame = from / 50;
  const parts: Int16Array[] = [];
  // Copy each output: a resampler may hand back a view of a buffer it reuses.
  for (let i = 0; i < input.length; i += frame) parts.push(r.process(input.subarray(i, i + frame)).slice());
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Least-squares fit of a*cos + b*sin + c at `hz` over [from, to): the tone's amplitude and what is left. */
export function fitTone(y: Int16Array, rate: number, hz: number, from: number, to: number): { amplitude: number; residualRms: number } {
  const w = (2 * Math.PI * hz) / rate;
  const m = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const v = [0, 0, 0];
  for (let n = from; n < to; n++) {
    const basis = [Math.cos(w * n), Math.sin(w * n), 1];
    for (let i = 0; i < 3; i++) {
      v[i]! += basis[i]! * y[n]!;
      for (let j = 0; j < 3; j++) m[3 * i + j]! += basis[i]! * basis[j]!;
    }
  }
  const coef = solve3(m, v);
  let residual = 0;
  for (let n = from; n < to; n++) {
    const e = y[n]! - (coef[0]! * Math.cos(w * n) + coef[1]! * Math.sin(w * n) + coef[2]!);
    residual += e * e;
  }
  return { amplitude: Math.hypot(coef[0]!, coef[1]!), residualRms: Math.sqrt(residual / (to - from)) };
}

/** Gauss-Jordan with partial pivoting on the 3x3 normal equations. */
function solve3(m: number[], v: number[]): number[] {
  const a = [0, 1, 2].map((i) => [m[3 * i]!, m[3 * i + 1]!, m[3 * i + 2]!, v[i]!]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < 4; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return [0, 1, 2].map((i) => a[i]![3]! / a[i]![i]!);
}

export function rms(x: Int16Array, from = 0, to = x.length): number {
  let e = 0;
  for (let n = from; n < to; n++) e += x[n]! * x[n]!;
  return Math.sqrt(e / (to - from));
}

export const db = (ratio: number): number => 20 * Math.log10(ratio);

/** Steady-state window of an output: past the filter's start-up transient, before the end. */
export function steadyWindow(out: Int16Array, from: number, to: number): [number, number] {
  const skip = 2 * resamplerFilterInfo(from, to).delayOutputSamples + 16;
  return [skip, out.length - 16];
}

/** The passband edge the issue sets for a pair: 3.4 kHz at 8 kHz, 7 kHz at 16 kHz, 10.5 kHz at 24 kHz. */
export function requiredPassbandHz(from: number, to: number): number {
  const low = Math.min(from, to);
  return low === 8000 ? 3400 : low === 16000 ? 7000 : 10500;
}

export interface PassbandResult {
  edgeHz: number;
  minDb: number;
  maxDb: number;
  /** max - min over the passband. */
  rippleDb: number;
}

/** Gain of 13 tones from 50 Hz to the filter's passband edge. */
export function measurePassband(from: number, to: number, make: ResamplerFactory = typescriptResampler): PassbandResult {
  const edge = resamplerFilterInfo(from, to).passbandHz;
  let lo = Infinity;
  let hi = -Infinity;
  for (let hz = 50; hz <= edge; hz += edge / 12) {
    const out = inFrames(from, to, tone(from, hz, RIPPLE_SECONDS), make);
    const [a, b] = steadyWindow(out, from, to);
    const g = db(fitTone(out, to, hz, a, b).amplitude / PROBE_AMPLITUDE);
    lo = Math.min(lo, g);
    hi = Math.max(hi, g);
  }
  return { edgeHz: edge, minDb: lo, maxDb: hi, rippleDb: hi - lo };
}

/**
 * Probe frequencies for a stopband: dense (1/12 of a side-lobe width) over the
 * first eight side lobes from `edge`, where the highest lobes sit, then coarse.
 * `direction` +1 walks up from a stopband edge, -1 walks down from a passband
 * edge (whose images walk up from the stopband edge).
 */
export function probeTones(from: number, to: number, edge: number, direction: 1 | -1, limitHz: number): number[] {
  const info = resamplerFilterInfo(from, to);
  const lobeHz = (from * info.up) / info.taps;
  const tones: number[] = [];
  for (let j = 0; j <= 96; j++) tones.push(edge + direction * (j * lobeHz) / 12);
  for (let share = 0.1; share < 1; share += 0.1) tones.push(edge + direction * share * Math.abs(limitHz - edge));
  return tones.filter((hz) => hz > 0 && hz < from / 2 && (direction > 0 ? hz < limitHz : hz > limitHz));
}

export interface WorstLevel {
  /** dB relative to the probe (negative: rejected by that much). */
  levelDb: number;
  atHz: number;
}

/** Downsampling only: the loudest alias of a full-scale tone above the output Nyquist. */
export function measureAliasRejection(from: number, to: number, make: ResamplerFactory = typescriptResampler): WorstLevel {
  if (to >= from) throw new RangeError(`measureAliasRejection: ${from} -> ${to} is not downsampling`);
  let worst: WorstLevel = { levelDb: -Infinity, atHz: 0 };
  for (const hz of probeTones(from, to, to / 2 + 1, 1, from / 2 - 1)) {
    const out = inFrames(from, to, tone(from, hz, PROBE_SECONDS), make);
    const [a, b] = steadyWindow(out, from, to);
    const level = db(rms(out, a, b) / (PROBE_AMPLITUDE / Math.SQRT2));
    if (level > worst.levelDb) worst = { levelDb: level, atHz: hz };
  }
  return worst;
}

/** Everything but the tone (images, aliases, noise) for tones across the passband, relative to the tone. */
export function measureSpurious(from: number, to: number, make: ResamplerFactory = typescriptResampler): WorstLevel {
  const edge = resamplerFilterInfo(from, to).passbandHz;
  // Upsampling: walking down from the passband edge walks the nearest image up from the stopband edge.
  const tones = to > from ? probeTones(from, to, edge, -1, 50) : [100, 0.2 * edge, 0.5 * edge, 0.8 * edge, 0.95 * edge, edge];
  let worst: WorstLevel = { levelDb: -Infinity, atHz: 0 };
  for (const hz of tones) {
    const out = inFrames(from, to, tone(from, hz, PROBE_SECONDS), make);
    const [a, b] = steadyWindow(out, from, to);
    const fit = fitTone(out, to, hz, a, b);
    const level = db(fit.residualRms / (fit.amplitude / Math.SQRT2));
    if (level > worst.levelDb) worst = { levelDb: level, atHz: hz };
  }
  return worst;
}

/** Samples by which 8 k -> 16 k -> 8 k delays a signal (an integer for our filters). */
export function roundTripDelaySamples(): number {
  return resamplerFilterInfo(8000, 16000).delayOutputSamples / 2 + resamplerFilterInfo(16000, 8000).delayOutputSamples;
}

/** SNR of `x` (8 kHz) after 8 k -> 16 k -> 8 k, compared at the round trip's delay. */
export function roundTripSnrDb(x: Int16Array, make: ResamplerFactory = typescriptResampler): number {
  const delay = roundTripDelaySamples();
  const y = inFrames(16000, 8000, inFrames(8000, 16000, x, make), make);
  let signal = 0;
  let noise = 0;
  for (let n = 200; n + delay < y.length - 16; n++) {
    signal += x[n]! ** 2;
    noise += (y[n + delay]! - x[n]!) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

export interface ResamplerQuality {
  /** Largest passband ripple (max - min gain) over every pair. */
  rippleDb: number;
  /** Weakest stopband rejection over every pair: aliases, images and noise, as a positive dB figure. */
  stopbandDb: number;
  /**
   * A tone near 1 kHz (1013 Hz) at -6 dBFS through 8 k -> 16 k -> 8 k. Exactly
   * 1 kHz repeats every 8 samples at 8 kHz and comes back bit for bit (an
   * infinite SNR, which says nothing); 1013 Hz exercises every filter phase.
   */
  roundTripSnrDb: number;
}

/** The three headline figures over every pair among 8, 16, 24 and 48 kHz. */
export function measureResamplerQuality(make: ResamplerFactory = typescriptResampler): ResamplerQuality {
  let ripple = 0;
  let worstSpurious = -Infinity;
  for (const [from, to] of RESAMPLER_PAIRS) {
    ripple = Math.max(ripple, measurePassband(from, to, make).rippleDb);
    worstSpurious = Math.max(worstSpurious, measureSpurious(from, to, make).levelDb);
    if (to < from) worstSpurious = Math.max(worstSpurious, measureAliasRejection(from, to, make).levelDb);
  }
  return { rippleDb: ripple, stopbandDb: -worstSpurious, roundTripSnrDb: roundTripSnrDb(tone(8000, ROUND_TRIP_HZ, 1, 16000), make) };
}
