/**
 * A deterministic, seeded, speech-like test signal for codec, resampler and
 * end-to-end tests: not silence and not a tone, so a wrong delay, a dropped
 * frame or a swapped call shows up in a correlation.
 *
 * Source-filter model (Fant; Klatt 1980 cascade synthesiser):
 *   band-limited glottal pulse train (pitch gliding 90-250 Hz)
 *   -> glottal spectral tilt (one pole)
 *   -> three cascaded formant resonators gliding between vowel targets
 *   -> syllabic envelope (3-5 syllables a second) with short pauses
 *   -> 4th-order Butterworth low-pass under the 3.4 kHz telephone band edge
 *      (ITU-T G.712 channel), whatever the sample rate.
 * Each segment (syllable or pause) is synthesised ahead into a buffer, so every
 * syllable can be scaled to peak at exactly its stress times -6 dBFS: the level
 * never drifts and never clips, whatever the pitch and formants do.
 */

const FULL_SCALE = 32767;
/** -6 dBFS: the peak of a fully stressed syllable. */
const TARGET_PEAK = 0.5;

const PITCH_MIN_HZ = 90;
const PITCH_MAX_HZ = 250;
/** Syllable lengths for a 3-5 Hz syllabic rate. */
const SYLLABLE_MIN_S = 0.2;
const SYLLABLE_MAX_S = 0.33;
/** Syllable peaks vary between STRESS_MIN and 1 times TARGET_PEAK (about -11 to -6 dBFS). */
const STRESS_MIN = 0.55;
const PAUSE_PROBABILITY = 0.2;
const PAUSE_MIN_S = 0.12;
const PAUSE_MAX_S = 0.35;
/** A pause is forced after this many syllables, so every few seconds hold one. */
const MAX_SYLLABLES_WITHOUT_PAUSE = 6;

/** Harmonics of the pulse train stop here, under the telephone band edge. */
const HARMONIC_CEILING_HZ = 3200;
/** Corner of the glottal-source tilt (-6 dB per octave above it, source plus lip radiation). */
const GLOTTAL_TILT_HZ = 150;
/** Aspiration noise, relative to one harmonic's amplitude. */
const BREATH_NOISE = 0.6;
/** Time constant of the formant glide between vowel targets. */
const FORMANT_GLIDE_S = 0.04;
/** Formants are retuned every this many seconds: far faster than they glide, far cheaper than per sample. */
const CONTROL_PERIOD_S = 0.002;
/** Formant bandwidths, typical of Klatt's (1980) synthesiser settings. */
const FORMANT_BANDWIDTHS_HZ = [90, 110, 170] as const;
/** Random spread around each vowel's formant targets (+-). */
const FORMANT_JITTER = 0.08;
const FORMANT_MAX_HZ = 2900;
const LOWPASS_HZ = 3000;
/** At sample rates too low for the above, harmonics and the low-pass stay below this share of the rate. */
const MAX_SHARE_OF_RATE = 0.4;
/** Q of the two biquads of a 4th-order Butterworth low-pass: 1 / (2 cos(pi/8)), 1 / (2 cos(3 pi/8)). */
const BUTTERWORTH4_Q = [0.5411961, 1.3065630] as const;

/** Average adult formants F1, F2, F3 in Hz (Peterson and Barney 1952). */
const VOWELS: readonly (readonly [number, number, number])[] = [
  [270, 2290, 3010],
  [390, 1990, 2550],
  [530, 1840, 2480],
  [660, 1720, 2410],
  [730, 1090, 2440],
  [570, 840, 2410],
  [440, 1020, 2240],
  [300, 870, 2240],
  [520, 1190, 2390],
  [490, 1350, 1690],
];

const TWO_PI = 2 * Math.PI;
/** Below this |sin(phase/2)| the Dirichlet kernel is taken at its limit. */
const KERNEL_EPSILON = 1e-9;

/** mulberry32: small, fast, good enough for test signals; one 32-bit word of state. */
class Prng {
  #state: number;
  constructor(seed: number) {
    // Spread nearby seeds apart (splitmix-style) so seeds 1 and 2 start unrelated.
    let s = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b);
    s ^= s >>> 13;
    this.#state = Math.imul(s, 0xc2b2ae35) ^ (s >>> 16);
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
}

/** Direct-form-I biquad with fixed coefficients. */
class Biquad {
  #b0: number;
  #b1: number;
  #b2: number;
  #a1: number;
  #a2: number;
  #x1 = 0;
  #x2 = 0;
  #y1 = 0;
  #y2 = 0;
  /** Low-pass from the RBJ Audio EQ Cookbook. */
  constructor(sampleRate: number, cutoffHz: number, q: number) {
    const w0 = (TWO_PI * cutoffHz) / sampleRate;
    const cos = Math.cos(w0);
    const alpha = Math.sin(w0) / (2 * q);
    const a0 = 1 + alpha;
    this.#b0 = (1 - cos) / 2 / a0;
    this.#b1 = (1 - cos) / a0;
    this.#b2 = this.#b0;
    this.#a1 = (-2 * cos) / a0;
    this.#a2 = (1 - alpha) / a0;
  }
  step(x: number): number {
    const y = this.#b0 * x + this.#b1 * this.#x1 + this.#b2 * this.#x2 - this.#a1 * this.#y1 - this.#a2 * this.#y2;
    this.#x2 = this.#x1;
    this.#x1 = x;
    this.#y2 = this.#y1;
    this.#y1 = y;
    return y;
  }
}

/** Klatt's two-pole resonator: unity gain at DC, peak at the frequency last tuned to. */
class Resonator {
  #y1 = 0;
  #y2 = 0;
  #a = 1;
  #b = 0;
  readonly #radius: number;
  readonly #c: number;
  readonly #radiansPerHz: number;
  constructor(sampleRate: number, bandwidthHz: number) {
    this.#radius = Math.exp((-Math.PI * bandwidthHz) / sampleRate);
    this.#c = -this.#radius * this.#radius;
    this.#radiansPerHz = TWO_PI / sampleRate;
  }
  tune(frequencyHz: number): void {
    this.#b = 2 * this.#radius * Math.cos(this.#radiansPerHz * frequencyHz);
    this.#a = 1 - this.#b - this.#c;
  }
  step(x: number): number {
    const y = this.#a * x + this.#b * this.#y1 + this.#c * this.#y2;
    this.#y2 = this.#y1;
    this.#y1 = y;
    return y;
  }
}

/** One segment: a syllable (voiced, with its stress) or a pause. */
interface Segment {
  length: number;
  voiced: boolean;
  stress: number;
  peak: number;
}

/** The unscaled synthesiser, one segment at a time; SpeechLikeSignal scales and streams it. */
class SpeechSynth {
  readonly #rate: number;
  readonly #rng: Prng;
  readonly #formants: Resonator[];
  readonly #lowpass: Biquad[];
  readonly #tiltCoeff: number;
  readonly #glideCoeff: number;
  readonly #controlPeriod: number;
  readonly #harmonicCeiling: number;
  /** Samples until the formants are next retuned. */
  #untilControl = 0;
  /** Samples of the segment last rendered. */
  readonly buffer: Float64Array;
  readonly segment: Segment = { length: 0, voiced: false, stress: 1, peak: 0 };
  #phase = 0;
  #tilt = 0;
  #f0: number;
  readonly #formantHz = [0, 0, 0];
  readonly #formantTarget = [0, 0, 0];
  #syllablesSincePause = 0;

  constructor(sampleRate: number, seed: number) {
    this.#rate = sampleRate;
    this.#rng = new Prng(seed);
    this.#formants = FORMANT_BANDWIDTHS_HZ.map((bw) => new Resonator(sampleRate, bw));
    const lowpassHz = Math.min(LOWPASS_HZ, sampleRate * MAX_SHARE_OF_RATE);
    this.#lowpass = BUTTERWORTH4_Q.map((q) => new Biquad(sampleRate, lowpassHz, q));
    this.#tiltCoeff = Math.exp((-TWO_PI * GLOTTAL_TILT_HZ) / sampleRate);
    this.#controlPeriod = Math.max(1, Math.round(CONTROL_PERIOD_S * sampleRate));
    this.#glideCoeff = Math.exp(-this.#controlPeriod / (FORMANT_GLIDE_S * sampleRate));
    this.#harmonicCeiling = Math.min(HARMONIC_CEILING_HZ, sampleRate * MAX_SHARE_OF_RATE);
    this.buffer = new Float64Array(Math.ceil(sampleRate * Math.max(SYLLABLE_MAX_S, PAUSE_MAX_S)) + 1);
    this.#f0 = this.#rng.range(PITCH_MIN_HZ, PITCH_MAX_HZ);
  }

  /** Render the next syllable or pause into `buffer` and describe it in `segment`. */
  renderNext(): void {
    const rng = this.#rng;
    const seg = this.segment;
    const first = seg.length === 0;
    const pause =
      !first &&
      seg.voiced &&
      (this.#syllablesSincePause >= MAX_SYLLABLES_WITHOUT_PAUSE || rng.next() < PAUSE_PROBABILITY);
    let f0Ratio = 1;
    if (pause) {
      this.#syllablesSincePause = 0;
      seg.voiced = false;
      seg.length = Math.round(this.#rate * rng.range(PAUSE_MIN_S, PAUSE_MAX_S));
    } else {
      this.#syllablesSincePause++;
      seg.voiced = true;
      seg.length = Math.round(this.#rate * rng.range(SYLLABLE_MIN_S, SYLLABLE_MAX_S));
      seg.stress = rng.range(STRESS_MIN, 1);
      // Pitch glides geometrically to a new target over the syllable, so it stays in range.
      f0Ratio = Math.pow(rng.range(PITCH_MIN_HZ, PITCH_MAX_HZ) / this.#f0, 1 / seg.length);
      const vowel = VOWELS[Math.floor(rng.next() * VOWELS.length)]!;
      for (let i = 0; i < 3; i++) {
        this.#formantTarget[i] = Math.min(vowel[i]! * rng.range(1 - FORMANT_JITTER, 1 + FORMANT_JITTER), FORMANT_MAX_HZ);
        if (first) this.#formantHz[i] = this.#formantTarget[i]!;
      }
    }
    // Envelope sin(pi * i / length) by the two-term recurrence s[i+1] = 2 cos(w) s[i] - s[i-1].
    const twoCos = 2 * Math.cos(Math.PI / seg.length);
    let envelope = 0;
    let envelopeNext = seg.voiced ? Math.sin(Math.PI / seg.length) : 0;
    let peak = 0;
    for (let i = 0; i < seg.length; i++) {
      const y = this.#sample(envelope);
      const after = twoCos * envelopeNext - envelope;
      envelope = envelopeNext;
      envelopeNext = after;
      this.#f0 *= f0Ratio;
      this.buffer[i] = y;
      peak = Math.max(peak, Math.abs(y));
    }
    seg.peak = peak;
  }

  #sample(envelope: number): number {
    // Band-limited pulse train: the Dirichlet kernel, sum of cos(k * phase) for k = 1..K,
    // with K chosen so no harmonic passes the ceiling (no aliasing at any rate).
    const harmonics = Math.max(1, Math.floor(this.#harmonicCeiling / this.#f0));
    const half = Math.sin(this.#phase / 2);
    const pulse =
      Math.abs(half) < KERNEL_EPSILON ? harmonics : Math.sin((harmonics + 0.5) * this.#phase) / (2 * half) - 0.5;
    this.#phase += (TWO_PI * this.#f0) / this.#rate;
    if (this.#phase >= TWO_PI) this.#phase -= TWO_PI;

    this.#tilt = pulse + this.#tiltCoeff * (this.#tilt - pulse);
    let y = envelope * (this.#tilt + BREATH_NOISE * (2 * this.#rng.next() - 1));
    if (this.#untilControl-- <= 0) {
      this.#untilControl = this.#controlPeriod - 1;
      const glide = this.#glideCoeff;
      for (let i = 0; i < 3; i++) {
        const target = this.#formantTarget[i]!;
        const f = target + glide * (this.#formantHz[i]! - target);
        this.#formantHz[i] = f;
        this.#formants[i]!.tune(f);
      }
    }
    for (const formant of this.#formants) y = formant.step(y);
    for (const stage of this.#lowpass) y = stage.step(y);
    return y;
  }
}

export class SpeechLikeSignal {
  readonly sampleRate: number;
  readonly seed: number;
  readonly #synth: SpeechSynth;
  #position = 0;
  #gain = 0;

  constructor(sampleRate: number, seed = 1) {
    if (!(sampleRate > 0) || !Number.isFinite(sampleRate)) {
      throw new RangeError(`SpeechLikeSignal: sample rate must be a positive number, got ${sampleRate}`);
    }
    this.sampleRate = sampleRate;
    this.seed = seed;
    this.#synth = new SpeechSynth(sampleRate, seed);
  }

  /** The next `count` samples; consecutive calls continue the waveform. */
  next(count: number, out?: Int16Array): Int16Array {
    let dst: Int16Array;
    if (out === undefined) {
      dst = new Int16Array(count);
    } else {
      if (out.length < count) throw new RangeError(`SpeechLikeSignal.next: out holds ${out.length} samples, asked for ${count}`);
      dst = out;
    }
    const synth = this.#synth;
    const segment = synth.segment;
    for (let i = 0; i < count; i++) {
      if (this.#position >= segment.length) {
        synth.renderNext();
        this.#position = 0;
        // A pause keeps the previous syllable's gain: it holds only that syllable's fading ring.
        if (segment.voiced && segment.peak > 0) this.#gain = (FULL_SCALE * TARGET_PEAK * segment.stress) / segment.peak;
      }
      const v = Math.round(this.#gain * synth.buffer[this.#position++]!);
      dst[i] = v > FULL_SCALE ? FULL_SCALE : v < -FULL_SCALE ? -FULL_SCALE : v;
    }
    return dst;
  }
}
