import { test } from 'node:test';
import assert from 'node:assert/strict';
import alawmulaw from 'alawmulaw';
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from '../../src/media/g711.js';

const { alaw, mulaw } = alawmulaw;

/** Every Int16 value, -32768 .. 32767. */
function allSamples(): Int16Array {
  const all = new Int16Array(65536);
  for (let i = 0; i < all.length; i++) all[i] = i - 32768;
  return all;
}

function allCodes(): Uint8Array {
  const all = new Uint8Array(256);
  for (let i = 0; i < all.length; i++) all[i] = i;
  return all;
}

function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

test('PCMU encode is bit-exact with alawmulaw for all 65536 samples', () => {
  const samples = allSamples();
  const i = firstMismatch(pcmuEncode(samples), mulaw.encode(samples));
  assert.equal(i, -1, `first mismatch at sample ${samples[i]}`);
});

test('PCMA encode is bit-exact with alawmulaw for all 65536 samples', () => {
  const samples = allSamples();
  const i = firstMismatch(pcmaEncode(samples), alaw.encode(samples));
  assert.equal(i, -1, `first mismatch at sample ${samples[i]}`);
});

test('PCMU and PCMA decode are bit-exact with alawmulaw for all 256 codes', () => {
  const codes = allCodes();
  assert.equal(firstMismatch(pcmuDecode(codes), mulaw.decode(codes)), -1);
  assert.equal(firstMismatch(pcmaDecode(codes), alaw.decode(codes)), -1);
});

test('G.711 anchor values: silence codes and full scale', () => {
  // mu-law silence is 0xFF (G.711 table 2a, inverted), A-law is 0xD5 (even bits inverted).
  assert.equal(pcmuEncode(new Int16Array([0]))[0], 0xff);
  assert.equal(pcmaEncode(new Int16Array([0]))[0], 0xd5);
  assert.deepEqual([...pcmuDecode(new Uint8Array([0xff, 0x7f, 0x80, 0x00]))], [0, 0, 32124, -32124]);
  assert.deepEqual([...pcmaDecode(new Uint8Array([0xd5, 0x55, 0xaa, 0x2a]))], [8, -8, 32256, -32256]);
});

test('decode then encode returns every code (except mu-law negative zero 0x7F)', () => {
  const codes = allCodes();
  const mu = pcmuEncode(pcmuDecode(codes));
  const a = pcmaEncode(pcmaDecode(codes));
  for (let c = 0; c < 256; c++) {
    if (c !== 0x7f) assert.equal(mu[c], c, `mu-law code ${c}`);
    assert.equal(a[c], c, `A-law code ${c}`);
  }
  assert.equal(mu[0x7f], 0xff);
});

test('round trip error stays within one quantization step of the segment', () => {
  const samples = allSamples();
  const mu = pcmuDecode(pcmuEncode(samples));
  const a = pcmaDecode(pcmaEncode(samples));
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    const mag = Math.min(Math.abs(s), 32000);
    // Step size doubles per segment: mu-law 8 << segment, A-law 16 << (segment - 1).
    const step = Math.max(16, 2 ** Math.ceil(Math.log2(mag + 1)) / 16);
    if (Math.abs(s) <= 32000) {
      assert.ok(Math.abs(mu[i]! - s) <= step, `mu-law ${s} -> ${mu[i]}`);
      assert.ok(Math.abs(a[i]! - s) <= step, `A-law ${s} -> ${a[i]}`);
    }
  }
});

test('out buffers are filled and returned; short out throws RangeError', () => {
  const pcm = new Int16Array([0, 1000, -1000, 32767]);
  const bytes = new Uint8Array(8);
  assert.equal(pcmuEncode(pcm, bytes), bytes);
  assert.deepEqual([...bytes.subarray(0, 4)], [...pcmuEncode(pcm)]);
  assert.equal(pcmaEncode(pcm, bytes), bytes);
  assert.deepEqual([...bytes.subarray(0, 4)], [...pcmaEncode(pcm)]);
  const back = new Int16Array(4);
  assert.equal(pcmuDecode(pcmuEncode(pcm), back), back);
  assert.deepEqual([...back], [...pcmuDecode(pcmuEncode(pcm))]);
  assert.equal(pcmaDecode(pcmaEncode(pcm), back), back);
  assert.throws(() => pcmuEncode(pcm, new Uint8Array(3)), RangeError);
  assert.throws(() => pcmaEncode(pcm, new Uint8Array(3)), RangeError);
  assert.throws(() => pcmuDecode(new Uint8Array(4), new Int16Array(3)), RangeError);
  assert.throws(() => pcmaDecode(new Uint8Array(4), new Int16Array(3)), RangeError);
  assert.equal(pcmuEncode(new Int16Array(0)).length, 0);
});
