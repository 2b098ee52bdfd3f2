import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resampler, resamplerFilterInfo, resamplerImpulseResponseForTest } from '../../src/media/Resampler.js';
import {
  RESAMPLER_PAIRS,
  inFrames,
  measureAliasRejection,
  measurePassband,
  measureResamplerQuality,
  measureSpurious,
  requiredPassbandHz,
  roundTripDelaySamples,
  roundTripSnrDb,
  steadyWindow,
  tone,
} from '../../src/media/resamplerQuality.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';

const PAIRS = RESAMPLER_PAIRS;
const steady = steadyWindow;

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
    const p = measurePassband(from, to);
    assert.ok(p.edgeHz >= requiredPassbandHz(from, to), `${from}->${to} passband edge ${p.edgeHz}`);
    assert.ok(p.rippleDb < 0.1 && Math.abs(p.minDb) < 0.05 && Math.abs(p.maxDb) < 0.05, `${from}->${to} gain ${p.minDb.toFixed(4)}..${p.maxDb.toFixed(4)} dB`);
    report.push(`${from}->${to} ${p.minDb.toFixed(4)}..${p.maxDb.toFixed(4)} dB to ${p.edgeHz} Hz`);
  }
  console.log(`passband gain (sines): ${report.join('; ')}`);
});

test('downsampling: tones above the output Nyquist are attenuated by at least 70 dB', () => {
  const report: string[] = [];
  for (const [from, to] of PAIRS.filter(([a, b]) => b < a)) {
    const worst = measureAliasRejection(from, to);
    assert.ok(worst.levelDb <= -70, `${from}->${to}: ${worst.levelDb.toFixed(1)} dB at ${worst.atHz.toFixed(0)} Hz`);
    report.push(`${from}->${to} ${worst.levelDb.toFixed(1)} dB (${worst.atHz.toFixed(0)} Hz)`);
  }
  assert.throws(() => measureAliasRejection(8000, 16000), RangeError);
  console.log(`worst alias of a tone above the output Nyquist: ${report.join('; ')}`);
});

test('everything but the tone (images, aliases, noise) is at least 70 dB down, for tones across the passband', () => {
  const report: string[] = [];
  for (const [from, to] of PAIRS) {
    const worst = measureSpurious(from, to);
    assert.ok(worst.levelDb <= -70, `${from}->${to}: spurious ${worst.levelDb.toFixed(1)} dB for ${worst.atHz.toFixed(0)} Hz`);
    report.push(`${from}->${to} ${worst.levelDb.toFixed(1)} dB (${worst.atHz.toFixed(0)} Hz)`);
  }
  console.log(`worst images + aliases + noise for passband tones: ${report.join('; ')}`);
});

test('the measurement fails a bad resampler: sample-and-hold upsampling has images far above -70 dB', () => {
  // Guards the measurement itself: zero-order hold passes the passband but images badly.
  const hold = (from: number, to: number) => ({
    process: (x: Int16Array) => Int16Array.from({ length: (x.length * to) / from }, (_, n) => x[Math.floor((n * from) / to)]!),
  });
  assert.ok(measureSpurious(8000, 16000, hold).levelDb > -40);
  assert.ok(roundTripSnrDb(tone(8000, 1000, 0.2, 16000), hold) < 40);
});

test('the headline figures bench:media reports meet the targets', () => {
  const q = measureResamplerQuality();
  console.log(`resampler quality: ripple ${q.rippleDb.toFixed(4)} dB, stopband ${q.stopbandDb.toFixed(1)} dB, round trip SNR ${q.roundTripSnrDb.toFixed(1)} dB`);
  assert.ok(q.rippleDb < 0.1);
  assert.ok(q.stopbandDb >= 70);
  assert.ok(q.roundTripSnrDb >= 60);
});

test('1 kHz through 8k -> 16k -> 8k comes back with SNR >= 60 dB at the stated delay', () => {
  const delay = roundTripDelaySamples();
  assert.ok(Number.isInteger(delay));
  const results = [1000, 1013, 300, 3000, 3400].map((hz) => [hz, roundTripSnrDb(tone(8000, hz, 1, 16000))] as const);
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
