/**
 * The jitter buffer's view of a phone codec: it holds encoded payloads and
 * this turns them into PCM at playout, in playout order, which is what a
 * stateful decoder (Opus, G.722) needs. Losses are filled by the codec's own
 * concealment where it has one (Opus: in-band FEC from the next packet when
 * it is already here, else the decoder's PLC), else by waveform repetition
 * with fade-out (Concealer, G.711 Appendix I style).
 */
import type { PhoneCodec } from './codecs.js';
import { Concealer, type FrameConcealer } from './Concealer.js';
import { samplesPerFrame } from './constants.js';
import { frameArena } from './FrameArena.js';

export interface PlayoutStats {
  /** Lost frames rebuilt from the next packet's in-band FEC. */
  fecRecovered: number;
  /** Lost frames filled by the codec's PLC or by waveform repetition. */
  plcFrames: number;
  /** Payloads that did not decode to a whole frame (played as zeros or concealment). */
  undecodable: number;
}

export class PayloadPlayout implements FrameConcealer<Uint8Array> {
  readonly samplesPerFrame: number;
  readonly #codec: PhoneCodec;
  /** Null when the codec conceals by itself. */
  readonly #concealer: Concealer | null;
  /** PCM of payloads decoded ahead (for look-ahead or the quiet test), so good() returns the very array the concealer saw. */
  readonly #decodedAhead = new WeakMap<Uint8Array, Int16Array>();
  /** Entries put in #decodedAhead and not yet played (over-counts a frame that never plays: then good() merely looks up); while 0, as nearly always, good() skips the lookup. */
  #aheadCount = 0;
  readonly stats: PlayoutStats = { fecRecovered: 0, plcFrames: 0, undecodable: 0 };

  constructor(codec: PhoneCodec) {
    this.#codec = codec;
    this.samplesPerFrame = samplesPerFrame(codec.sampleRate);
    this.#concealer = codec.conceal ? null : new Concealer(this.samplesPerFrame, codec.sampleRate);
  }

  good(payload: Uint8Array): Int16Array {
    let pcm: Int16Array | undefined;
    if (this.#aheadCount > 0) {
      pcm = this.#decodedAhead.get(payload);
      if (pcm !== undefined) {
        this.#decodedAhead.delete(payload);
        this.#aheadCount--;
      }
    }
    pcm ??= this.#decode(payload);
    return this.#concealer ? this.#concealer.good(pcm) : pcm;
  }

  conceal(next?: Uint8Array, framesToNext = 1): Int16Array {
    this.stats.plcFrames++;
    const codec = this.#codec;
    if (codec.conceal) {
      if (next !== undefined && framesToNext === 1 && codec.recover) {
        this.stats.plcFrames--;
        this.stats.fecRecovered++;
        return codec.recover(next);
      }
      return codec.conceal();
    }
    const nextPcm = next !== undefined && codec.stateless ? this.#decodeAhead(next) : undefined;
    return this.#concealer!.conceal(nextPcm, framesToNext);
  }

  /** Only a stateless codec can be decoded early to judge; a stateful one is never "quiet". */
  quiet(payload: Uint8Array): boolean {
    if (!this.#codec.stateless || !this.#concealer) return false;
    return this.#concealer.quiet(this.#decodeAhead(payload));
  }

  splice(): void {
    this.#concealer?.splice();
  }

  reset(): void {
    this.#concealer?.reset();
  }

  #decodeAhead(payload: Uint8Array): Int16Array {
    let pcm = this.#decodedAhead.get(payload);
    if (pcm === undefined) {
      pcm = this.#decode(payload);
      this.#decodedAhead.set(payload, pcm);
      this.#aheadCount++;
    }
    return pcm;
  }

  /** A whole frame, always: a payload the codec refuses is played as zeros and counted (the caller checks sizes first). */
  #decode(payload: Uint8Array): Int16Array {
    const out = frameArena.int16(this.samplesPerFrame);
    try {
      const pcm = this.#codec.decode(payload, out);
      if (pcm.length === out.length) return pcm;
    } catch {
      // counted below
    }
    this.stats.undecodable++;
    return out.fill(0);
  }
}
