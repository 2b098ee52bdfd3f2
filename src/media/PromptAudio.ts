/**
 * Greeting and hold audio, converted once: a file is decoded once at start
 * (src/audio/loadAudioFile.ts), and here resampled once per rate a call asks
 * for and cut into 20 ms frames, with short fades at both ends so a prompt
 * never starts or stops on a click. The frames are then shared by every call
 * at that rate; each call encodes them with its own encoder, because G.722
 * and Opus encoders carry state that the phone's decoder follows.
 */
import { samplesPerFrame } from './constants.js';
import { createResampler } from './createResampler.js';
import { resampleOffline } from './resampleOffline.js';

/** Rates the polyphase resampler converts between; anything else goes through resampleOffline. */
const POLYPHASE_RATES: readonly number[] = [8000, 16000, 24000, 48000];

/** Decoded prompt audio: mono PCM16 at its file's rate. */
export interface PromptPcm {
  sampleRate: number;
  pcm: Int16Array;
}

/** 5 ms fades: long enough to remove the click of a cut waveform, short enough to keep every word. */
const FADE_MS = 5;

const shared = new WeakMap<PromptPcm, PromptAudio>();

export class PromptAudio {
  readonly source: PromptPcm;
  readonly #byRate = new Map<number, readonly Int16Array[]>();

  /** One PromptAudio per source object (per thread): every call on a worker shares its conversions. */
  static of(source: PromptPcm): PromptAudio {
    let prompt = shared.get(source);
    if (prompt === undefined) {
      prompt = new PromptAudio(source);
      shared.set(source, prompt);
    }
    return prompt;
  }

  /** The whole prompt at `rate`, as one array (frames joined; the last one's padding included). */
  pcmAt(rate: number): Int16Array {
    const frames = this.framesAt(rate);
    const frame = frames[0]!.length;
    const out = new Int16Array(frames.length * frame);
    frames.forEach((f, i) => out.set(f, i * frame));
    return out;
  }

  constructor(source: PromptPcm) {
    if (!(source.pcm instanceof Int16Array) || source.pcm.length === 0) throw new RangeError('PromptAudio: no samples');
    this.source = source;
  }

  /** Duration of the source, ms. */
  get durationMs(): number {
    return (this.source.pcm.length * 1000) / this.source.sampleRate;
  }

  /** The prompt at `rate` in whole 20 ms frames (the last padded with silence), computed on first use. */
  framesAt(rate: number): readonly Int16Array[] {
    let frames = this.#byRate.get(rate);
    if (frames === undefined) {
      frames = cutFrames(fade(resampleWhole(this.source, rate), rate), samplesPerFrame(rate));
      this.#byRate.set(rate, frames);
    }
    return frames;
  }
}

/** All of `source` at `rate`, including the filter's tail (the resampler holds its last samples back). */
function resampleWhole(source: PromptPcm, rate: number): Int16Array {
  if (source.sampleRate === rate) return source.pcm.slice();
  if (!POLYPHASE_RATES.includes(source.sampleRate) || !POLYPHASE_RATES.includes(rate)) return resampleOffline(source.pcm, source.sampleRate, rate);
  const r = createResampler(source.sampleRate, rate);
  const body = r.process(source.pcm);
  const tail = r.process(new Int16Array(Math.ceil((2 * r.delayOutputSamples * source.sampleRate) / rate) + 1));
  // Drop the filter's delay at the front so the prompt starts when it is played.
  const all = new Int16Array(body.length + tail.length);
  all.set(body);
  all.set(tail, body.length);
  const wanted = Math.round((source.pcm.length * rate) / source.sampleRate);
  return all.slice(r.delayOutputSamples, r.delayOutputSamples + wanted);
}

function fade(pcm: Int16Array, rate: number): Int16Array {
  const n = Math.min(Math.round((rate * FADE_MS) / 1000), pcm.length >> 1);
  for (let i = 0; i < n; i++) {
    const g = i / n;
    pcm[i] = Math.round(pcm[i]! * g);
    pcm[pcm.length - 1 - i] = Math.round(pcm[pcm.length - 1 - i]! * g);
  }
  return pcm;
}

function cutFrames(pcm: Int16Array, frame: number): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at < pcm.length; at += frame) {
    const f = new Int16Array(frame);
    f.set(pcm.subarray(at, Math.min(pcm.length, at + frame)));
    frames.push(f);
  }
  return frames;
}
