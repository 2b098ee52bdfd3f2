/**
 * Where a call's caller audio comes from, one 20 ms frame at a time.
 *
 * `LiveFrameSource`: a SpeechLikeSignal per call, synthesised as it goes (the
 * default: every call unique). It costs about 0.3 us a sample, which is most
 * of the simulator's CPU at a few hundred calls.
 *
 * `SignalBank`: a few voices rendered (and encoded, and base64'd) once; call n
 * reads voice n mod V from a frame offset that differs between calls sharing a
 * voice by more than the echo search window, so calls stay uncorrelated within
 * it. For benchmarks, where the simulator must not be the bottleneck.
 *
 * G.722 is stateful (and resampled to 16 kHz), so both sources encode it live
 * with one encoder per call; the bank pre-encodes G.711 only.
 */
import { SpeechLikeSignal } from '../media/testSignal.js';
import { createSimEncoder, encodeFrame, isStatefulSimCodec, type SimCodec, type SimEncoder } from './codecs.js';
import { FRAME_MS, SAMPLE_RATE, SAMPLES_PER_FRAME } from './constants.js';

export interface Frame {
  pcm: Int16Array;
  /** Base64 of the frame encoded in the requested codec. */
  payload: string;
}

export interface FrameSource {
  next(codec: SimCodec): Frame;
}

export class LiveFrameSource implements FrameSource {
  readonly #signal: SpeechLikeSignal;
  readonly #pcm = new Int16Array(SAMPLES_PER_FRAME);
  readonly #encoded = new Uint8Array(SAMPLES_PER_FRAME);
  #g722: SimEncoder | null = null;

  constructor(seed: number) {
    this.#signal = new SpeechLikeSignal(SAMPLE_RATE, seed);
  }

  next(codec: SimCodec): Frame {
    const pcm = this.#signal.next(SAMPLES_PER_FRAME, this.#pcm);
    const encoded = isStatefulSimCodec(codec) ? (this.#g722 ??= createSimEncoder(codec)).encode(pcm) : encodeFrame(codec, pcm, this.#encoded);
    return { pcm, payload: Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64') };
  }
}

interface Voice {
  pcm: Int16Array;
  payloads: Record<'PCMU' | 'PCMA', string[]>;
}

export class SignalBank {
  readonly #voices: Voice[] = [];
  readonly #framesPerVoice: number;
  /** Frames between the start offsets of two calls sharing a voice. */
  readonly #strideFrames: number;

  constructor(voices: number, seconds: number, baseSeed: number, minStrideMs: number) {
    this.#framesPerVoice = Math.round((seconds * 1000) / FRAME_MS);
    this.#strideFrames = Math.ceil(minStrideMs / FRAME_MS) + 1;
    for (let v = 0; v < voices; v++) {
      const signal = new SpeechLikeSignal(SAMPLE_RATE, (baseSeed + 104_729 * (v + 1)) >>> 0);
      const pcm = signal.next(this.#framesPerVoice * SAMPLES_PER_FRAME);
      const payloads: Voice['payloads'] = { PCMU: [], PCMA: [] };
      for (const codec of ['PCMU', 'PCMA'] as const) {
        const encoded = encodeFrame(codec, pcm);
        for (let f = 0; f < this.#framesPerVoice; f++) {
          payloads[codec].push(Buffer.from(encoded.buffer, f * SAMPLES_PER_FRAME, SAMPLES_PER_FRAME).toString('base64'));
        }
      }
      this.#voices.push({ pcm, payloads });
    }
  }

  source(callIndex: number): FrameSource {
    const voice = this.#voices[callIndex % this.#voices.length];
    if (!voice) throw new Error('signal bank has no voices');
    const round = Math.floor(callIndex / this.#voices.length);
    let frame = (round * this.#strideFrames) % this.#framesPerVoice;
    const framesPerVoice = this.#framesPerVoice;
    let g722: SimEncoder | null = null;
    return {
      next(codec: SimCodec): Frame {
        const start = frame * SAMPLES_PER_FRAME;
        const pcm = voice.pcm.subarray(start, start + SAMPLES_PER_FRAME);
        let payload: string;
        if (isStatefulSimCodec(codec)) {
          const encoded = (g722 ??= createSimEncoder(codec)).encode(pcm);
          payload = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64');
        } else {
          payload = voice.payloads[codec][frame] ?? '';
        }
        const out = { pcm, payload };
        frame = (frame + 1) % framesPerVoice;
        return out;
      },
    };
  }
}

/** Stretches of a call in which the phone party talks; silence elsewhere. */
export interface TalkWindow {
  atMs: number;
  ms: number;
}

/**
 * The phone party talks only inside the windows (counted in frames from the
 * first one): for turn-taking and barge-in tests, where a caller who never
 * pauses would make no sense.
 */
export class GatedFrameSource implements FrameSource {
  readonly #inner: FrameSource;
  readonly #windows: TalkWindow[];
  readonly #silence = new Int16Array(SAMPLES_PER_FRAME);
  readonly #silencePayload: Record<'PCMU' | 'PCMA', string>;
  /** G.722 keeps state across frames: talk and silence go through one encoder, this one. */
  #g722: SimEncoder | null = null;
  #frame = 0;

  constructor(inner: FrameSource, windows: TalkWindow[]) {
    this.#inner = inner;
    this.#windows = windows;
    this.#silencePayload = {
      PCMU: Buffer.from(encodeFrame('PCMU', this.#silence)).toString('base64'),
      PCMA: Buffer.from(encodeFrame('PCMA', this.#silence)).toString('base64'),
    };
  }

  next(codec: SimCodec): Frame {
    const t = this.#frame++ * FRAME_MS;
    const talking = this.#windows.some((w) => t >= w.atMs && t < w.atMs + w.ms);
    if (isStatefulSimCodec(codec)) {
      const pcm = talking ? this.#inner.next('PCMU').pcm : this.#silence;
      const encoded = (this.#g722 ??= createSimEncoder(codec)).encode(pcm);
      return { pcm, payload: Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64') };
    }
    if (talking) return this.#inner.next(codec);
    return { pcm: this.#silence, payload: this.#silencePayload[codec] };
  }
}
