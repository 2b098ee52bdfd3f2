import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from '../../src/media/g711.js';
import { Resampler } from '../../src/media/Resampler.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { polyphaseDesign } from '../../src/media/polyphaseDesign.js';
import {
  nativeLoadError,
  nativeMedia,
  NativeResampler,
  NATIVE_ABI_VERSION,
  type NativeMedia,
  type NativePolyphaseFilter,
} from '../../src/media/native.js';

/** Without the addon every native test is skipped with the loader's reason, never passed silently. */
const skip: string | false = nativeMedia === null ? `native addon unavailable: ${nativeLoadError ?? 'no reason given'}` : false;

function addon(): NativeMedia {
  if (nativeMedia === null) throw new Error(`unreachable: ${nativeLoadError ?? ''}`);
  return nativeMedia;
}

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
const ERROR_CODE = 'TTMA_ERR_NATIVE_ARGUMENT';

/** mulberry32: deterministic random input. */
function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSamples(count: number, seed: number): Int16Array {
  const next = rng(seed);
  return Int16Array.from({ length: count }, () => Math.floor(next() * 65536) - 32768);
}

function speech(rate: number, seconds: number, seed: number): Int16Array {
  return new SpeechLikeSignal(rate, seed).next(Math.round(rate * seconds));
}

/** Full-scale square wave: sums beyond Int16 range, so the clamp is compared too. */
function square(rate: number, seconds: number, hz: number): Int16Array {
  const period = rate / hz;
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, n) => ((n % period) < period / 2 ? 32767 : -32768));
}

interface Streamer {
  process(input: Int16Array): Int16Array;
}

/** Feed `input` in chunks of `chunk` samples (20 ms frames unless stated) and join the output. */
function stream(r: Streamer, input: Int16Array, chunk: number): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(r.process(input.subarray(i, i + chunk)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function maxAbsDiff(a: Int16Array, b: Int16Array): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function expectThrow(fn: () => unknown, type: typeof TypeError | typeof RangeError, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.equal((err as { code?: string }).code, ERROR_CODE);
    if (pattern !== undefined) assert.match((err as Error).message, pattern);
    return true;
  });
}

test('loader: either the addon loaded or the reason is kept', () => {
  if (nativeMedia === null) {
    assert.equal(typeof nativeLoadError, 'string');
    assert.ok(nativeLoadError!.length > 0);
  } else {
    assert.equal(nativeLoadError, null);
    assert.equal(nativeMedia.abiVersion, NATIVE_ABI_VERSION);
    assert.ok(['avx2-fma', 'scalar'].includes(nativeMedia.kernel));
    assert.ok(['avx2', 'scalar'].includes(nativeMedia.g711Kernel));
  }
});

test('G.711 decode: all 256 codes bit-identical to the TypeScript, both laws', { skip }, () => {
  const n = addon();
  for (const [name, native, ts] of [
    ['pcmu', n.pcmuDecode, pcmuDecode],
    ['pcma', n.pcmaDecode, pcmaDecode],
  ] as const) {
    const out = new Int16Array(256);
    assert.equal(native(ALL_CODES, out), 256);
    assert.deepEqual(out, ts(ALL_CODES), name);
  }
});

test('G.711 encode: all 65536 samples bit-identical to the TypeScript, both laws', { skip }, () => {
  const n = addon();
  for (const [name, native, ts] of [
    ['pcmu', n.pcmuEncode, pcmuEncode],
    ['pcma', n.pcmaEncode, pcmaEncode],
  ] as const) {
    const out = new Uint8Array(65536);
    assert.equal(native(ALL_SAMPLES, out), 65536);
    assert.deepEqual(out, ts(ALL_SAMPLES), name);
  }
});

test('G.711: Buffers, odd byte offsets, longer outputs and empty input', { skip }, () => {
  const n = addon();
  // A Buffer view at an odd offset into a larger allocation, as pooled network buffers are.
  const backing = Buffer.alloc(1 + 160 + 7);
  ALL_CODES.subarray(0, 160).forEach((c, i) => (backing[1 + i] = c));
  const frame = backing.subarray(1, 161);
  const out = new Int16Array(200).fill(12345);
  assert.equal(n.pcmaDecode(frame, out), 160);
  assert.deepEqual(out.subarray(0, 160), pcmaDecode(frame));
  assert.equal(out[160], 12345, 'wrote past src.length');

  const samples = randomSamples(161, 3).subarray(1);
  const bytes = Buffer.alloc(170, 0xaa);
  assert.equal(n.pcmuEncode(samples, bytes), 160);
  assert.deepEqual(new Uint8Array(bytes.subarray(0, 160)), pcmuEncode(samples));
  assert.equal(bytes[160], 0xaa);

  assert.equal(n.pcmuDecode(new Uint8Array(0), new Int16Array(0)), 0);
  assert.equal(n.pcmaEncode(new Int16Array(0), new Uint8Array(0)), 0);
});

test('G.711 round trip through native encode and decode equals the TypeScript round trip on speech', { skip }, () => {
  const n = addon();
  const x = speech(8000, 2, 11);
  for (const [enc, dec, tsEnc, tsDec] of [
    [n.pcmuEncode, n.pcmuDecode, pcmuEncode, pcmuDecode],
    [n.pcmaEncode, n.pcmaDecode, pcmaEncode, pcmaDecode],
  ] as const) {
    const codes = new Uint8Array(x.length);
    const back = new Int16Array(x.length);
    enc(x, codes);
    dec(codes, back);
    assert.deepEqual(back, tsDec(tsEnc(x)));
  }
});

test('G.711: every length 0..70 (vector body and scalar tail) at several offsets equals the TypeScript', { skip }, () => {
  const n = addon();
  const samples = randomSamples(80, 21);
  const codes = Uint8Array.from(samples, (v) => v & 0xff);
  for (let offset = 0; offset < 3; offset++) {
    for (let length = 0; length <= 70; length++) {
      const s = samples.subarray(offset, offset + length);
      const c = codes.subarray(offset, offset + length);
      const pcm = new Int16Array(length);
      const bytes = new Uint8Array(length);
      n.pcmuDecode(c, pcm);
      assert.deepEqual(pcm, pcmuDecode(c), `pcmu decode length ${length}`);
      n.pcmaDecode(c, pcm);
      assert.deepEqual(pcm, pcmaDecode(c), `pcma decode length ${length}`);
      n.pcmuEncode(s, bytes);
      assert.deepEqual(bytes, pcmuEncode(s), `pcmu encode length ${length}`);
      n.pcmaEncode(s, bytes);
      assert.deepEqual(bytes, pcmaEncode(s), `pcma encode length ${length}`);
    }
  }
});

test('G.711: src and dst sharing memory give what the TypeScript loop gives', { skip }, () => {
  const n = addon();
  const init = randomSamples(200, 8);
  const cases = [
    ['pcmuDecode', 0, 0],
    ['pcmaDecode', 0, 0],
    ['pcmuDecode', 64, 0],
    ['pcmuEncode', 0, 0],
    ['pcmaEncode', 0, 1],
    ['pcmaEncode', 0, 40],
  ] as const;
  for (const [name, srcByte, dstByte] of cases) {
    const run = (impl: 'ts' | 'native'): Int16Array => {
      const buffer = new ArrayBuffer(400);
      new Int16Array(buffer).set(init);
      if (name.endsWith('Decode')) {
        const src = new Uint8Array(buffer, srcByte, 100);
        const dst = new Int16Array(buffer, dstByte, 100);
        if (impl === 'native') (name === 'pcmuDecode' ? n.pcmuDecode : n.pcmaDecode)(src, dst);
        else (name === 'pcmuDecode' ? pcmuDecode : pcmaDecode)(src, dst);
      } else {
        const src = new Int16Array(buffer, srcByte, 100);
        const dst = new Uint8Array(buffer, dstByte, 100);
        if (impl === 'native') (name === 'pcmuEncode' ? n.pcmuEncode : n.pcmaEncode)(src, dst);
        else (name === 'pcmuEncode' ? pcmuEncode : pcmaEncode)(src, dst);
      }
      return new Int16Array(buffer);
    };
    assert.deepEqual(run('native'), run('ts'), `${name} src at byte ${srcByte}, dst at byte ${dstByte}`);
  }
});

/** The pairs the call path uses, both directions, plus the rest of the 8/16/24/48 kHz grid. */
const PAIRS: readonly [number, number][] = [
  [8000, 16000],
  [16000, 8000],
  [8000, 24000],
  [24000, 8000],
  [16000, 48000],
  [48000, 16000],
  [16000, 24000],
  [24000, 16000],
  [8000, 48000],
  [48000, 8000],
  [24000, 48000],
  [48000, 24000],
];

/** Stated tolerance: none. The C sums in double in the TypeScript's order, so every sample is equal. */
const RESAMPLE_TOLERANCE_LSB = 0;

for (const kernel of ['auto', 'scalar'] as const) {
  test(`resampler (${kernel} kernel): equal to the TypeScript within ${RESAMPLE_TOLERANCE_LSB} LSB, 20 ms frames, random, speech and clipping input`, { skip }, () => {
    const n = addon();
    for (const [from, to] of PAIRS) {
      const frame = from / 50;
      const signals: [string, Int16Array][] = [
        ['random', randomSamples(from, from + to)],
        ['speech', speech(from, 2, 7)],
        ['square', square(from, 0.3, 1000)],
      ];
      for (const [name, x] of signals) {
        const ts = stream(new Resampler(from, to), x, frame);
        const nr = new NativeResampler(from, to, n, kernel);
        const native = stream(nr, x, frame);
        const diff = maxAbsDiff(native, ts);
        assert.ok(diff <= RESAMPLE_TOLERANCE_LSB, `${from} -> ${to} ${name}: max |diff| ${diff} LSB`);
        assert.equal(nr.kernel, kernel === 'scalar' ? 'scalar' : n.kernel);
      }
    }
  });
}

test('resampler: native output does not depend on chunking, and longer chunks grow the work buffer', { skip }, () => {
  const n = addon();
  for (const [from, to] of PAIRS) {
    const x = speech(from, 0.5, 5);
    const whole = new NativeResampler(from, to, n).process(x);
    for (const chunk of [1, 7, from / 50, 333, 4 * (from / 50) + 3]) {
      assert.deepEqual(stream(new NativeResampler(from, to, n), x, chunk), whole, `${from} -> ${to} in chunks of ${chunk}`);
    }
    assert.deepEqual(whole, new Resampler(from, to).process(x), `${from} -> ${to} in one piece`);
  }
});

test('resampler: reset, same rate, outputLength and process(out) behave as Resampler', { skip }, () => {
  const n = addon();
  const x = speech(16000, 0.2, 9);
  const r = new NativeResampler(16000, 8000, n);
  const first = r.process(x);
  r.reset();
  assert.deepEqual(r.process(x), first);
  assert.equal(r.outputLength(3), 1);
  const out = new Int16Array(500);
  const view = r.process(x.subarray(0, 321), out);
  assert.equal(view.length, new Resampler(16000, 8000).outputLength(321));
  assert.equal(view.buffer, out.buffer);
  const same = new NativeResampler(8000, 8000, n);
  assert.deepEqual(same.process(x.subarray(0, 160)), x.subarray(0, 160));
  assert.equal(same.kernel, null);
  assert.equal(new NativeResampler(8000, 16000, n).delayOutputSamples, new Resampler(8000, 16000).delayOutputSamples);
});

test('addon loads and works in a worker thread', { skip }, async () => {
  const url = new URL('../../src/media/native.js', import.meta.url).href;
  const source = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then(({ nativeMedia, nativeLoadError }) => {
      const out = new Int16Array(2);
      nativeMedia.pcmuDecode(new Uint8Array([0, 255]), out);
      parentPort.postMessage({ error: nativeLoadError, out: Array.from(out) });
    }, (err) => parentPort.postMessage({ error: String(err) }));`;
  const worker = new Worker(source, { eval: true });
  const reply = await new Promise<{ error: string | null; out?: number[] }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(reply.error, null);
  assert.deepEqual(reply.out, Array.from(pcmuDecode(new Uint8Array([0, 255]))));
});

test('G.711: misuse throws TypeError or RangeError, never crashes', { skip }, () => {
  const n = addon();
  const decoders = [n.pcmuDecode, n.pcmaDecode];
  const encoders = [n.pcmuEncode, n.pcmaEncode];
  for (const decode of decoders) {
    const call = decode as (...args: unknown[]) => number;
    expectThrow(() => call(), TypeError, /src must be a Uint8Array, not undefined/);
    expectThrow(() => call(new Uint8Array(4)), TypeError, /dst must be an? Int16Array|dst must be a Int16Array/);
    expectThrow(() => call(new Int16Array(4), new Int16Array(4)), TypeError, /src must be a Uint8Array, not Int16Array/);
    expectThrow(() => call(new Uint8ClampedArray(4), new Int16Array(4)), TypeError);
    expectThrow(() => call(new Uint8Array(4), new Uint16Array(4)), TypeError);
    expectThrow(() => call(new DataView(new ArrayBuffer(4)), new Int16Array(4)), TypeError);
    expectThrow(() => call([1, 2, 3], new Int16Array(4)), TypeError);
    expectThrow(() => call('abc', new Int16Array(4)), TypeError);
    expectThrow(() => call(null, new Int16Array(4)), TypeError);
    expectThrow(() => call(new ArrayBuffer(4), new Int16Array(4)), TypeError);
    expectThrow(() => call(new Uint8Array(161), new Int16Array(160)), RangeError, /dst holds 160 samples, src has 161 bytes/);
  }
  for (const encode of encoders) {
    const call = encode as (...args: unknown[]) => number;
    expectThrow(() => call(new Uint8Array(4), new Uint8Array(4)), TypeError, /src must be a Int16Array|src must be an Int16Array/);
    expectThrow(() => call(new Int16Array(4), new Int16Array(4)), TypeError);
    expectThrow(() => call(new Int16Array(4), {}), TypeError);
    expectThrow(() => call(new Int16Array(4), new Uint8Array(3)), RangeError);
  }
  // Detached buffers read as empty: decoding nothing is fine, writing into nothing is refused.
  const gone = new ArrayBuffer(16);
  const detached = new Uint8Array(gone);
  structuredClone(gone, { transfer: [gone] });
  assert.equal(n.pcmuDecode(detached, new Int16Array(0)), 0);
  expectThrow(() => n.pcmuEncode(new Int16Array(4), detached), RangeError);
  // SharedArrayBuffer-backed arrays are ordinary typed arrays.
  const shared = new Int16Array(new SharedArrayBuffer(320));
  shared.set(randomSamples(160, 1));
  const codes = new Uint8Array(160);
  n.pcmaEncode(shared, codes);
  assert.deepEqual(codes, pcmaEncode(shared));
  // Extra arguments are ignored.
  assert.equal((n.pcmuDecode as (...args: unknown[]) => number)(new Uint8Array(2), new Int16Array(2), 'extra'), 2);
});

function filterArgs(from: number, to: number): Parameters<NativeMedia['polyphaseFilter']> {
  const d = polyphaseDesign(from, to);
  return [
    d.coefs.slice(),
    d.branchStart.slice(),
    d.branchLength.slice(),
    d.branchReach.slice(),
    d.branchSymmetric.slice(),
    d.info.up,
    d.info.down,
    d.history,
  ];
}

test('polyphaseFilter: inconsistent tables are refused', { skip }, () => {
  const n = addon();
  const make = n.polyphaseFilter as (...args: unknown[]) => NativePolyphaseFilter;
  const good = filterArgs(8000, 24000);
  const with_ = (index: number, value: unknown): unknown[] => good.map((v, i) => (i === index ? value : v));
  assert.equal(typeof make(...good), 'object');
  expectThrow(() => make(), TypeError, /coefs must be a Float32Array/);
  expectThrow(() => make(...with_(0, new Float64Array(4))), TypeError);
  expectThrow(() => make(...with_(0, new Float32Array(0))), RangeError);
  expectThrow(() => make(...with_(1, new Int32Array([0, 0]))), RangeError, /branch tables must have up = 3 entries/);
  expectThrow(() => make(...with_(1, new Int32Array([0, 0, 1e6]))), RangeError, /branch 2 covers/);
  expectThrow(() => make(...with_(1, new Int32Array([-1, 0, 0]))), RangeError, /branch 0 covers/);
  expectThrow(() => make(...with_(2, new Int32Array([0, 1, 1]))), RangeError, /branch 0 covers/);
  expectThrow(() => make(...with_(3, new Int32Array([-5, 0, 0]))), RangeError, /need taps - 1 <= reach < history/);
  expectThrow(() => make(...with_(3, new Int32Array([1e6, 0, 0]))), RangeError, /need taps - 1 <= reach < history/);
  expectThrow(() => make(...with_(4, new Uint8Array([2, 0, 0]))), RangeError, /must be 0 or 1/);
  expectThrow(() => make(...with_(5, 0)), RangeError);
  expectThrow(() => make(...with_(5, 1.5)), RangeError);
  expectThrow(() => make(...with_(5, Number.NaN)), RangeError);
  expectThrow(() => make(...with_(5, '3')), TypeError);
  expectThrow(() => make(...with_(6, 2000)), RangeError);
  expectThrow(() => make(...with_(7, 1)), RangeError, /reach/);
  expectThrow(() => make(...with_(7, 2 ** 40)), RangeError);
  expectThrow(() => make(...good, 'fast'), RangeError, /kernel/);
  expectThrow(() => make(...good, 1), TypeError, /kernel/);
  make(...good, 'scalar');
  make(...good, 'auto');
});

test('polyphaseProcess: misuse throws before writing anything, never crashes', { skip }, () => {
  const n = addon();
  const process = n.polyphaseProcess as (...args: unknown[]) => number;
  const d = polyphaseDesign(16000, 8000);
  const filter = n.polyphaseFilter(...filterArgs(16000, 8000));
  const work = new Float32Array(d.history + 320);
  const state = new Int32Array(3);
  const input = randomSamples(320, 5);
  const output = new Int16Array(160);
  assert.equal(process(filter, work, state, input, output), 160);

  expectThrow(() => process({}, work, state, input, output), TypeError, /handle from polyphaseFilter/);
  expectThrow(() => process(Object.create(filter), work, state, input, output), TypeError);
  expectThrow(() => process(filter.constructor, work, state, input, output), TypeError);
  expectThrow(() => process(structuredClone({ ...filter }), work, state, input, output), TypeError);
  expectThrow(() => process(null, work, state, input, output), TypeError);
  expectThrow(() => process(filter, new Float64Array(work.length), state, input, output), TypeError);
  expectThrow(() => process(filter, work, new Uint32Array(3), input, output), TypeError);
  expectThrow(() => process(filter, work, new Int32Array(4), input, output), RangeError, /state must hold 3/);
  expectThrow(() => process(filter, work, state, new Uint8Array(320), output), TypeError);
  expectThrow(() => process(filter, work, state, input, new Int16Array(159)), RangeError, /output holds 159/);
  expectThrow(() => process(filter, new Float32Array(d.history + 319), state, input, output), RangeError, /work holds/);

  const before = { work: work.slice(), state: state.slice(), output: output.slice() };
  for (const bad of [
    [0, 1, 0],
    [0, -1, 0],
    [0, 0, 2],
    [0, 0, -1],
    [-1e9, 0, 0],
    [1e9, 0, 0],
    [2 ** 31 - 1, 0, 0],
    [-(2 ** 31), 0, 0],
    // Memory-safe but reading past the input's end (a state from another stream or filter).
    [2, 0, 0],
    [-d.history, 0, 0],
  ]) {
    const s = Int32Array.from(bad);
    expectThrow(() => process(filter, work, s, input, output), RangeError, /state/);
    assert.deepEqual(s, Int32Array.from(bad), 'state changed on error');
  }
  // Buffers sharing memory are refused.
  const block = new ArrayBuffer(4 * (d.history + 320) + 640);
  const w = new Float32Array(block, 0, d.history + 320);
  expectThrow(() => process(filter, w, state, new Int16Array(block, 0, 320), output), RangeError, /share memory/);
  expectThrow(() => process(filter, work, state, input, input.subarray(0, 160)), RangeError, /share memory/);
  const zeroed = new Float32Array(d.history + 320);
  expectThrow(() => process(filter, zeroed, new Int32Array(zeroed.buffer, 0, 3), input, output), RangeError, /share memory/);
  assert.deepEqual(work, before.work);
  assert.deepEqual(state, before.state);
  assert.deepEqual(output, before.output);
  // Garbage in the work buffer (NaN, infinities) gives clamped or zero samples, like the TypeScript.
  const dirty = new Float32Array(d.history + 320).fill(Number.NaN);
  dirty[d.history - 1] = Number.POSITIVE_INFINITY;
  process(filter, dirty, new Int32Array(3), input, output);
  // Empty input with a valid state is a no-op that returns 0.
  assert.equal(process(filter, work, state, new Int16Array(0), output), 0);
});

test('random argument storm: every call returns or throws TypeError/RangeError', { skip }, () => {
  const n = addon();
  const next = rng(99);
  const filter = n.polyphaseFilter(...filterArgs(8000, 16000));
  const pool: (() => unknown)[] = [
    () => undefined,
    () => null,
    () => 0,
    () => -1,
    () => 2 ** 53,
    () => Number.NaN,
    () => 'x',
    () => ({}),
    () => [],
    () => filter,
    () => new Uint8Array(Math.floor(next() * 400)),
    () => new Int16Array(Math.floor(next() * 400)),
    () => new Float32Array(Math.floor(next() * 400)),
    () => Int32Array.from({ length: 3 }, () => Math.floor((next() - 0.5) * 2 ** 32)),
    () => Int32Array.from({ length: 3 }, () => Math.floor(next() * 4) - 1),
    () => new Int32Array(Math.floor(next() * 5)),
    () => new Uint8Array(Math.floor(next() * 3)),
    () => new ArrayBuffer(8),
    () => Buffer.alloc(Math.floor(next() * 400)),
  ];
  const fns = Object.values(n).filter((v): v is (...args: unknown[]) => unknown => typeof v === 'function');
  let returned = 0;
  let thrown = 0;
  for (let i = 0; i < 20000; i++) {
    const fn = fns[Math.floor(next() * fns.length)]!;
    const args = Array.from({ length: Math.floor(next() * 10) }, () => pool[Math.floor(next() * pool.length)]!());
    try {
      fn(...args);
      returned++;
    } catch (err) {
      assert.ok(err instanceof TypeError || err instanceof RangeError, String(err));
      assert.equal((err as { code?: string }).code, ERROR_CODE);
      thrown++;
    }
  }
  assert.ok(returned > 0 && thrown > 0);
});
