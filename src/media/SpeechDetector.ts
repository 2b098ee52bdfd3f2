/**
 * Energy speech detector for barge-in and turn ends: speech starts after
 * `minSpeechMs` of consecutive audio above `thresholdDbfs` (room tone and
 * clicks stay below either bound), and stops after `hangoverMs` below it.
 * Pure: feed it PCM chunks, read the transitions it returns.
 */

export interface SpeechDetectorOptions {
  sampleRate: number;
  /** RMS level, dB relative to full scale, that counts as speech (default -35 dBFS). */
  thresholdDbfs?: number;
  /** Continuous speech needed before it counts (default 200 ms). */
  minSpeechMs?: number;
  /** Quiet needed before speech is over (default 500 ms). */
  hangoverMs?: number;
}

export const DEFAULT_SPEECH_THRESHOLD_DBFS = -35;
export const DEFAULT_MIN_SPEECH_MS = 200;
export const DEFAULT_HANGOVER_MS = 500;
/** Energy is judged per 10 ms window: short enough to start within a frame. */
const WINDOW_MS = 10;
const FULL_SCALE = 32768;

export type SpeechTransition = 'started' | 'stopped' | null;

export class SpeechDetector {
  readonly #window: number;
  readonly #thresholdSq: number;
  readonly #minSpeechWindows: number;
  readonly #hangoverWindows: number;
  #acc = 0;
  #accN = 0;
  #loudRun = 0;
  #quietRun = 0;
  #speaking = false;

  constructor(options: SpeechDetectorOptions) {
    const threshold = options.thresholdDbfs ?? DEFAULT_SPEECH_THRESHOLD_DBFS;
    if (!(threshold < 0 && threshold > -100)) throw new RangeError('SpeechDetector: thresholdDbfs must be between -100 and 0');
    this.#window = Math.max(1, Math.round((options.sampleRate * WINDOW_MS) / 1000));
    const amplitude = FULL_SCALE * 10 ** (threshold / 20);
    this.#thresholdSq = amplitude * amplitude;
    this.#minSpeechWindows = Math.max(1, Math.round((options.minSpeechMs ?? DEFAULT_MIN_SPEECH_MS) / WINDOW_MS));
    this.#hangoverWindows = Math.max(1, Math.round((options.hangoverMs ?? DEFAULT_HANGOVER_MS) / WINDOW_MS));
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** Feed audio; returns the transition this chunk caused (the last one if several). */
  push(pcm: Int16Array): SpeechTransition {
    let transition: SpeechTransition = null;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      this.#acc += s * s;
      if (++this.#accN < this.#window) continue;
      const loud = this.#acc / this.#accN >= this.#thresholdSq;
      this.#acc = 0;
      this.#accN = 0;
      if (loud) {
        this.#loudRun++;
        this.#quietRun = 0;
        if (!this.#speaking && this.#loudRun >= this.#minSpeechWindows) {
          this.#speaking = true;
          transition = 'started';
        }
      } else {
        this.#quietRun++;
        this.#loudRun = 0;
        if (this.#speaking && this.#quietRun >= this.#hangoverWindows) {
          this.#speaking = false;
          transition = 'stopped';
        }
      }
    }
    return transition;
  }

  reset(): void {
    this.#acc = 0;
    this.#accN = 0;
    this.#loudRun = 0;
    this.#quietRun = 0;
    this.#speaking = false;
  }
}
