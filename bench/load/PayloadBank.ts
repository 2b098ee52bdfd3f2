/**
 * Caller audio for the load generator, encoded once: a few speech-like voices
 * (src/media/testSignal), each a few seconds long, encoded with the
 * simulator's own encoders (G.711 stateless; Opus at 16 kHz with in-band FEC,
 * one continuous stream per voice) and base64'd. Call n plays voice n mod V
 * from its own offset, looping; sending then costs no codec work.
 */
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { createSimEncoder, type SimCodec } from '../../src/sim/codecs.js';
import { SAMPLE_RATE, SAMPLES_PER_FRAME } from '../../src/sim/constants.js';

export interface Voice {
  payloads: readonly string[];
  offset: number;
}

export class PayloadBank {
  readonly #voices = new Map<SimCodec, string[][]>();
  readonly #count: number;
  readonly #frames: number;

  constructor(voices = 8, seconds = 4) {
    this.#count = voices;
    this.#frames = Math.round((seconds * 1000) / 20);
  }

  voice(codec: SimCodec, callIndex: number): Voice {
    let voices = this.#voices.get(codec);
    if (!voices) {
      voices = Array.from({ length: this.#count }, (_, v) => this.#render(codec, v));
      this.#voices.set(codec, voices);
    }
    const payloads = voices[callIndex % voices.length]!;
    // Calls sharing a voice start 37 frames apart, so they do not send identical frames in step.
    return { payloads, offset: (Math.floor(callIndex / voices.length) * 37) % payloads.length };
  }

  #render(codec: SimCodec, v: number): string[] {
    const signal = new SpeechLikeSignal(SAMPLE_RATE, 1 + 7919 * (v + 1));
    const encoder = createSimEncoder(codec);
    const out: string[] = [];
    for (let f = 0; f < this.#frames; f++) {
      const encoded = encoder.encode(signal.next(SAMPLES_PER_FRAME));
      out.push(Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64'));
    }
    return out;
  }
}
