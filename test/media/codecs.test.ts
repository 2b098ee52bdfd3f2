import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPhoneCodec } from '../../src/media/codecs.js';
import { G722Decoder, G722Encoder } from '../../src/media/g722.js';
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from '../../src/media/g711.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';

const speech = new SpeechLikeSignal(8000, 4).next(160);

test('PCMU (and audio/x-mulaw) at 8 kHz: 160-byte frames, G.711 mu-law both ways', () => {
  for (const format of [
    { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
    { encoding: 'audio/x-mulaw', sample_rate: 8000, channels: 1 },
    { encoding: 'pcmu' },
  ]) {
    const codec = createPhoneCodec(format);
    assert.equal(codec.name, 'PCMU');
    assert.equal(codec.sampleRate, 8000);
    assert.equal(codec.frameBytes, 160);
    const bytes = codec.encode(speech);
    assert.deepEqual(bytes, pcmuEncode(speech));
    assert.deepEqual(codec.decode(bytes), pcmuDecode(bytes));
  }
});

test('PCMA at 8 kHz: G.711 A-law both ways', () => {
  const codec = createPhoneCodec({ encoding: 'PCMA', sample_rate: 8000, channels: 1 });
  assert.equal(codec.name, 'PCMA');
  assert.equal(codec.frameBytes, 160);
  const bytes = codec.encode(speech);
  assert.deepEqual(bytes, pcmaEncode(speech));
  assert.deepEqual(codec.decode(bytes), pcmaDecode(bytes));
  // Not mu-law by mistake.
  assert.notDeepEqual(bytes, pcmuEncode(speech));
});

test('L16 is big-endian on the wire and lossless, at 8, 16, 24 and 48 kHz', () => {
  for (const rate of [8000, 16000, 24000, 48000]) {
    const codec = createPhoneCodec({ encoding: 'L16', sample_rate: rate, channels: 1 });
    assert.equal(codec.name, 'L16');
    assert.equal(codec.sampleRate, rate);
    assert.equal(codec.frameBytes, (rate / 50) * 2);
  }
  const codec = createPhoneCodec({ encoding: 'L16', sample_rate: 16000 });
  const pcm = new Int16Array([0x0102, -2, 32767, -32768, 0]);
  const bytes = codec.encode(pcm);
  assert.deepEqual([...bytes], [0x01, 0x02, 0xff, 0xfe, 0x7f, 0xff, 0x80, 0x00, 0x00, 0x00]);
  assert.deepEqual(codec.decode(bytes), pcm);
  const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
  assert.deepEqual(codec.decode(codec.encode(all)), all);
  // Payloads from a pooled Buffer sit at odd offsets: still read byte by byte.
  const pooled = Buffer.alloc(11);
  pooled.set(bytes, 1);
  assert.deepEqual(codec.decode(pooled.subarray(1, 11)), pcm);
  // A trailing odd byte is not a sample.
  assert.deepEqual(codec.decode(new Uint8Array([0x12, 0x34, 0x56])), new Int16Array([0x1234]));
});

test('G722 at 16 kHz: 320 samples <-> 160 bytes, a fresh encoder and decoder per codec object', () => {
  const speech16 = new SpeechLikeSignal(16000, 4).next(640);
  for (const format of [{ encoding: 'G722', sample_rate: 16000, channels: 1 }, { encoding: 'g722' }]) {
    const codec = createPhoneCodec(format);
    assert.equal(codec.name, 'G722');
    assert.equal(codec.sampleRate, 16000);
    assert.equal(codec.frameBytes, 160);
    // Two frames through the codec equal one G722Encoder/G722Decoder run over both: state carries across frames.
    const bytes = Buffer.concat([codec.encode(speech16.subarray(0, 320)), codec.encode(speech16.subarray(320))]);
    assert.deepEqual(new Uint8Array(bytes), new G722Encoder().encode(speech16));
    const pcm = new Int16Array(640);
    codec.decode(bytes.subarray(0, 160), pcm.subarray(0, 320));
    codec.decode(bytes.subarray(160), pcm.subarray(320));
    assert.deepEqual(pcm, new G722Decoder().decode(bytes));
  }
  // Two calls never share state.
  const a = createPhoneCodec({ encoding: 'G722', sample_rate: 16000 });
  const b = createPhoneCodec({ encoding: 'G722', sample_rate: 16000 });
  a.encode(speech16);
  assert.deepEqual(b.encode(speech16.subarray(0, 320)), new G722Encoder().encode(speech16.subarray(0, 320)));
});

test('decode and encode fill caller buffers without allocating', () => {
  for (const codec of [createPhoneCodec({ encoding: 'PCMU' }), createPhoneCodec({ encoding: 'L16', sample_rate: 8000 })]) {
    const payload = new Uint8Array(codec.frameBytes);
    assert.equal(codec.encode(speech, payload), payload);
    const pcm = new Int16Array(160);
    assert.equal(codec.decode(payload, pcm), pcm);
    assert.deepEqual(pcm, codec.decode(codec.encode(speech)));
    assert.throws(() => codec.encode(speech, new Uint8Array(codec.frameBytes - 1)), RangeError);
    assert.throws(() => codec.decode(payload, new Int16Array(159)), RangeError);
  }
});

test('anything else is refused with TTMA_ERR_CODEC_UNSUPPORTED (415), naming the encoding and rate', () => {
  const cases: [unknown, RegExp][] = [
    [{ encoding: 'G722', sample_rate: 8000, channels: 1 }, /"G722" at 8000 Hz/],
    [{ encoding: 'G722', sample_rate: 16000, channels: 2 }, /"G722" at 16000 Hz with "2" channels/],
    [{ encoding: 'OPUS', sample_rate: 24000, channels: 1 }, /"OPUS" at 24000 Hz/],
    [{ encoding: 'PCMU', sample_rate: 16000, channels: 1 }, /"PCMU" at 16000 Hz/],
    [{ encoding: 'PCMA', sample_rate: 48000 }, /"PCMA" at 48000 Hz/],
    [{ encoding: 'L16', sample_rate: 44100, channels: 1 }, /"L16" at 44100 Hz/],
    [{ encoding: 'L16' }, /"L16" at no sample_rate/],
    [{ encoding: 'PCMU', sample_rate: 8000, channels: 2 }, /"PCMU" at 8000 Hz with "2" channels/],
    [{ encoding: 'L16', sample_rate: 'fast' }, /unreadable sample_rate "fast"/],
    [{ encoding: '' }, /no encoding/],
    [{}, /no encoding/],
    [null, /no encoding/],
    [{ encoding: 'x'.repeat(5000) }, /"x{40}\.\.\."/],
  ];
  for (const [format, message] of cases) {
    assert.throws(
      () => createPhoneCodec(format as { encoding: string }),
      (err: unknown) => {
        assert.ok(isTtmaError(err, ErrorCodes.CODEC_UNSUPPORTED), `${JSON.stringify(format)?.slice(0, 60)}: ${String(err)}`);
        assert.equal(err.status, 415);
        assert.match(err.message, message);
        assert.match(err.message, /supported: PCMU or PCMA at 8000 Hz/);
        assert.ok(err.message.length < 300);
        return true;
      },
    );
  }
});

test('numeric strings from loosely typed JSON are read as numbers', () => {
  const codec = createPhoneCodec({ encoding: 'L16', sample_rate: '24000', channels: '1' } as unknown as { encoding: string });
  assert.equal(codec.sampleRate, 24000);
});

test('the call path G.711 (native when built) and the TypeScript tables agree on every code and sample', () => {
  for (const encoding of ['PCMU', 'PCMA']) {
    const auto = createPhoneCodec({ encoding, sample_rate: 8000 });
    const ts = createPhoneCodec({ encoding, sample_rate: 8000 }, 'typescript');
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(auto.decode(every), ts.decode(every));
    const samples = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
    assert.deepEqual(auto.encode(samples), ts.encode(samples));
    const out = new Int16Array(300);
    assert.equal(auto.decode(every, out), out, 'with out, out itself is filled and returned');
  }
});
