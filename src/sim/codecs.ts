/**
 * The phone-side codecs the simulator speaks: G.711 mu-law and A-law at 8 kHz,
 * G.722, L16 (big-endian linear PCM) and Opus at 16 kHz. The simulator's own audio stays at 8 kHz
 * (SAMPLE_RATE): a wideband stream resamples it to 16 kHz before encoding and
 * back after decoding, so the recorder and the echo analysis do not change with
 * the codec. G.722, Opus and the resamplers carry state: one encoder and one
 * decoder per stream.
 */
import { G722Decoder, G722Encoder } from '../media/g722.js';
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from '../media/g711.js';
import { l16Decode, l16Encode } from '../media/l16.js';
import { OpusCodec } from '../media/opus.js';
import { Resampler } from '../media/Resampler.js';
import { SAMPLE_RATE } from './constants.js';

export type SimCodec = 'PCMU' | 'PCMA' | 'G722' | 'L16' | 'OPUS';

export const SIM_CODECS: readonly SimCodec[] = ['PCMU', 'PCMA', 'G722', 'L16', 'OPUS'];

export function isSimCodec(value: unknown): value is SimCodec {
  return typeof value === 'string' && (SIM_CODECS as readonly string[]).includes(value);
}

/**
 * Codecs whose stream keeps state across frames (encoded live, one encoder per
 * stream): the wideband ones, whose 8 kHz -> 16 kHz resampler carries history
 * even where the codec itself (L16) does not.
 */
export function isStatefulSimCodec(codec: SimCodec): codec is 'G722' | 'L16' | 'OPUS' {
  return codec === 'G722' || codec === 'L16' || codec === 'OPUS';
}

const WIDEBAND_RATE = 16000;

/** The `media_format.sample_rate` of a stream in this codec. */
export function codecSampleRate(codec: SimCodec): number {
  return isStatefulSimCodec(codec) ? WIDEBAND_RATE : SAMPLE_RATE;
}

/** One stream's encoder: simulator audio (8 kHz) in, the codec's payload out. */
export interface SimEncoder {
  encode(pcm: Int16Array): Uint8Array;
}

/** One stream's decoder: the codec's payload in, simulator audio (8 kHz) out (valid until the next call). */
export interface SimDecoder {
  decode(bytes: Uint8Array): Int16Array;
}

export function createSimEncoder(codec: SimCodec): SimEncoder {
  if (!isStatefulSimCodec(codec)) return { encode: (pcm) => (codec === 'PCMU' ? pcmuEncode(pcm) : pcmaEncode(pcm)) };
  const up = new Resampler(SAMPLE_RATE, WIDEBAND_RATE);
  if (codec === 'OPUS') {
    // In-band FEC on, as a provider's Opus leg would send it.
    const opus = new OpusCodec({ sampleRate: WIDEBAND_RATE, fec: true });
    return { encode: (pcm) => opus.encode(up.process(pcm)).slice() };
  }
  if (codec === 'L16') return { encode: (pcm) => l16Encode(up.process(pcm)) };
  const encoder = new G722Encoder();
  return { encode: (pcm) => encoder.encode(up.process(pcm)) };
}

/**
 * `returnRate` is the rate the return leg was declared at (src/sim/returnLeg.ts):
 * it says how fast L16 samples play, so L16 is decoded at it (a 16 kHz frame
 * taken as 8 kHz lasts twice as long, as the phone would hear it). G.711 and
 * G.722 have one audio rate each, and Opus decodes at any rate: those ignore it
 * (what a narrower Opus rate takes away is above the simulator's 4 kHz anyway).
 */
export function createSimDecoder(codec: SimCodec, returnRate: number = codecSampleRate(codec)): SimDecoder {
  if (codec === 'L16') {
    if (returnRate === SAMPLE_RATE) return { decode: (bytes) => l16Decode(bytes) };
    const down = new Resampler(returnRate, SAMPLE_RATE);
    return { decode: (bytes) => down.process(l16Decode(bytes)) };
  }
  if (!isStatefulSimCodec(codec)) {
    // Reused output (this runs 50 times a second per call): callers copy what they keep.
    let buffer = new Int16Array(SAMPLE_RATE);
    return {
      decode(bytes) {
        if (bytes.length > buffer.length) buffer = new Int16Array(bytes.length);
        const out = buffer.subarray(0, bytes.length);
        return codec === 'PCMU' ? pcmuDecode(bytes, out) : pcmaDecode(bytes, out);
      },
    };
  }
  const down = new Resampler(WIDEBAND_RATE, SAMPLE_RATE);
  if (codec === 'OPUS') {
    const opus = new OpusCodec({ sampleRate: WIDEBAND_RATE });
    return { decode: (bytes) => down.process(opus.decode(bytes)) };
  }
  const decoder = new G722Decoder();
  return { decode: (bytes) => down.process(decoder.decode(bytes)) };
}

/** G.711 only (stateless): encode one frame. */
export function encodeFrame(codec: 'PCMU' | 'PCMA', pcm: Int16Array, out?: Uint8Array): Uint8Array {
  return codec === 'PCMU' ? pcmuEncode(pcm, out) : pcmaEncode(pcm, out);
}

/**
 * Run every codec over a second of audio at start-up, so the first G.722 call
 * does not pay for the resampler filter design (about 30 ms) and compilation
 * mid-stream, where it would show as a round-trip stall.
 */
export function warmUpSimCodecs(): void {
  const frame = new Int16Array(SAMPLE_RATE / 50);
  for (let i = 0; i < frame.length; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE));
  for (const codec of SIM_CODECS) {
    const encoder = createSimEncoder(codec);
    const decoder = createSimDecoder(codec);
    for (let i = 0; i < 50; i++) decoder.decode(encoder.encode(frame));
  }
}
