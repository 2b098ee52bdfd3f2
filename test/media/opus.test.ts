import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createPhoneCodec } from '../../src/media/codecs.js';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { nativeMedia } from '../../src/media/native.js';
import { OpusCodec, type OpusBackend } from '../../src/media/opus.js';
import { polyphaseDesign } from '../../src/media/polyphaseDesign.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';

const BACKENDS: OpusBackend[] = nativeMedia ? ['native', 'discordjs'] : ['discordjs'];
const noNative = nativeMedia ? undefined : 'native addon not built';

function speech(rate: number, frames: number, seed = 3): Int16Array[] {
  const source = new SpeechLikeSignal(rate, seed);
  return Array.from({ length: frames }, () => source.next((rate * 20) / 1000));
}

function concat(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function energy(x: Int16Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return sum / Math.max(1, x.length);
}

/** SNR of `test` against `reference` in dB (same length, aligned). */
function snrDb(reference: Int16Array, test: Int16Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    signal += reference[i]! ** 2;
    noise += (reference[i]! - test[i]!) ** 2;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1));
}

for (const backend of BACKENDS) {
  for (const rate of [16000, 48000]) {
    test(`opus ${backend} ${rate} Hz: speech comes back through encode and decode (correlation > 0.9)`, () => {
      const sender = new OpusCodec({ sampleRate: rate, backend });
      const receiver = new OpusCodec({ sampleRate: rate, backend });
      const input = speech(rate, 100);
      const output = input.map((frame) => receiver.decode(sender.encode(frame).slice()).slice());
      for (const frame of output) assert.equal(frame.length, (rate * 20) / 1000);
      const result = bestLagCorrelation(concat(input), concat(output), rate / 100);
      assert.ok(result.correlation > 0.9, `correlation ${result.correlation.toFixed(3)} at lag ${result.lagSamples}`);
      assert.equal(receiver.corruptPackets, 0);
    });
  }

  test(`opus ${backend}: garbage packets never throw, keep the frame length and are counted`, () => {
    const codec = new OpusCodec({ sampleRate: 16000, backend });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1500 }), (bytes) => {
        const pcm = codec.decode(bytes);
        assert.equal(pcm.length, 320);
      }),
      { numRuns: 300, seed: 7 },
    );
    assert.ok(codec.corruptPackets > 0);
  });
}

test('opus: encode refuses a frame that is not 20 ms', () => {
  const codec = new OpusCodec({ sampleRate: 16000 });
  assert.throws(() => codec.encode(new Int16Array(160)), /320 samples/);
});

test('opus: only 16 and 48 kHz, chosen by the start frame', () => {
  assert.throws(() => new OpusCodec({ sampleRate: 8000 }), { code: 'TTMA_ERR_CODEC_UNSUPPORTED' });
  assert.equal(createPhoneCodec({ encoding: 'OPUS', sample_rate: 16000 }).sampleRate, 16000);
  assert.equal(createPhoneCodec({ encoding: 'opus', sample_rate: '48000' as unknown as number }).sampleRate, 48000);
  assert.equal(createPhoneCodec({ encoding: 'OPUS' }).sampleRate, 48000, 'RFC 7587: Opus is clocked at 48 kHz');
  assert.throws(() => createPhoneCodec({ encoding: 'OPUS', sample_rate: 8000 }), { code: 'TTMA_ERR_CODEC_UNSUPPORTED' });
  assert.throws(() => createPhoneCodec({ encoding: 'OPUS', sample_rate: 16000, channels: 2 }), { code: 'TTMA_ERR_CODEC_UNSUPPORTED' });
});

test('opus native and @discordjs/opus decode the same packets to the same samples (one libopus)', { skip: noNative }, () => {
  const sender = new OpusCodec({ sampleRate: 16000, backend: 'native' });
  const a = new OpusCodec({ sampleRate: 16000, backend: 'native' });
  const b = new OpusCodec({ sampleRate: 16000, backend: 'discordjs' });
  for (const frame of speech(16000, 50)) {
    const packet = sender.encode(frame).slice();
    assert.deepEqual(a.decode(packet).slice(), b.decode(packet).slice());
  }
});

test('opus PLC: one lost frame is concealed in 20 ms that continue the speech, and long losses fade out', { skip: noNative }, () => {
  const rate = 16000;
  const sender = new OpusCodec({ sampleRate: rate });
  const clean = new OpusCodec({ sampleRate: rate });
  const lossy = new OpusCodec({ sampleRate: rate });
  const frames = speech(rate, 60, 5);
  const packets = frames.map((f) => sender.encode(f).slice());
  const reference = packets.map((p) => clean.decode(p).slice());
  // Find a loud frame to lose.
  let lost = 20;
  while (energy(reference[lost]!) < 1e6) lost++;
  for (let i = 0; i < lost; i++) lossy.decode(packets[i]!);
  const concealed = lossy.conceal!().slice();
  assert.equal(concealed.length, 320);
  const plcSnr = snrDb(reference[lost]!, concealed);
  const zeroSnr = snrDb(reference[lost]!, new Int16Array(320));
  assert.ok(plcSnr > zeroSnr, `PLC ${plcSnr.toFixed(1)} dB must beat silence ${zeroSnr.toFixed(1)} dB`);
  // Ten more losses: the concealment fades rather than repeating at full level.
  let last = concealed;
  for (let i = 0; i < 10; i++) last = lossy.conceal!().slice();
  assert.ok(energy(last) < energy(concealed) / 10, `energy after 220 ms of loss ${energy(last).toFixed(0)} vs first ${energy(concealed).toFixed(0)}`);
});

test('opus FEC: a lost frame is recovered from the next packet better than PLC alone', { skip: noNative }, () => {
  const rate = 16000;
  let fecWins = 0;
  let trials = 0;
  const gains: number[] = [];
  for (const seed of [1, 2, 3, 4, 5]) {
    const sender = new OpusCodec({ sampleRate: rate, fec: true, expectedLossPercent: 20 });
    const clean = new OpusCodec({ sampleRate: rate });
    const frames = speech(rate, 80, seed);
    const packets = frames.map((f) => sender.encode(f).slice());
    const reference = packets.map((p) => clean.decode(p).slice());
    for (let lost = 30; lost < 75; lost += 9) {
      if (energy(reference[lost]!) < 1e5) continue;
      // Two decoders with the same history: one recovers the loss by FEC, one conceals it.
      const a = new OpusCodec({ sampleRate: rate });
      const b = new OpusCodec({ sampleRate: rate });
      for (let i = 0; i < lost; i++) {
        a.decode(packets[i]!);
        b.decode(packets[i]!);
      }
      const recovered = a.recover!(packets[lost + 1]!).slice();
      const concealed = b.conceal!().slice();
      const fecSnr = snrDb(reference[lost]!, recovered);
      const plcSnr = snrDb(reference[lost]!, concealed);
      gains.push(fecSnr - plcSnr);
      trials++;
      if (fecSnr > plcSnr) fecWins++;
    }
  }
  assert.ok(trials >= 10, `only ${trials} loud frames to test`);
  const mean = gains.reduce((s, g) => s + g, 0) / gains.length;
  assert.ok(fecWins / trials >= 0.8, `FEC beat PLC in ${fecWins} of ${trials} losses (mean gain ${mean.toFixed(1)} dB)`);
  assert.ok(mean > 3, `FEC's mean gain over PLC is ${mean.toFixed(1)} dB`);
});

test('opus native handles are checked by kind: a resampler filter is not a decoder', { skip: noNative }, () => {
  const native = nativeMedia!;
  const d = polyphaseDesign(8000, 16000);
  const filter = native.polyphaseFilter(d.coefs, d.branchStart, d.branchLength, d.branchReach, d.branchSymmetric, d.info.up, d.info.down, d.history);
  const decoder = native.opusDecoder(16000);
  assert.throws(() => native.opusDecode(filter as never, null, 0, new Int16Array(320)), { name: 'TypeError', code: 'TTMA_ERR_NATIVE_ARGUMENT' });
  assert.throws(
    () => native.polyphaseProcess(decoder as never, new Float32Array(1000), new Int32Array(3), new Int16Array(160), new Int16Array(320)),
    { name: 'TypeError', code: 'TTMA_ERR_NATIVE_ARGUMENT' },
  );
  assert.throws(() => native.opusDecode(decoder, null, 0, new Int16Array(100)), { name: 'RangeError' }, 'PLC needs a multiple of 2.5 ms');
  assert.throws(() => native.opusDecode(decoder, null, 1, new Int16Array(320)), { name: 'RangeError' }, 'FEC needs the next packet');
  assert.throws(() => native.opusDecoder(44100), { name: 'RangeError' });
  assert.ok(native.opusDecode(decoder, new Uint8Array(5000), 0, new Int16Array(320)) < 0, 'an oversize packet is refused, not read');
});

/** Each packet's audio bandwidth from its TOC byte (RFC 6716 3.1): SILK configs 0-3 NB, 4-7 MB, 8-11 WB; hybrid 12-15; CELT 16-31 by its own table. */
function tocBandwidth(packet: Uint8Array): string {
  const config = packet[0]! >> 3;
  if (config < 4) return 'NB';
  if (config < 8) return 'MB';
  if (config < 12) return 'WB';
  if (config < 14) return 'SWB';
  if (config < 16) return 'FB';
  return ['NB', 'WB', 'SWB', 'FB'][(config - 16) >> 2]!;
}

test('opus: the gateway codes what it sends at 16 kHz as wideband; with FEC on at 24 kbit/s libopus would drop to mediumband', () => {
  const frames = speech(16000, 300);
  const count = (codec: OpusCodec) => {
    const seen: Record<string, number> = {};
    for (const f of frames) {
      const band = tocBandwidth(codec.encode(f));
      seen[band] = (seen[band] ?? 0) + 1;
    }
    return seen;
  };
  const gateway = count(createPhoneCodec({ encoding: 'OPUS', sample_rate: 16000 }) as OpusCodec);
  assert.ok((gateway.WB ?? 0) >= 0.95 * frames.length, `the gateway's packets: ${JSON.stringify(gateway)}`);
  // The control: the same audio with FEC on (OpusCodec's own default) is coded narrower.
  const withFec = count(new OpusCodec({ sampleRate: 16000, fec: true }));
  assert.ok((withFec.MB ?? 0) + (withFec.NB ?? 0) >= 0.95 * frames.length, `with FEC: ${JSON.stringify(withFec)}`);
});
