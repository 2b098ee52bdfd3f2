/**
 * WAV (RIFF/WAVE) in and out, for greeting and hold audio: integer PCM of 8,
 * 16, 24 or 32 bits, IEEE float of 32 or 64 bits, G.711 mu-law and A-law,
 * WAVE_FORMAT_EXTENSIBLE wrapping any of those; any channel count, mixed down
 * to mono. Chunks are walked by their declared sizes with every size checked
 * against the bytes really present (a truncated or lying header is an error,
 * never a read past the end). Pure: bytes in, samples out.
 * Reference: Microsoft "Multimedia Programming Interface and Data
 * Specifications 1.0" (RIFF) and the WAVE_FORMAT_EXTENSIBLE note (KSDATAFORMAT_SUBTYPE_*).
 */
import { pcmaDecode, pcmuDecode } from './g711.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
/** Each G.711 byte's linear value, from the codec's own tables. */
const MULAW = pcmuDecode(ALL_BYTES);
const ALAW = pcmaDecode(ALL_BYTES);

export class WavError extends Error {
  override readonly name = 'WavError';
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;
const MAX_CHANNELS = 16;
const MIN_RATE = 4000;
const MAX_RATE = 192_000;

export interface DecodedWav {
  sampleRate: number;
  /** Channels in the file (the samples are mixed down to mono). */
  channels: number;
  /** Mono PCM16. */
  pcm: Int16Array;
  /** The file's sample format, for messages: "PCM 16-bit", "float 32-bit", "mu-law"... */
  format: string;
}

const ascii = (b: Uint8Array, at: number): string => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0) === 'RIFF' && ascii(bytes, 8) === 'WAVE';
}

export function decodeWav(bytes: Uint8Array): DecodedWav {
  if (!isWav(bytes)) throw new WavError('not a WAV file (no RIFF/WAVE header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { tag: number; channels: number; rate: number; blockAlign: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = ascii(bytes, at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (size > bytes.length - body) {
      // A streaming writer may leave the data size as 0xFFFFFFFF or too big: take what is there, for data only.
      if (id !== 'data') throw new WavError(`chunk "${id}" claims ${size} bytes, only ${bytes.length - body} follow (truncated file)`);
    }
    const end = Math.min(bytes.length, body + size);
    if (id === 'fmt ') fmt = readFmt(view, body, end - body);
    else if (id === 'data') {
      data = bytes.subarray(body, end);
      break;
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  if (fmt === null) throw new WavError('no "fmt " chunk before the audio');
  if (data === null) throw new WavError('no "data" chunk');
  const { tag, channels, rate, blockAlign, bits } = fmt;
  if (channels < 1 || channels > MAX_CHANNELS) throw new WavError(`${channels} channels (1 to ${MAX_CHANNELS} supported)`);
  if (rate < MIN_RATE || rate > MAX_RATE) throw new WavError(`sample rate ${rate} Hz (${MIN_RATE} to ${MAX_RATE} supported)`);
  const reader = sampleReader(tag, bits);
  if (reader === null) throw new WavError(`unsupported sample format: tag ${tag}, ${bits} bits (PCM 8/16/24/32, float 32/64, mu-law, A-law)`);
  const bytesPerSample = bits / 8;
  if (blockAlign !== bytesPerSample * channels) throw new WavError(`block align ${blockAlign} does not match ${channels} x ${bits}-bit samples`);
  const frames = Math.floor(data.length / blockAlign);
  const dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const pcm = new Int16Array(frames);
  for (let f = 0, at = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, at += bytesPerSample) sum += reader.read(dataView, at);
    pcm[f] = clamp16(Math.round((sum / channels) * 32768));
  }
  return { sampleRate: rate, channels, pcm, format: reader.label };
}

function readFmt(view: DataView, at: number, size: number): { tag: number; channels: number; rate: number; blockAlign: number; bits: number } {
  if (size < 16) throw new WavError(`"fmt " chunk of ${size} bytes (at least 16)`);
  let tag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const rate = view.getUint32(at + 4, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bits = view.getUint16(at + 14, true);
  if (tag === FORMAT_EXTENSIBLE) {
    if (size < 40) throw new WavError('WAVE_FORMAT_EXTENSIBLE without its 24-byte extension');
    // The sub-format GUID starts with the plain format tag.
    tag = view.getUint16(at + 24, true);
  }
  return { tag, channels, rate, blockAlign, bits };
}

interface SampleReader {
  label: string;
  /** One sample as a float in [-1, 1). */
  read(view: DataView, at: number): number;
}

function sampleReader(tag: number, bits: number): SampleReader | null {
  if (tag === FORMAT_PCM) {
    if (bits === 8) return { label: 'PCM 8-bit', read: (v, at) => (v.getUint8(at) - 128) / 128 };
    if (bits === 16) return { label: 'PCM 16-bit', read: (v, at) => v.getInt16(at, true) / 32768 };
    if (bits === 24) return { label: 'PCM 24-bit', read: (v, at) => ((v.getUint8(at + 2) << 24) | (v.getUint8(at + 1) << 16) | (v.getUint8(at) << 8)) / 2 ** 31 };
    if (bits === 32) return { label: 'PCM 32-bit', read: (v, at) => v.getInt32(at, true) / 2 ** 31 };
  }
  if (tag === FORMAT_FLOAT) {
    if (bits === 32) return { label: 'float 32-bit', read: (v, at) => v.getFloat32(at, true) };
    if (bits === 64) return { label: 'float 64-bit', read: (v, at) => v.getFloat64(at, true) };
  }
  if (tag === FORMAT_MULAW && bits === 8) return { label: 'mu-law', read: (v, at) => MULAW[v.getUint8(at)]! / 32768 };
  if (tag === FORMAT_ALAW && bits === 8) return { label: 'A-law', read: (v, at) => ALAW[v.getUint8(at)]! / 32768 };
  return null;
}

function clamp16(x: number): number {
  // NaN (a float file's garbage) becomes silence rather than poisoning the frame.
  if (!(x === x)) return 0;
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/** Mono PCM16 to a canonical 44-byte-header WAV (tests, fixtures, and recordings tools). */
export function encodeWav(pcm: Int16Array, sampleRate: number): Uint8Array {
  const bytes = new Uint8Array(44 + pcm.length * 2);
  const view = new DataView(bytes.buffer);
  const put = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) bytes[at + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  view.setUint32(4, 36 + pcm.length * 2, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, FORMAT_PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, 'data');
  view.setUint32(40, pcm.length * 2, true);
  for (let i = 0; i < pcm.length; i++) view.setInt16(44 + 2 * i, pcm[i]!, true);
  return bytes;
}
