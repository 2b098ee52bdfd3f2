import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { fft, nextPowerOfTwo } from '../../src/media/fft.js';

const RATE = 8000;
const SECONDS = 10;

function dbfs(v: number): number {
  return 20 * Math.log10(v / 32767);
}

/** Share of the signal's energy above `hz`, in dB. */
function energyAboveDb(x: Int16Array, rate: number, hz: number): number {
  const size = nextPowerOfTwo(x.length);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(x);
  fft(re, im);
  let total = 0;
  let above = 0;
  for (let k = 1; k < size / 2; k++) {
    const p = re[k]! ** 2 + im[k]! ** 2;
    total += p;
    if ((k * rate) / size > hz) above += p;
  }
  return 10 * Math.log10(above / total + 1e-30);
}

/** RMS per 10 ms hop. */
function envelope(x: Int16Array, rate: number): number[] {
  const hop = rate / 100;
  const env: number[] = [];
  for (let i = 0; i + hop <= x.length; i += hop) {
    let e = 0;
    for (let j = i; j < i + hop; j++) e += x[j]! ** 2;
    env.push(Math.sqrt(e / hop));
  }
  return env;
}

const signal = new SpeechLikeSignal(RATE, 1).next(RATE * SECONDS);

test('deterministic: the same seed gives the same samples, however they are requested', () => {
  const again = new SpeechLikeSignal(RATE, 1);
  const pieces = new Int16Array(signal.length);
  let at = 0;
  for (const size of [1, 159, 160, 333, 4000, 7]) {
    pieces.set(again.next(size), at);
    at += size;
  }
  const out = new Int16Array(signal.length - at);
  assert.equal(again.next(out.length, out), out);
  pieces.set(out, at);
  assert.deepEqual(pieces, signal);
});

test('level: peaks near -6 dBFS, never clips, speech-like crest factor', () => {
  let peak = 0;
  let energy = 0;
  for (const v of signal) {
    peak = Math.max(peak, Math.abs(v));
    energy += v * v;
  }
  const rms = Math.sqrt(energy / signal.length);
  assert.ok(dbfs(peak) > -7.5 && dbfs(peak) <= -6, `peak ${dbfs(peak).toFixed(2)} dBFS`);
  assert.ok(dbfs(rms) > -28 && dbfs(rms) < -15, `rms ${dbfs(rms).toFixed(2)} dBFS`);
});

test('band limited below 3.4 kHz at 8 and 16 kHz', () => {
  assert.ok(energyAboveDb(signal, RATE, 3400) < -50, 'energy above 3.4 kHz at 8 kHz');
  const wide = new SpeechLikeSignal(16000, 1).next(16000 * 4);
  assert.ok(energyAboveDb(wide, 16000, 3400) < -50, 'energy above 3.4 kHz at 16 kHz');
});

test('not a tone: no single frequency holds more than 1% of the energy', () => {
  const size = nextPowerOfTwo(signal.length);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(signal);
  fft(re, im);
  let total = 0;
  let max = 0;
  for (let k = 1; k < size / 2; k++) {
    const p = re[k]! ** 2 + im[k]! ** 2;
    total += p;
    max = Math.max(max, p);
  }
  assert.ok(max / total < 0.01, `largest bin ${(max / total).toExponential(2)}`);
});

test('syllables at 3-5 per second of speech, with short pauses', () => {
  const env = envelope(signal, RATE);
  const max = Math.max(...env);
  let high = false;
  let syllables = 0;
  let quietRun = 0;
  let pauses = 0;
  for (const v of env) {
    if (!high && v > 0.3 * max) {
      high = true;
      syllables++;
    } else if (high && v < 0.1 * max) {
      high = false;
    }
    quietRun = v < 0.01 * max ? quietRun + 1 : 0;
    if (quietRun === 10) pauses++; // 100 ms near silence
  }
  assert.ok(syllables >= 22 && syllables <= 45, `${syllables} syllables in ${SECONDS} s`);
  assert.ok(pauses >= 2, `${pauses} pauses`);
});

test('pitch glides within 90-250 Hz (autocorrelation pitch of voiced 40 ms windows)', () => {
  const window = 320;
  const minLag = Math.floor(RATE / 260);
  const maxLag = Math.ceil(RATE / 85);
  const pitches: number[] = [];
  for (let i = 0; i + window + maxLag <= signal.length; i += 160) {
    let e0 = 0;
    for (let j = 0; j < window; j++) e0 += signal[i + j]! ** 2;
    if (e0 / window < 1000 ** 2) continue;
    let bestLag = 0;
    let best = -1;
    for (let lag = minLag; lag <= maxLag; lag++) {
      let c = 0;
      let e1 = 0;
      for (let j = 0; j < window; j++) {
        c += signal[i + j]! * signal[i + j + lag]!;
        e1 += signal[i + j + lag]! ** 2;
      }
      c /= Math.sqrt(e0 * e1);
      if (c > best) {
        best = c;
        bestLag = lag;
      }
    }
    if (best > 0.6) pitches.push(RATE / bestLag);
  }
  pitches.sort((a, b) => a - b);
  assert.ok(pitches.length > 100, `${pitches.length} voiced windows`);
  const p5 = pitches[Math.floor(pitches.length * 0.05)]!;
  const p95 = pitches[Math.floor(pitches.length * 0.95)]!;
  assert.ok(p5 >= 88 && p95 <= 255, `pitch 5th..95th percentile ${p5.toFixed(0)}..${p95.toFixed(0)} Hz`);
  assert.ok(p95 - p5 > 60, `pitch should glide, spread ${(p95 - p5).toFixed(0)} Hz`);
});

test('different seeds are uncorrelated at every lag', () => {
  for (const seed of [2, 3, 99]) {
    const other = new SpeechLikeSignal(RATE, seed).next(RATE * SECONDS);
    const { correlation } = bestLagCorrelation(signal, other, 4000);
    assert.ok(correlation < 0.3, `seed ${seed}: correlation ${correlation}`);
    assert.ok(bestLagCorrelation(other, signal, 4000).correlation < 0.3);
  }
});

test('out buffer that is too small throws RangeError', () => {
  assert.throws(() => new SpeechLikeSignal(RATE).next(10, new Int16Array(9)), RangeError);
  assert.throws(() => new SpeechLikeSignal(0), RangeError);
});
