import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Concealer } from '../../src/media/Concealer.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';

const RATE = 8000;
const N = 160;

/** A periodic, harmonic-rich wave (a glottal-like pulse train): period `period` samples. */
function periodic(length: number, period: number, from = 0): Int16Array {
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    const phase = (2 * Math.PI * (from + i)) / period;
    out[i] = Math.round(6000 * Math.sin(phase) + 3000 * Math.sin(2 * phase + 0.7) + 1500 * Math.sin(3 * phase + 1.9));
  }
  return out;
}

function frames(signal: Int16Array, n = N): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i + n <= signal.length; i += n) out.push(signal.slice(i, i + n));
  return out;
}

function energy(x: ArrayLike<number>, from = 0, to = x.length): number {
  let e = 0;
  for (let i = from; i < to; i++) e += x[i]! * x[i]!;
  return e;
}

function errorEnergy(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length): number {
  let e = 0;
  for (let i = from; i < to; i++) e += (a[i]! - b[i]!) ** 2;
  return e;
}

test('nothing heard yet: concealment is silence', () => {
  const c = new Concealer(N, RATE);
  assert.deepEqual(c.conceal(), new Int16Array(N));
});

test('good frames pass through untouched (the same array)', () => {
  const c = new Concealer(N, RATE);
  for (const f of frames(periodic(N * 10, 73))) {
    const copy = new Int16Array(f);
    assert.equal(c.good(f), f);
    assert.deepEqual(f, copy);
  }
});

test('a periodic signal is continued in phase: the pitch period is found and the first 10 ms match', () => {
  for (const period of [40, 57, 80, 113]) {
    const signal = periodic(N * 12, period);
    const c = new Concealer(N, RATE);
    const fs = frames(signal);
    for (let i = 0; i < 10; i++) c.good(fs[i]!);
    const out = c.conceal();
    assert.equal(c.pitchSamples % period, 0, `period ${period}: found ${c.pitchSamples}`);
    const truth = fs[10]!;
    // First 10 ms at full level: the continuation is the signal itself, within rounding.
    const snr = 10 * Math.log10(energy(truth, 0, 80) / Math.max(1, errorEnergy(truth, out, 0, 80)));
    assert.ok(snr > 50, `period ${period}: ${snr.toFixed(1)} dB over the first 10 ms`);
    // No step at the join: the first concealed sample follows the last good one like the signal does.
    const last = fs[9]![N - 1]!;
    assert.ok(Math.abs(out[0]! - truth[0]!) <= 2, `join ${last} -> ${out[0]} (true ${truth[0]})`);
  }
});

test('a long loss fades: full level for 10 ms, -20% per 10 ms, silent from 60 ms, then comfort silence', () => {
  const period = 80;
  const c = new Concealer(N, RATE);
  for (const f of frames(periodic(N * 10, period))) c.good(f);
  const out: number[] = [];
  for (let i = 0; i < 6; i++) out.push(...c.conceal());
  const truth = periodic(N * 16, period).subarray(N * 10);
  // The output is the continued wave times the gain 1 (0-10 ms), then 1 - (t - 10 ms) / 50 ms, 0 from 60 ms.
  for (let i = 0; i < out.length; i++) {
    const t = i / 8; // ms
    const gain = t < 10 ? 1 : t >= 60 ? 0 : 1 - (t - 10) / 50;
    assert.ok(Math.abs(out[i]! - gain * truth[i]!) <= 2, `sample ${i} (${t} ms): ${out[i]} vs ${gain * truth[i]!}`);
  }
  assert.ok(out.slice(480).every((v) => v === 0));
  assert.equal(c.erasedSamples, 6 * N);
});

test('coming back: the good frame is cross-faded in, longer after longer losses, and not modified', () => {
  const signal = periodic(N * 30, 67);
  const fs = frames(signal);
  for (const lost of [1, 2, 5]) {
    const c = new Concealer(N, RATE);
    for (let i = 0; i < 10; i++) c.good(fs[i]!);
    for (let i = 0; i < lost; i++) c.conceal();
    const next = fs[10 + lost]!;
    const copy = new Int16Array(next);
    const out = c.good(next);
    assert.notEqual(out, next);
    assert.deepEqual(next, copy);
    // Quarter period (17 samples) plus 4 ms (32 samples) per further 10 ms, at most 10 ms (80 samples).
    const fade = Math.min(17 + (2 * lost - 1) * 32, 80);
    assert.deepEqual(out.subarray(fade), next.subarray(fade), `${lost} lost: after ${fade} samples the frame is itself`);
    if (lost === 5) {
      // From silence: a fade-in, never louder than the frame.
      for (let i = 0; i < fade; i++) assert.ok(Math.abs(out[i]!) <= Math.abs(next[i]!) + 1);
      assert.ok(Math.abs(out[0]!) < Math.abs(next[0]!) / 20 + 1);
    }
    assert.equal(c.good(fs[11 + lost]!), fs[11 + lost], 'then frames pass through again');
  }
});

test('with the next frame known, the gap leads into it: no cross-fade needed, the join is exact', () => {
  const period = 91;
  const signal = periodic(N * 14, period);
  const fs = frames(signal);
  const c = new Concealer(N, RATE);
  for (let i = 0; i < 10; i++) c.good(fs[i]!);
  const filled = c.conceal(fs[11]!, 1);
  const truth = fs[10]!;
  const snr = 10 * Math.log10(energy(truth) / Math.max(1, errorEnergy(truth, filled)));
  assert.ok(snr > 30, `interpolated ${snr.toFixed(1)} dB`); // both sides fade a little towards the middle
  assert.equal(c.good(fs[11]!), fs[11], 'the next frame plays unchanged');
  // A two-frame gap.
  const c2 = new Concealer(N, RATE);
  for (let i = 0; i < 10; i++) c2.good(fs[i]!);
  const a = c2.conceal(fs[12]!, 2);
  const b = c2.conceal(fs[12]!, 1);
  assert.equal(c2.good(fs[12]!), fs[12]);
  // A periodic wave: both sides agree, so full level all the way through (the fade of each side is averaged out).
  const gapTruth = new Int16Array([...fs[10]!, ...fs[11]!]);
  const gap = new Int16Array([...a, ...b]);
  assert.ok(energy(gap) > 0.5 * energy(gapTruth));
});

test('splice: a frame after a skipped one is cross-faded in', () => {
  const fs = frames(periodic(N * 12, 80));
  const c = new Concealer(N, RATE);
  for (let i = 0; i < 6; i++) c.good(fs[i]!);
  const skipped = fs[7]!; // fs[6] is skipped
  c.splice();
  const out = c.good(skipped);
  assert.notEqual(out, skipped);
  assert.deepEqual(out.subarray(20), skipped.subarray(20));
  assert.equal(c.good(fs[8]!), fs[8]);
});

test('speech-like signal, isolated 20 ms losses: concealment error well under zero-fill', (t) => {
  const speech = new SpeechLikeSignal(RATE, 4).next(RATE * 30);
  const fs = frames(speech);
  let signal = 0;
  let forwardError = 0;
  let lookaheadError = 0;
  for (const lookahead of [false, true]) {
    const c = new Concealer(N, RATE);
    for (let i = 0; i < fs.length - 1; i++) {
      const f = fs[i]!;
      if (i % 17 === 8) {
        const out = lookahead ? c.conceal(fs[i + 1]!, 1) : c.conceal();
        if (lookahead) lookaheadError += errorEnergy(f, out);
        else {
          forwardError += errorEnergy(f, out);
          signal += energy(f);
        }
      } else {
        c.good(f);
      }
    }
  }
  const forwardDb = 10 * Math.log10(signal / forwardError);
  const lookaheadDb = 10 * Math.log10(signal / lookaheadError);
  t.diagnostic(`lost frames' SNR: zero-fill 0 dB, forward repetition ${forwardDb.toFixed(2)} dB, with the next frame ${lookaheadDb.toFixed(2)} dB`);
  assert.ok(forwardDb > 0.3, `forward ${forwardDb}`);
  assert.ok(lookaheadDb > 2, `look-ahead ${lookaheadDb}`);
});

test('16 kHz: the same behaviour at twice the samples', () => {
  const c = new Concealer(320, 16000);
  const fs = frames(periodic(320 * 10, 160), 320);
  for (const f of fs) c.good(f);
  const out = c.conceal();
  assert.equal(c.pitchSamples % 160, 0);
  const truth = periodic(320 * 11, 160).subarray(320 * 10);
  assert.ok(errorEnergy(truth, out, 0, 160) < 1e-4 * energy(truth, 0, 160));
  for (let i = 0; i < 3; i++) c.conceal();
  assert.ok(c.conceal().every((v) => v === 0));
});

test('reset forgets the history; bad arguments are refused', () => {
  const c = new Concealer(N, RATE);
  c.good(periodic(N, 50));
  c.reset();
  assert.deepEqual(c.conceal(), new Int16Array(N));
  assert.throws(() => c.good(new Int16Array(10)), RangeError);
  assert.throws(() => new Concealer(0, RATE), RangeError);
  assert.throws(() => new Concealer(N, 100), RangeError);
});
