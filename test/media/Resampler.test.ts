import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resampler, resamplerFilterInfo, resamplerImpulseResponseForTest } from '../../src/media/Resampler.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';

const RATES = [8000, 16000, 24000, 48000] as const;
const PAIRS: [number, number][] = RATES.flatMap((a) => RATES.filter((b) => b !== a).map((b): [number, number] => [a, b]));
const AMPLITUDE = 30000;

function tone(rate: number, hz: number, seconds: number, amplitude = AMPLITUDE): Int16Array {
  const x = new Int16Array(Math.round(rate * seconds));
  for (let n = 0; n < x.length; n++) x[n] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / rate + 0.3));
  return x;
}

/** Run `input` through a fresh resampler in 20 ms frames, as the call path does. */
function inFrames(from: number, to: number, input: Int16Array): Int16Array {
  const r = new Resampler(from, to);
  const frame = from / 50;
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += frame) parts.push(r.process(input.subarray(i, i + frame)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Least-squares fit of a*cos + b*sin + c at `hz`; returns the amplitude and the residual RMS. */
function fitTone(y: Int16Array, rate: number, hz: number, from: number, to: number): { amplitude: number; residualRms: number } {
  const w = (2 * Math.PI * hz) / rate;
  // Normal equations for [cos, sin, 1].
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

function rms(x: Int16Array, from = 0, to = x.length): number {
  let e = 0;
  for (let n = from; n < to; n++) e += x[n]! * x[n]!;
  return Math.sqrt(e / (to - from));
}

const db = (ratio: number): number => 20 * Math.log10(ratio);

/** Steady-state window: past the filter's start-up transient, before the end. */
function steady(out: Int16Array, from: number, to: number): [number, number] {
  const skip = 2 * resamplerFilterInfo(from, to).delayOutputSamples + 16;
  return [skip, out.length - 16];
}

test('output length: 20 ms frames map to 20 ms frames, and totals are floor(T * L / M) for any chunking', () => {
  for (const [from, to] of PAIRS) {
    const r = new Resampler(from, to);
    for (let i = 0; i < 5; i++) assert.equal(r.process(new Int16Array(from / 50)).length, to / 50, `${from}->${to}`);
  }
  const up = new Resampler(8000, 16000);
  for (const n of [0, 1, 7, 160, 161, 999]) assert.equal(up.process(new Int16Array(n)).length, 2 * n);

  let seed = 1;
  const rand = (): number => {
    seed = (Math.imul(seed, 48271) + 11) >>> 0;
    return seed / 4294967296;
  };
  for (const [from, to] of PAIRS) {
    const r = new Resampler(from, to);
    const info = resamplerFilterInfo(from, to);
    let total = 0;
    let produced = 0;
    for (let i = 0; i < 200; i++) {
      const n = Math.floor(rand() * 37);
      const expected = r.outputLength(n);
      const got = r.process(new Int16Array(n)).length;
      assert.equal(got, expected);
      total += n;
      produced += got;
      assert.equal(produced, Math.floor((total * info.up) / info.down), `${from}->${to} after ${total}`);
    }
  }
});

test('chunking does not change the output: one piece, 20 ms frames and random chunks agree bit for bit', () => {
  for (const [from, to] of PAIRS) {
    const input = new SpeechLikeSignal(from, 5).next(from / 4);
    const whole = new Resampler(from, to).process(input);
    assert.deepEqual(inFrames(from, to, input), whole, `${from}->${to} frames`);
    const r = new Resampler(from, to);
    const pieces: number[] = [];
    let seed = 9;
    for (let i = 0; i < input.length; ) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const n = 1 + (seed % 41);
      pieces.push(...r.process(input.subarray(i, i + n)));
      i += n;
    }
    assert.deepEqual(Int16Array.from(pieces), whole, `${from}->${to} random chunks`);
  }
});

test('passband: gain within +-0.05 dB (0.1 dB ripple) up to 3.4 kHz at 8 kHz, 7 kHz at 16 kHz', () => {
  const report: string[] = [];
  for (const [from, to] of PAIRS) {
    const edge = resamplerFilterInfo(from, to).passbandHz;
    let lo = Infinity;
    let hi = -Infinity;
    for (let hz = 50; hz <= edge; hz += edge / 12) {
      const out = inFrames(from, to, tone(from, hz, 0.25));
      const [a, b] = steady(out, from, to);
      const g = db(fitTone(out, to, hz, a, b).amplitude / AMPLITUDE);
      lo = Math.min(lo, g);
      hi = Math.max(hi, g);
    }
    const expectedEdge = Math.min(from, to) === 8000 ? 3400 : Math.min(from, to) === 16000 ? 7000 : 10500;
    assert.ok(edge >= expectedEdge, `${from}->${to} passband edge ${edge}`);
    assert.ok(hi - lo < 0.1 && Math.abs(lo) < 0.05 && Math.abs(hi) < 0.05, `${from}->${to} gain ${lo.toFixed(4)}..${hi.toFixed(4)} dB`);
    report.push(`${from}->${to} ${lo.toFixed(4)}..${hi.toFixed(4)} dB to ${edge} Hz`);
  }
  console.log(`passband gain (sines): ${report.join('; ')}`);
});

/**
 * Probe frequencies for a stopband: dense (1/12 of a side-lobe width) over the
 * first eight side lobes from `edge`, where the highest lobes sit, then coarse.
 * `direction` +1 walks up from a stopband edge, -1 walks down from a passband
 * edge (whose images walk up from the stopband edge).
 */
function probeTones(from: number, to: number, edge: number, direction: 1 | -1, limitHz: number): number[] {
  const info = resamplerFilterInfo(from, to);
  const lobeHz = (from * info.up) / info.taps;
  const tones: number[] = [];
  for (let j = 0; j <= 96; j++) tones.push(edge + direction * (j * lobeHz) / 12);
  for (let share = 0.1; share < 1; share += 0.1) tones.push(edge + direction * share * Math.abs(limitHz - edge));
  return tones.filter((hz) => hz > 0 && hz < from / 2 && (direction > 0 ? hz < limitHz : hz > limitHz));
}

const PROBE_SECONDS = 0.06;

test('downsampling: tones above the output Nyquist are attenuated by at least 70 dB', () => {
  const report: string[] = [];
  for (const [from, to] of PAIRS.filter(([a, b]) => b < a)) {
    const info = resamplerFilterInfo(from, to);
    assert.equal(info.stopbandHz, to / 2);
    let worst = -Infinity;
    let worstHz = 0;
    for (const hz of probeTones(from, to, to / 2 + 1, 1, from / 2 - 1)) {
      const out = inFrames(from, to, tone(from, hz, PROBE_SECONDS));
      const [a, b] = steady(out, from, to);
      const level = db(rms(out, a, b) / (AMPLITUDE / Math.SQRT2));
      if (level > worst) {
        worst = level;
        worstHz = hz;
      }
    }
    assert.ok(worst <= -70, `${from}->${to}: ${worst.toFixed(1)} dB at ${worstHz.toFixed(0)} Hz`);
    report.push(`${from}->${to} ${worst.toFixed(1)} dB (${worstHz.toFixed(0)} Hz)`);
  }
  console.log(`worst alias of a tone above the output Nyquist: ${report.join('; ')}`);
});

test('everything but the tone (images, aliases, noise) is at least 70 dB down, for tones across the passband', () => {
  const report: string[] = [];
  for (const [from, to] of PAIRS) {
    const edge = resamplerFilterInfo(from, to).passbandHz;
    let worst = -Infinity;
    let worstHz = 0;
    // Upsampling: walking down from the passband edge walks the nearest image up from the stopband edge.
    const tones = to > from ? probeTones(from, to, edge, -1, 50) : [100, 0.2 * edge, 0.5 * edge, 0.8 * edge, 0.95 * edge, edge];
    for (const hz of tones) {
      const out = inFrames(from, to, tone(from, hz, PROBE_SECONDS));
      const [a, b] = steady(out, from, to);
      const fit = fitTone(out, to, hz, a, b);
      const level = db(fit.residualRms / (fit.amplitude / Math.SQRT2));
      if (level > worst) {
        worst = level;
        worstHz = hz;
      }
    }
    assert.ok(worst <= -70, `${from}->${to}: spurious ${worst.toFixed(1)} dB for ${worstHz.toFixed(0)} Hz`);
    report.push(`${from}->${to} ${worst.toFixed(1)} dB (${worstHz.toFixed(0)} Hz)`);
  }
  console.log(`worst images + aliases + noise for passband tones: ${report.join('; ')}`);
});

test('1 kHz through 8k -> 16k -> 8k comes back with SNR >= 60 dB at the stated delay', () => {
  const delay = resamplerFilterInfo(8000, 16000).delayOutputSamples / 2 + resamplerFilterInfo(16000, 8000).delayOutputSamples;
  assert.ok(Number.isInteger(delay));
  const snrAt = (x: Int16Array): number => {
    const y = inFrames(16000, 8000, inFrames(8000, 16000, x));
    let signal = 0;
    let noise = 0;
    for (let n = 200; n + delay < y.length - 16; n++) {
      signal += x[n]! ** 2;
      noise += (y[n + delay]! - x[n]!) ** 2;
    }
    return 10 * Math.log10(signal / noise);
  };
  const results = [1000, 1013, 300, 3000, 3400].map((hz) => [hz, snrAt(tone(8000, hz, 1, 16000))] as const);
  console.log(`8k->16k->8k round trip SNR at delay ${delay}: ${results.map(([hz, snr]) => `${hz} Hz ${snr.toFixed(1)} dB`).join(', ')}`);
  for (const [hz, snr] of results) assert.ok(snr >= 60, `${hz} Hz: SNR ${snr.toFixed(1)} dB`);

  // Speech survives the round trip too, found at the same delay.
  const speech = new SpeechLikeSignal(8000, 11).next(16000);
  const back = inFrames(16000, 8000, inFrames(8000, 16000, speech));
  const found = bestLagCorrelation(speech, back, 400);
  assert.equal(found.lagSamples, delay);
  assert.ok(found.correlation > 0.999, `speech correlation ${found.correlation}`);
});

test('delayOutputSamples is the group delay: an impulse comes out that many samples later', () => {
  for (const [from, to] of PAIRS) {
    const info = resamplerFilterInfo(from, to);
    const input = new Int16Array(from / 10);
    const at = 4 * info.down; // on the output grid
    input[at] = 20000;
    const out = new Resampler(from, to).process(input);
    let peak = 0;
    for (let n = 1; n < out.length; n++) if (Math.abs(out[n]!) > Math.abs(out[peak]!)) peak = n;
    assert.equal(peak, (at * info.up) / info.down + info.delayOutputSamples, `${from}->${to}`);
    assert.equal(new Resampler(from, to).delayOutputSamples, info.delayOutputSamples);
  }
});

test('DC passes exactly and full scale does not wrap', () => {
  for (const [from, to] of PAIRS) {
    const out = inFrames(from, to, new Int16Array(from / 5).fill(12345));
    const [a, b] = steady(out, from, to);
    for (let n = a; n < b; n++) assert.equal(out[n], 12345, `${from}->${to} at ${n}`);
    // A full-scale square wave overshoots (Gibbs): it must clip, not wrap around,
    // so the output changes sign once per input edge and touches both rails.
    const half = 100;
    const square = new Int16Array(from / 5).map((_, n) => (Math.floor(n / half) % 2 ? 32767 : -32768));
    const sq = inFrames(from, to, square);
    const [c, d] = steady(sq, from, to);
    let crossings = 0;
    let max = 0;
    let min = 0;
    let lastSign = Math.sign(sq[c]!);
    for (let n = c + 1; n < d; n++) {
      const sign = Math.sign(sq[n]!);
      if (sign !== 0 && sign !== lastSign) {
        if (lastSign !== 0) crossings++;
        lastSign = sign;
      }
      max = Math.max(max, sq[n]!);
      min = Math.min(min, sq[n]!);
    }
    const edges = ((d - c) * from) / to / half;
    assert.ok(Math.abs(crossings - edges) <= 1, `${from}->${to}: ${crossings} sign changes for ${edges.toFixed(1)} edges`);
    assert.equal(max, 32767);
    assert.equal(min, -32768);
  }
});

test('same rate is a copy; reset() forgets history; bad arguments throw', () => {
  const r = new Resampler(16000, 16000);
  const x = new Int16Array([1, -2, 3]);
  const y = r.process(x);
  assert.deepEqual(y, x);
  assert.notEqual(y, x);
  assert.equal(r.delayOutputSamples, 0);

  const speech = new SpeechLikeSignal(8000, 2).next(800);
  const a = new Resampler(8000, 24000);
  const first = a.process(speech);
  a.process(new SpeechLikeSignal(8000, 3).next(333));
  a.reset();
  assert.deepEqual(a.process(speech), first);

  const out = new Int16Array(400);
  const view = new Resampler(8000, 16000).process(speech.subarray(0, 160), out);
  assert.equal(view.length, 320);
  assert.equal(view.buffer, out.buffer);
  assert.throws(() => new Resampler(8000, 16000).processInto(speech.subarray(0, 160), new Int16Array(319)), RangeError);
  assert.throws(() => new Resampler(0, 8000), RangeError);
  assert.throws(() => new Resampler(8000, 16000.5), RangeError);
  assert.throws(() => new Resampler(8000, 44101), RangeError);
});

test('the designed filters: linear phase, cached, and their own stopband check holds', () => {
  for (const [from, to] of PAIRS) {
    const h = resamplerImpulseResponseForTest(from, to);
    const info = resamplerFilterInfo(from, to);
    assert.equal(h.length, info.taps);
    assert.equal((h.length - 1) / 2, info.delayOutputSamples * info.down);
    for (let n = 0; n < h.length; n++) assert.equal(h[n], h[h.length - 1 - n], `${from}->${to} symmetric at ${n}`);
    let dc = 0;
    for (const v of h) dc += v;
    assert.ok(Math.abs(dc - info.up) < 1e-5, `${from}->${to} DC gain ${dc / info.up}`);
    assert.equal(resamplerFilterInfo(from, to), info); // designed once
  }
});

test('micro-benchmark: ns per 20 ms frame (reported, not asserted)', () => {
  const lines: string[] = [];
  for (const [from, to] of [[8000, 16000], [16000, 8000], [8000, 24000], [24000, 8000], [16000, 24000], [24000, 16000]] as const) {
    const r = new Resampler(from, to);
    const frame = from / 50;
    const input = new SpeechLikeSignal(from, 1).next(frame * 50);
    const out = new Int16Array((to / 50) * 2);
    const run = (frames: number): number => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < frames; i++) r.processInto(input.subarray((i % 50) * frame, ((i % 50) + 1) * frame), out);
      return Number(process.hrtime.bigint() - start) / frames;
    };
    run(500);
    let best = Infinity;
    for (let rep = 0; rep < 5; rep++) best = Math.min(best, run(200));
    lines.push(`${from}->${to}: ${best.toFixed(0)} ns per 20 ms frame (${frame} in, ${to / 50} out)`);
  }
  console.log(`Resampler micro-benchmark (best of 5 x 200 frames)\n  ${lines.join('\n  ')}`);
});
