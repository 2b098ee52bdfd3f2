/**
 * The phone-side codecs, chosen by the media WebSocket's `start` frame
 * (`media_format`), not by what was asked for (DESIGN.md section 3a):
 * PCMU (alias audio/x-mulaw, Twilio's name) and PCMA at 8 kHz (ITU-T G.711),
 * L16 big-endian at 8, 16, 24 or 48 kHz, G.722 (64 kbit/s) at 16 kHz, and
 * Opus at 16 or 48 kHz. Mono only.
 *
 * G.722 and Opus are stateful (`stateless` false): the jitter buffer decodes
 * them in playout order only. Opus has its own loss concealment (see
 * opus.ts): its PhoneCodec carries `conceal`/`recover`.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { samplesPerFrame } from './constants.js';
import { pcmaDecode, pcmaEncode, pcmuDecode, pcmuEncode } from './g711.js';
import { G722Decoder, G722Encoder, G722_FRAME_BYTES, G722_SAMPLE_RATE } from './g722.js';
import { l16Decode, l16Encode } from './l16.js';
import { nativeMedia, type NativeMedia } from './native.js';
import { OPUS_RATES, OpusCodec } from './opus.js';

export type PhoneCodecName = 'PCMU' | 'PCMA' | 'L16' | 'G722' | 'OPUS';

export interface PhoneCodec {
  readonly name: PhoneCodecName;
  readonly sampleRate: number;
  /** Payload bytes in one 20 ms frame (0: variable, as Opus). */
  readonly frameBytes: number;
  /** Decoding one frame does not depend on the ones before (G.711, L16): frames may be decoded ahead, for concealment to look at. */
  readonly stateless: boolean;
  /** The codec's own concealment of one lost 20 ms frame (Opus PLC). */
  readonly conceal?: (out?: Int16Array) => Int16Array;
  /** The lost frame before `next`, from next's in-band FEC (Opus). */
  readonly recover?: (next: Uint8Array, out?: Int16Array) => Int16Array;
  /** Payload to PCM16; with `out` (long enough), fills and returns it without allocating. */
  decode(payload: Uint8Array, out?: Int16Array): Int16Array;
  /** PCM16 to payload; with `out` (long enough), fills and returns it without allocating. */
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array;
}

export interface PhoneMediaFormat {
  encoding: string;
  sample_rate?: number;
  channels?: number;
}

/** G.711 is defined at 8 kHz only. */
const G711_RATE = 8000;
const G711_BYTES_PER_SAMPLE = 1;
const L16_BYTES_PER_SAMPLE = 2;
const L16_RATES: readonly number[] = [8000, 16000, 24000, 48000];
const MONO = 1;
/** Longest piece of a peer-supplied string quoted back in an error. */
const MAX_QUOTED = 40;
const UNSUPPORTED_STATUS = 415;

const ENCODING_ALIASES: Readonly<Record<string, PhoneCodecName>> = {
  PCMU: 'PCMU',
  'AUDIO/X-MULAW': 'PCMU',
  PCMA: 'PCMA',
  'AUDIO/X-ALAW': 'PCMA',
  L16: 'L16',
  G722: 'G722',
  OPUS: 'OPUS',
};

const SUPPORTED = 'PCMU or PCMA at 8000 Hz, G722 at 16000 Hz, L16 at 8000, 16000, 24000 or 48000 Hz, or OPUS at 16000 or 48000 Hz, mono';
/** RFC 7587 section 4.1: Opus's RTP clock is always 48 kHz; a start frame without a rate means that. */
const OPUS_DEFAULT_RATE = 48000;

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text);
}

function unsupported(detail: string): TtmaError {
  return new TtmaError(ErrorCodes.CODEC_UNSUPPORTED, `${detail}; supported: ${SUPPORTED}`, UNSUPPORTED_STATUS);
}

/** A rate given as a number or a string of digits; undefined when absent. */
function readRate(value: unknown, encoding: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const rate = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate <= 0) {
    throw unsupported(`media encoding ${quote(encoding)} with unreadable sample_rate ${quote(value)}`);
  }
  return rate;
}

/** G.711 through the native addon when it loaded (bit-identical, 2.2x faster a frame: docs/media.md), else the TypeScript tables. */
function g711(name: 'PCMU' | 'PCMA', native: NativeMedia | null): PhoneCodec {
  let decode = name === 'PCMU' ? pcmuDecode : pcmaDecode;
  let encode = name === 'PCMU' ? pcmuEncode : pcmaEncode;
  if (native) {
    const nativeDecode = name === 'PCMU' ? native.pcmuDecode : native.pcmaDecode;
    const nativeEncode = name === 'PCMU' ? native.pcmuEncode : native.pcmaEncode;
    // Same contract as the TypeScript: with `out`, fill and return it; without, a new array.
    decode = (payload, out) => {
      const dst = out ?? new Int16Array(payload.length);
      nativeDecode(payload, dst);
      return dst;
    };
    encode = (pcm, out) => {
      const dst = out ?? new Uint8Array(pcm.length);
      nativeEncode(pcm, dst);
      return dst;
    };
  }
  return {
    name,
    sampleRate: G711_RATE,
    frameBytes: samplesPerFrame(G711_RATE) * G711_BYTES_PER_SAMPLE,
    stateless: true,
    decode,
    encode,
  };
}

function l16(sampleRate: number): PhoneCodec {
  return {
    name: 'L16',
    sampleRate,
    frameBytes: samplesPerFrame(sampleRate) * L16_BYTES_PER_SAMPLE,
    stateless: true,
    decode: l16Decode,
    encode: l16Encode,
  };
}


/** G.722 is stateful: one encoder and one decoder per codec object, i.e. per call. */
function g722(): PhoneCodec {
  const encoder = new G722Encoder();
  const decoder = new G722Decoder();
  return {
    name: 'G722',
    sampleRate: G722_SAMPLE_RATE,
    frameBytes: G722_FRAME_BYTES,
    stateless: false,
    decode: (payload, out) => decoder.decode(payload, out),
    encode: (pcm, out) => encoder.encode(pcm, out),
  };
}

/**
 * The codec for a `media_format`. `implementation: 'typescript'` keeps the
 * native addon out (benchmarks compare the two). Anything else is refused with
 * TTMA_ERR_CODEC_UNSUPPORTED (HTTP 415) naming the encoding and rate.
 */
export function createPhoneCodec(format: PhoneMediaFormat, implementation: 'auto' | 'typescript' = 'auto'): PhoneCodec {
  const raw: unknown = (format as Partial<PhoneMediaFormat> | null | undefined)?.encoding;
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw unsupported(`media_format has no encoding (got ${quote(raw)})`);
  }
  const name = ENCODING_ALIASES[raw.trim().toUpperCase()];
  const rate = readRate(format.sample_rate, raw);
  const rateText = rate === undefined ? 'no sample_rate' : `${rate} Hz`;
  if (name === undefined) throw unsupported(`media encoding ${quote(raw)} at ${rateText} is not supported`);

  const channels: unknown = format.channels;
  if (channels !== undefined && channels !== null && channels !== MONO && channels !== String(MONO)) {
    throw unsupported(`media encoding ${quote(raw)} at ${rateText} with ${quote(channels)} channels: only mono is supported`);
  }
  if (name === 'L16') {
    if (rate === undefined || !L16_RATES.includes(rate)) {
      throw unsupported(`media encoding "L16" at ${rateText} is not supported`);
    }
    return l16(rate);
  }
  if (name === 'OPUS') {
    const opusRate = rate ?? OPUS_DEFAULT_RATE;
    if (!OPUS_RATES.includes(opusRate)) throw unsupported(`media encoding "OPUS" at ${rateText} is not supported`);
    // A fresh encoder and decoder for this call: the OpusCodec is the PhoneCodec. No FEC in what we
    // send: the provider plays our audio out itself over a lossless WebSocket, and with FEC on at
    // 24 kbit/s libopus codes mediumband instead of wideband (docs/media.md, "coded bandwidth").
    // The caller's FEC is still used when we decode.
    return new OpusCodec({ sampleRate: opusRate, fec: false });
  }
  if (name === 'G722') {
    if (rate !== undefined && rate !== G722_SAMPLE_RATE) {
      throw unsupported(`media encoding ${quote(raw)} at ${rateText} is not supported (G.722 is 16000 Hz audio)`);
    }
    return g722();
  }
  if (rate !== undefined && rate !== G711_RATE) {
    throw unsupported(`media encoding ${quote(raw)} at ${rateText} is not supported (G.711 is 8000 Hz only)`);
  }
  return g711(name, implementation === 'auto' ? nativeMedia : null);
}
