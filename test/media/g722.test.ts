import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { G722Decoder, G722Encoder, G722_FRAME_BYTES, type G722Mode } from '../../src/media/g722.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { fft } from '../../src/media/fft.js';

const RATE = 16000;
/** Codec delay, input to output, in samples: the two 24-tap QMFs (2 x 11.5) less one for the pairing. */
const DELAY = 22;
/** Fixtures live in the source tree; tests run from dist/test/media. */
const FIXTURES = new URL('../../../test/media/fixtures/g722/', import.meta.url);

function tone(hz: number, samples: number, amplitude: number): Int16Array {
  const x = new Int16Array(samples);
  for (let n = 0; n < samples; n++) x[n] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / RATE + 0.3));
  return x;
}

function roundTrip(x: Int16Array, mode: G722Mode = 1): Int16Array {
  return new G722Decoder(mode).decode(new G722Encoder().encode(x));
}

/** SNR of `y` against `x` delayed by DELAY, over [from, to) of x. */
function snrDb(x: Int16Array, y: Int16Array, from: number, to: number): number {
  let signal = 0;
  let noise = 0;
  for (let n = from; n < to; n++) {
    const e = y[n + DELAY]! - x[n]!;
    signal += x[n]! * x[n]!;
    noise += e * e;
  }
  return 10 * Math.log10(signal / noise);
}

/** Power spectrum (Hann window) of y[from, from + size); size a power of two. */
function powerSpectrum(y: Int16Array, from: number, size: number): Float64Array {
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let n = 0; n < size; n++) re[n] = y[from + n]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / size));
  fft(re, im);
  const p = new Float64Array(size / 2);
  for (let k = 0; k < p.length; k++) p[k] = re[k]! * re[k]! + im[k]! * im[k]!;
  return p;
}

/** Integer-only generator, so the reference vectors do not depend on Math.sin's last bit. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** 1 s of white noise (about -10 dBFS RMS) then 1 s of a +-20000 square wave with a little noise. */
function referenceInput(): Int16Array {
  const next = lcg(722);
  const x = new Int16Array(32000);
  for (let i = 0; i < 16000; i++) x[i] = (((next() >>> 16) - 32768) * 3) >> 3;
  for (let i = 16000; i < 32000; i++) x[i] = (Math.floor(i / 37) % 2 ? 20000 : -20000) + (((next() >>> 16) - 32768) >> 4);
  return x;
}

function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function readS16le(name: string): Int16Array {
  const bytes = readFileSync(new URL(name, FIXTURES));
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}

test('bit-exact with SpanDSP (an independent G.722) on a 64 kbit/s encode and decode', () => {
  const x = referenceInput();
  const bytes = new G722Encoder().encode(x);
  const reference = new Uint8Array(readFileSync(new URL('spandsp-encode.g722', FIXTURES)));
  assert.equal(firstMismatch(bytes, reference), -1);
  const y = new G722Decoder().decode(bytes);
  const digest = createHash('sha256').update(new Uint8Array(y.buffer, y.byteOffset, y.byteLength)).digest('hex');
  assert.equal(digest, '2149c03dd27054606ef5ad9c395812e3bc4bb1c9dbe37ec626f6ff945bcd779d');
});

test('random octets decode like SpanDSP in modes 1, 2 and 3, except that we saturate where it wraps', () => {
  const next = lcg(9);
  const octets = Uint8Array.from({ length: 2000 }, () => next() >>> 24);
  for (const mode of [1, 2, 3] as const) {
    const ours = new G722Decoder(mode).decode(octets);
    const reference = readS16le(`spandsp-random-mode${mode}.s16le`);
    assert.equal(ours.length, reference.length);
    let wrapped = 0;
    for (let i = 0; i < ours.length; i++) {
      if (ours[i] === reference[i]) continue;
      // SpanDSP casts the QMF output to int16 (wraps); we clip at the rails (G.722's 2012 code saturates).
      assert.ok(ours[i] === 32767 || ours[i] === -32768, `mode ${mode} sample ${i}: ${ours[i]} vs ${reference[i]}`);
      assert.ok(Math.sign(ours[i]!) !== Math.sign(reference[i]!), `mode ${mode} sample ${i} is not a wrap`);
      wrapped++;
    }
    // The comparison means something only if most samples are not at the rails.
    assert.ok(wrapped < ours.length / 4, `mode ${mode}: ${wrapped} wrapped samples`);
  }
});

test('the codec delay is 22 samples (1.375 ms): speech correlates above 0.99 exactly there', () => {
  const x = new SpeechLikeSignal(RATE, 5).next(RATE * 3);
  const y = roundTrip(x);
  const best = bestLagCorrelation(x, y, 200);
  assert.equal(best.lagSamples, DELAY);
  assert.ok(best.correlation > 0.99, `correlation ${best.correlation}`);
  assert.ok(snrDb(x, y, 1000, x.length - 1000) > 20);
});

test('tones in the speech band come back with high SNR after the delay (64 kbit/s)', () => {
  // Measured at -10 dBFS: 200 Hz 63.8 dB, 500 Hz 54.6, 1 kHz 47.6, 2 kHz 50.5, 3 kHz 41.2, 3.4 kHz 35.5.
  const limits: [number, number][] = [
    [200, 58],
    [500, 50],
    [1000, 44],
    [2000, 46],
    [3000, 37],
    [3400, 32],
  ];
  for (const [hz, minDb] of limits) {
    const x = tone(hz, RATE, 10362);
    const snr = snrDb(x, roundTrip(x), 1600, x.length - 100);
    assert.ok(snr > minDb, `${hz} Hz: SNR ${snr.toFixed(1)} dB, want > ${minDb}`);
  }
});

test('a 6 kHz tone survives (wideband, unlike G.711) with little energy anywhere else', () => {
  const x = tone(6000, RATE, 10362);
  const y = roundTrip(x);
  const size = 8192;
  const p = powerSpectrum(y, 4000, size);
  const q = powerSpectrum(x, 4000 - DELAY, size);
  const bin = Math.round((6000 * size) / RATE);
  const near = (k: number): boolean => Math.abs(k - bin) <= 4;
  let inTone = 0;
  let elsewhere = 0;
  let inToneInput = 0;
  for (let k = 1; k < p.length; k++) {
    if (near(k)) {
      inTone += p[k]!;
      inToneInput += q[k]!;
    } else {
      elsewhere += p[k]!;
    }
  }
  const gainDb = 10 * Math.log10(inTone / inToneInput);
  const restDb = 10 * Math.log10(elsewhere / inTone);
  assert.ok(Math.abs(gainDb) < 1, `6 kHz gain ${gainDb.toFixed(2)} dB`);
  assert.ok(restDb < -20, `energy outside 6 kHz ${restDb.toFixed(1)} dB`);
});

test('encoding and decoding in 20 ms frames, or in odd chunks, equals doing it at once, bit for bit', () => {
  const x = new SpeechLikeSignal(RATE, 2).next(RATE * 2);
  const whole = new G722Encoder().encode(x);
  assert.equal(whole.length, x.length / 2);

  const framed = new G722Encoder();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < x.length; i += 320) {
    const frame = framed.encode(x.subarray(i, i + 320));
    assert.equal(frame.length, G722_FRAME_BYTES);
    frames.push(frame);
  }
  assert.equal(firstMismatch(Buffer.concat(frames), whole), -1);

  const chunked = new G722Encoder();
  const parts: Uint8Array[] = [];
  const sizes = [1, 7, 320, 2, 1, 333, 159, 0, 41];
  for (let i = 0, s = 0; i < x.length; s++) {
    const n = sizes[s % sizes.length]!;
    parts.push(chunked.encode(x.subarray(i, i + n)));
    i += n;
  }
  assert.equal(firstMismatch(Buffer.concat(parts), whole), -1);

  const decodedWhole = new G722Decoder().decode(whole);
  const decoder = new G722Decoder();
  const out = new Int16Array(320);
  for (let f = 0; f < frames.length; f++) {
    assert.equal(decoder.decode(frames[f]!, out), out);
    assert.equal(firstMismatch(out, decodedWhole.subarray(f * 320, f * 320 + 320)), -1, `frame ${f}`);
  }
});

test('silence stays near silence; two-LSB noise stays tiny', () => {
  const rmsOf = (y: Int16Array): number => Math.sqrt(y.reduce((e, v) => e + v * v, 0) / y.length);
  const peakOf = (y: Int16Array): number => y.reduce((p, v) => Math.max(p, Math.abs(v)), 0);
  // Digital silence idles at a few LSB (measured: peak 4, RMS 1.4, about -87 dBFS).
  const silent = roundTrip(new Int16Array(RATE));
  assert.ok(peakOf(silent) <= 4 && rmsOf(silent) < 2, `peak ${peakOf(silent)} rms ${rmsOf(silent)}`);
  // Noise of -2..1 LSB (RMS 1.2): measured peak 11, RMS 3.3.
  const next = lcg(3);
  const lsb = Int16Array.from({ length: RATE }, () => (next() >>> 30) - 2);
  const y = roundTrip(lsb);
  assert.ok(peakOf(y) <= 16 && rmsOf(y) < 5, `peak ${peakOf(y)} rms ${rmsOf(y)}`);
});

test('extreme inputs stay in range, clip rather than wrap, and the codec recovers', () => {
  const square = Int16Array.from({ length: RATE }, (_, n) => (Math.floor(n / 80) % 2 ? 32767 : -32768)); // 100 Hz
  const nyquist = Int16Array.from({ length: RATE }, (_, n) => (n % 2 ? 32767 : -32768));
  const rails = Int16Array.from({ length: RATE }, (_, n) => (n % 3 === 0 ? 32767 : n % 3 === 1 ? -32768 : 0));
  const dc = new Int16Array(RATE).fill(-32768);
  const after = tone(1000, RATE, 10362);
  for (const [name, extreme] of Object.entries({ square, nyquist, rails, dc })) {
    const encoder = new G722Encoder();
    const decoder = new G722Decoder();
    const y = decoder.decode(encoder.encode(extreme));
    assert.equal(y.length, extreme.length);
    for (const v of y) assert.ok(Number.isInteger(v) && v >= -32768 && v <= 32767, name);
    if (name === 'square') {
      // Mid-way through each half period the output has the input's sign (a wrap would flip it).
      for (let n = 40; n + DELAY < y.length; n += 80) assert.equal(Math.sign(y[n + DELAY]!), Math.sign(extreme[n]!), `square at ${n}`);
      const peak = Math.max(...y.map(Math.abs));
      assert.ok(peak >= 32000, `square peak ${peak}`);
    }
    // Then ordinary audio through the same state: good again within 100 ms.
    const z = decoder.decode(encoder.encode(after));
    let signal = 0;
    let noise = 0;
    for (let n = 1600; n + DELAY < z.length; n++) {
      const e = z[n + DELAY]! - after[n]!;
      signal += after[n]! * after[n]!;
      noise += e * e;
    }
    const snr = 10 * Math.log10(signal / noise);
    assert.ok(snr > 40, `${name}: 1 kHz afterwards ${snr.toFixed(1)} dB`);
  }
});

test('decoding arbitrary bytes never throws, gives two samples per byte, in any mode and chunking', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 600 }),
      fc.constantFrom<G722Mode>(1, 2, 3),
      fc.integer({ min: 1, max: 200 }),
      (bytes, mode, chunk) => {
        const whole = new G722Decoder(mode).decode(bytes);
        assert.equal(whole.length, bytes.length * 2);
        const decoder = new G722Decoder(mode);
        for (let i = 0; i < bytes.length; i += chunk) {
          const part = decoder.decode(bytes.subarray(i, i + chunk));
          assert.equal(firstMismatch(part, whole.subarray(2 * i, 2 * i + part.length)), -1);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('encoders and decoders share no state: interleaved calls equal separate ones', () => {
  const a = new SpeechLikeSignal(RATE, 6).next(3200);
  const b = tone(440, 3200, 8000);
  const soloA = new G722Encoder().encode(a);
  const soloB = new G722Encoder().encode(b);
  const encA = new G722Encoder();
  const encB = new G722Encoder();
  const decA = new G722Decoder();
  const decB = new G722Decoder();
  const outA: Uint8Array[] = [];
  const outB: Uint8Array[] = [];
  for (let i = 0; i < a.length; i += 320) {
    outA.push(encA.encode(a.subarray(i, i + 320)));
    outB.push(encB.encode(b.subarray(i, i + 320)));
    decA.decode(outA.at(-1)!);
    decB.decode(outB.at(-1)!);
  }
  assert.equal(firstMismatch(Buffer.concat(outA), soloA), -1);
  assert.equal(firstMismatch(Buffer.concat(outB), soloB), -1);
  // reset() returns to the initial state.
  encA.reset();
  assert.equal(firstMismatch(encA.encode(a), soloA), -1);
});

test('modes 2 and 3 (56 and 48 kbit/s) decode a 64 kbit/s stream with less resolution', () => {
  const x = tone(1000, RATE, 10362);
  const snr = (mode: G722Mode): number => snrDb(x, roundTrip(x, mode), 1600, x.length - 100);
  const [m1, m2, m3] = [snr(1), snr(2), snr(3)];
  assert.ok(m1 > m2 && m2 > m3, `${m1} ${m2} ${m3}`);
  assert.ok(m3 > 25, `mode 3 ${m3.toFixed(1)} dB`);
});

test('argument checks: short out buffers and unknown modes are RangeErrors', () => {
  const encoder = new G722Encoder();
  assert.throws(() => encoder.encode(new Int16Array(320), new Uint8Array(159)), RangeError);
  assert.equal(encoder.outputLength(3), 1);
  encoder.encode(new Int16Array(3));
  assert.equal(encoder.outputLength(1), 1); // the leftover sample pairs with the next one
  assert.throws(() => new G722Decoder().decode(new Uint8Array(10), new Int16Array(19)), RangeError);
  assert.throws(() => new G722Decoder(4 as G722Mode), RangeError);
});
