import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeWav, encodeWav, isWav, WavError } from '../../src/media/wav.js';
import { pcmaEncode, pcmuEncode } from '../../src/media/g711.js';

/** A RIFF/WAVE file from raw chunks (id, body), with even-size padding and an optional lie in a size field. */
function riff(chunks: [string, Uint8Array, number?][]): Uint8Array {
  const parts: number[] = [];
  const put32 = (v: number) => parts.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  for (const c of 'WAVE') parts.push(c.charCodeAt(0));
  for (const [id, body, claimed] of chunks) {
    for (const c of id) parts.push(c.charCodeAt(0));
    put32(claimed ?? body.length);
    parts.push(...body);
    if (body.length & 1) parts.push(0);
  }
  const out = new Uint8Array(8 + parts.length);
  out.set([0x52, 0x49, 0x46, 0x46]);
  new DataView(out.buffer).setUint32(4, parts.length, true);
  out.set(parts, 8);
  return out;
}

function fmt(tag: number, channels: number, rate: number, bits: number, extensibleTag?: number): Uint8Array {
  const size = extensibleTag === undefined ? 16 : 40;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint16(0, extensibleTag === undefined ? tag : 0xfffe, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, (rate * channels * bits) / 8, true);
  v.setUint16(12, (channels * bits) / 8, true);
  v.setUint16(14, bits, true);
  if (extensibleTag !== undefined) {
    v.setUint16(16, 22, true);
    v.setUint16(24, extensibleTag, true);
  }
  return b;
}

const samples = Int16Array.from([0, 1000, -1000, 32767, -32768, 12345, -2]);

test('16-bit PCM round-trips exactly through encodeWav and decodeWav', () => {
  const wav = encodeWav(samples, 16000);
  assert.ok(isWav(wav));
  const d = decodeWav(wav);
  assert.equal(d.sampleRate, 16000);
  assert.equal(d.channels, 1);
  assert.equal(d.format, 'PCM 16-bit');
  assert.deepEqual([...d.pcm], [...samples]);
});

test('8, 24 and 32-bit PCM, float 32 and 64, mu-law and A-law, and the extensible wrapper all decode to the same PCM16', () => {
  const n = samples.length;
  const u8 = Uint8Array.from(samples, (s) => (s >> 8) + 128);
  const b24 = new Uint8Array(n * 3);
  const b32 = new DataView(new ArrayBuffer(n * 4));
  const f32 = new DataView(new ArrayBuffer(n * 4));
  const f64 = new DataView(new ArrayBuffer(n * 8));
  samples.forEach((s, i) => {
    b24.set([0x5a, s & 255, (s >> 8) & 255], 3 * i); // low byte is sub-16-bit detail
    b32.setInt32(4 * i, s * 65536 + 0x1234, true);
    f32.setFloat32(4 * i, s / 32768, true);
    f64.setFloat64(8 * i, s / 32768, true);
  });
  const cases: [string, Uint8Array, (s: number) => number][] = [
    ['PCM 8-bit', riff([['fmt ', fmt(1, 1, 8000, 8)], ['data', u8]]), (s) => (s >> 8) << 8],
    ['PCM 24-bit', riff([['fmt ', fmt(1, 1, 8000, 24)], ['data', b24]]), (s) => s],
    ['PCM 32-bit', riff([['fmt ', fmt(1, 1, 8000, 32)], ['data', new Uint8Array(b32.buffer)]]), (s) => s],
    ['float 32-bit', riff([['fmt ', fmt(3, 1, 8000, 32)], ['data', new Uint8Array(f32.buffer)]]), (s) => s],
    ['float 64-bit', riff([['fmt ', fmt(3, 1, 8000, 64)], ['data', new Uint8Array(f64.buffer)]]), (s) => s],
    ['PCM 16-bit', riff([['fmt ', fmt(0, 1, 8000, 16, 1)], ['data', new Uint8Array(samples.buffer)]]), (s) => s],
  ];
  for (const [label, file, expected] of cases) {
    const d = decodeWav(file);
    assert.equal(d.format, label);
    d.pcm.forEach((v, i) => assert.ok(Math.abs(v - expected(samples[i]!)) <= 1, `${label} sample ${i}: ${v} vs ${expected(samples[i]!)}`));
  }
  // G.711 files decode through the codec's tables: compare with encoding then decoding.
  const mu = decodeWav(riff([['fmt ', fmt(7, 1, 8000, 8)], ['data', pcmuEncode(samples)]]));
  const a = decodeWav(riff([['fmt ', fmt(6, 1, 8000, 8)], ['data', pcmaEncode(samples)]]));
  assert.equal(mu.format, 'mu-law');
  assert.equal(a.format, 'A-law');
  mu.pcm.forEach((v, i) => assert.ok(Math.abs(v - samples[i]!) <= Math.max(8, Math.abs(samples[i]!) / 16), `mu-law ${i}`));
  a.pcm.forEach((v, i) => assert.ok(Math.abs(v - samples[i]!) <= Math.max(16, Math.abs(samples[i]!) / 16), `A-law ${i}`));
});

test('stereo is mixed down to mono; other chunks (odd-sized too) are skipped; a streaming writer\'s oversized data size is tolerated', () => {
  const stereo = new DataView(new ArrayBuffer(8));
  stereo.setInt16(0, 1000, true);
  stereo.setInt16(2, 3000, true);
  stereo.setInt16(4, -4000, true);
  stereo.setInt16(6, 0, true);
  const d = decodeWav(riff([['LIST', new Uint8Array(5).fill(65)], ['fmt ', fmt(1, 2, 44100, 16)], ['junk', new Uint8Array(3)], ['data', new Uint8Array(stereo.buffer), 0xffffffff]]));
  assert.equal(d.channels, 2);
  assert.equal(d.sampleRate, 44100);
  assert.deepEqual([...d.pcm], [2000, -2000]);
});

test('malformed files are refused with a reason, never read past the end', () => {
  const good = fmt(1, 1, 8000, 16);
  const refusals: [string, Uint8Array, RegExp][] = [
    ['not RIFF', new TextEncoder().encode('ID3 this is an mp3'), /not a WAV file/],
    ['no fmt', riff([['data', new Uint8Array(4)]]), /no "fmt " chunk/],
    ['no data', riff([['fmt ', good]]), /no "data" chunk/],
    ['fmt claims more than the file has', riff([['fmt ', good, 4000]]), /truncated/],
    ['short fmt', riff([['fmt ', good.subarray(0, 12)], ['data', new Uint8Array(4)]]), /at least 16/],
    ['zero channels', riff([['fmt ', fmt(1, 0, 8000, 16)], ['data', new Uint8Array(4)]]), /0 channels/],
    ['absurd rate', riff([['fmt ', fmt(1, 1, 1, 16)], ['data', new Uint8Array(4)]]), /sample rate 1 Hz/],
    ['ADPCM', riff([['fmt ', fmt(2, 1, 8000, 4)], ['data', new Uint8Array(4)]]), /unsupported sample format: tag 2/],
    ['12-bit PCM', riff([['fmt ', fmt(1, 1, 8000, 12)], ['data', new Uint8Array(4)]]), /unsupported sample format/],
    ['extensible without extension', riff([['fmt ', fmt(0xfffe, 1, 8000, 16)], ['data', new Uint8Array(4)]]), /extension/],
  ];
  const lyingAlign = fmt(1, 2, 8000, 16);
  new DataView(lyingAlign.buffer).setUint16(12, 3, true);
  refusals.push(['block align lies', riff([['fmt ', lyingAlign], ['data', new Uint8Array(12)]]), /block align 3/]);
  for (const [label, file, reason] of refusals) assert.throws(() => decodeWav(file), (e: unknown) => e instanceof WavError && reason.test(e.message), label);
  // Every truncation of a valid file either decodes (fewer samples) or is refused: never a crash.
  const wav = encodeWav(samples, 8000);
  for (let n = 0; n < wav.length; n++) {
    try {
      assert.ok(decodeWav(wav.subarray(0, n)).pcm.length <= samples.length);
    } catch (e) {
      assert.ok(e instanceof WavError, `cut at ${n}: ${String(e)}`);
    }
  }
});
