/**
 * Opus on the phone leg (RFC 6716), mono, 20 ms frames, at 16 or 48 kHz
 * (DESIGN.md section 5). One object per call direction pair: decoding is
 * stateful and must see packets in playout order, which is why the jitter
 * buffer holds Opus packets and decodes at playout (see PayloadPlayout).
 *
 * Two backends, both on the libopus that @discordjs/opus ships:
 * - native (native/src/opus_napi.c): decode, a 20 ms packet-loss concealment
 *   (`conceal`), and in-band FEC recovery of a lost frame from the packet after
 *   it (`recover`). The encoder sends FEC when asked (`fec`).
 * - @discordjs/opus's OpusEncoder, when the addon is not built: decode and
 *   encode only. Its decode() never uses FEC and conceals 120 ms at a time, so
 *   `conceal`/`recover` are absent and the jitter buffer falls back to
 *   waveform repetition (Concealer) for lost frames.
 */
import { createRequire } from 'node:module';
import { ErrorCodes, TtmaError } from '../errors.js';
import { FRAME_MS, samplesPerFrame } from './constants.js';
import { nativeMedia, type NativeMedia, type NativeOpusDecoder, type NativeOpusEncoder } from './native.js';

export const OPUS_RATES: readonly number[] = [16000, 48000];
/** libopus's recommended maximum packet (3 frames of 1275 bytes, opus_encode docs). */
export const OPUS_MAX_PACKET_BYTES = 3828;
/**
 * Narrowband-to-wideband speech: 24 kbit/s at 16 kHz, 32 kbit/s at 48 kHz (RFC 7587 section 3.1.1 ranges).
 * With FEC on at complexity 1, libopus codes 24 kbit/s as mediumband (audio to 6 kHz), and without
 * it wideband: the gateway's encoder toward the provider has FEC off (docs/media.md, "coded bandwidth").
 */
const DEFAULT_BITRATE: Readonly<Record<number, number>> = { 16000: 24000, 48000: 32000 };
/** Expected loss the encoder provisions FEC for (OPUS_SET_PACKET_LOSS_PERC). */
const DEFAULT_EXPECTED_LOSS_PERCENT = 10;
/**
 * libopus complexity 0..10. Measured at 16 kHz, 24 kbit/s on speech-like test
 * audio (docs/media.md): 1 costs 61 us a frame against 172 us at 5 and 400 us
 * at 10, with the same bytes a packet and the same waveform correlation
 * (0.960 / 0.954 / 0.956). At 5, encode alone used up the whole budget of
 * 150 Opus calls per core (133 us a frame for encode and decode together).
 */
const DEFAULT_COMPLEXITY = 1;

export type OpusBackend = 'native' | 'discordjs';

export interface OpusCodecOptions {
  sampleRate: number;
  bitrate?: number;
  /** Put in-band FEC into encoded packets (default true). */
  fec?: boolean;
  expectedLossPercent?: number;
  complexity?: number;
  /** Force a backend (tests and the bench); default: native when the addon loaded. */
  backend?: OpusBackend;
}

interface DiscordOpus {
  encode(buf: Buffer): Buffer;
  decode(buf: Buffer): Buffer;
  setBitrate(bitrate: number): void;
  applyEncoderCTL(ctl: number, value: number): void;
}

/** libopus CTL request numbers (opus_defines.h), for the @discordjs/opus backend. */
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;

let discordOpus: { OpusEncoder: new (rate: number, channels: number) => DiscordOpus } | null | undefined;
function loadDiscordOpus(): { OpusEncoder: new (rate: number, channels: number) => DiscordOpus } {
  if (discordOpus === undefined) {
    try {
      discordOpus = createRequire(import.meta.url)('@discordjs/opus') as typeof discordOpus;
    } catch {
      discordOpus = null;
    }
  }
  if (!discordOpus) throw new TtmaError(ErrorCodes.CODEC_UNSUPPORTED, 'Opus is not available: neither the native addon nor @discordjs/opus loaded', 415);
  return discordOpus;
}

/** A PhoneCodec (codecs.ts) as it stands: one per call, both directions. */
export class OpusCodec {
  readonly name = 'OPUS' as const;
  /** Each frame's decode depends on the ones before. */
  readonly stateless = false;
  readonly sampleRate: number;
  /** Opus packets vary in size: 0 means "no fixed frame size". */
  readonly frameBytes = 0;
  readonly samplesPerFrame: number;
  readonly backend: OpusBackend;
  /** Packets libopus refused (decoded as concealment instead). */
  corruptPackets = 0;
  /** 20 ms of concealment from the decoder's own PLC (native backend only). */
  readonly conceal?: (out?: Int16Array) => Int16Array;
  /** The frame before `next`, from next's in-band FEC (native backend only; concealment when it carries none). */
  readonly recover?: (next: Uint8Array, out?: Int16Array) => Int16Array;
  readonly #native: NativeMedia | null;
  readonly #decoder: NativeOpusDecoder | null;
  readonly #encoder: NativeOpusEncoder | null;
  readonly #discord: DiscordOpus | null;
  /** Made on the first encode without `out` (the gateway always passes one): 3.7 KiB a call otherwise. */
  #packet: Uint8Array | null = null;

  constructor(options: OpusCodecOptions) {
    const rate = options.sampleRate;
    if (!OPUS_RATES.includes(rate)) {
      throw new TtmaError(ErrorCodes.CODEC_UNSUPPORTED, `Opus at ${rate} Hz is not supported (16000 or 48000)`, 415);
    }
    this.sampleRate = rate;
    this.samplesPerFrame = samplesPerFrame(rate);
    const bitrate = options.bitrate ?? DEFAULT_BITRATE[rate]!;
    const fec = options.fec ?? true;
    const loss = options.expectedLossPercent ?? DEFAULT_EXPECTED_LOSS_PERCENT;
    const complexity = options.complexity ?? DEFAULT_COMPLEXITY;
    const backend = options.backend ?? (nativeMedia ? 'native' : 'discordjs');
    if (backend === 'native') {
      if (!nativeMedia) throw new TtmaError(ErrorCodes.CODEC_UNSUPPORTED, 'Opus native backend requested but the native addon is not loaded', 415);
      const native = nativeMedia;
      this.#native = native;
      this.#decoder = native.opusDecoder(rate);
      this.#encoder = native.opusEncoder(rate, bitrate, fec ? 1 : 0, loss, complexity);
      this.#discord = null;
      this.conceal = (out) => this.#decodeNative(null, 0, out);
      this.recover = (next, out) => this.#decodeNative(next, 1, out);
    } else {
      const { OpusEncoder } = loadDiscordOpus();
      const codec = new OpusEncoder(rate, 1);
      codec.setBitrate(bitrate);
      codec.applyEncoderCTL(OPUS_SET_INBAND_FEC_REQUEST, fec ? 1 : 0);
      codec.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC_REQUEST, loss);
      codec.applyEncoderCTL(OPUS_SET_COMPLEXITY_REQUEST, complexity);
      this.#native = null;
      this.#decoder = null;
      this.#encoder = null;
      this.#discord = codec;
    }
    this.backend = backend;
  }

  /**
   * One packet to one 20 ms frame. A packet libopus refuses, or one that is not
   * 20 ms long, is counted in `corruptPackets` and played as concealment (or
   * silence): a peer's bytes never throw here.
   */
  decode(payload: Uint8Array, out?: Int16Array): Int16Array {
    if (this.#native) return this.#decodeNative(payload, 0, out);
    const dst = out ?? new Int16Array(this.samplesPerFrame);
    let pcm: Buffer | null = null;
    try {
      pcm = this.#discord!.decode(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    } catch {
      pcm = null;
    }
    if (pcm === null || pcm.length !== this.samplesPerFrame * 2) {
      this.corruptPackets++;
      dst.fill(0, 0, this.samplesPerFrame);
    } else {
      for (let i = 0; i < this.samplesPerFrame; i++) dst[i] = pcm.readInt16LE(i * 2);
    }
    return dst.length === this.samplesPerFrame ? dst : dst.subarray(0, this.samplesPerFrame);
  }

  /** One 20 ms frame to a packet (a view of `out`, or of a scratch buffer reused by the next call when `out` is absent). */
  encode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
    if (pcm.length !== this.samplesPerFrame) {
      throw new RangeError(`OpusCodec.encode: a frame is ${this.samplesPerFrame} samples (${FRAME_MS} ms at ${this.sampleRate} Hz), got ${pcm.length}`);
    }
    if (this.#native) {
      const dst = out ?? (this.#packet ??= new Uint8Array(OPUS_MAX_PACKET_BYTES));
      const written = this.#native.opusEncode(this.#encoder!, pcm, dst);
      return dst.subarray(0, written);
    }
    const packet = this.#discord!.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    if (out === undefined) return new Uint8Array(packet.buffer, packet.byteOffset, packet.byteLength);
    out.set(packet);
    return out.subarray(0, packet.length);
  }

  #decodeNative(packet: Uint8Array | null, fec: 0 | 1, out?: Int16Array): Int16Array {
    const n = this.samplesPerFrame;
    const dst = out && out.length === n ? out : out ? out.subarray(0, n) : new Int16Array(n);
    let written = this.#native!.opusDecode(this.#decoder!, packet, fec, dst);
    if (written !== n && packet !== null) {
      // Corrupt, or not a 20 ms packet: conceal in its place so the stream keeps its timing.
      this.corruptPackets++;
      written = this.#native!.opusDecode(this.#decoder!, null, 0, dst);
    }
    if (written !== n) dst.fill(0);
    return dst;
  }
}
