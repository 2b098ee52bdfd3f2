/**
 * Packet-loss concealment for G.711 (and any PCM without decoder PLC), after
 * ITU-T G.711 Appendix I: repeat the last pitch period of the good signal,
 * widen the repeated stretch to two and then three periods as the erasure goes
 * on (one period repeated for long sounds buzzy), fade out linearly, and
 * cross-fade back into real audio.
 *
 * One difference from Appendix I: Appendix I delays its output by 3.75 ms so it
 * can overlap-add the start of the repetition with the real signal's tail. The
 * buffer in front of this class adds no delay on a clean stream, so instead the
 * repeated stretch is made continuous where it wraps: its first quarter period
 * carries a linearly vanishing offset equal to the mismatch between the last
 * good sample and the sample one stretch earlier. The output then continues from
 * the last good sample with the signal's own slope, at the erasure start and at
 * every wrap.
 *
 * Timeline of an erasure (Appendix I): full level for 10 ms, then -20% per 10 ms,
 * silent from 60 ms on (comfort silence: digital zero, nothing a speech detector
 * could take for a voice). Coming back, the good frame is cross-faded with the
 * continuing synthetic signal over a quarter period plus 4 ms per further 10 ms of
 * erasure, at most 10 ms (after 60 ms that is a short fade-in from silence).
 *
 * An addition to Appendix I, for callers that already hold the frame after the
 * gap (a jitter buffer with some delay usually does): conceal(next) interpolates
 * the gap, cross-fading the forward repetition into a backward repetition of
 * the pitch period that opens `next`, so the gap ends exactly on `next`.
 */

const MS_PER_SECOND = 1000;
/** Pitch search range, Appendix I: 40-120 samples at 8 kHz (200 Hz down to 66.7 Hz). */
const PITCH_MIN_MS = 5;
const PITCH_MAX_MS = 15;
/**
 * Pitch correlation window: 5 ms. Appendix I correlates 20 ms (CORRLEN, 160
 * samples at 8 kHz); on gliding speech-like test audio the shorter window
 * tracks the latest period better (forward concealment about 1 dB closer to the
 * lost audio), and the longest lag plus the window fits in one 20 ms frame, as
 * the look-ahead needs.
 */
const CORRELATION_MS = 5;
/** The repeated stretch grows by one pitch period every 10 ms of erasure, up to three (Appendix I). */
const PERIOD_STEP_MS = 10;
const MAX_PERIODS = 3;
/** Full level for the first 10 ms, then a linear fade of 20% per 10 ms, silent from 60 ms (Appendix I). */
const FADE_START_MS = 10;
const FADE_END_MS = 60;
/** Overlap-add length: a quarter of the pitch period (Appendix I). */
const OVERLAP_SHARE = 0.25;
/** Recovery cross-fade: the overlap plus 4 ms per 10 ms of erasure after the first, at most 10 ms (Appendix I). */
const RECOVERY_STEP_MS = 4;
const RECOVERY_MAX_MS = 10;
/** A frame under -40 dBFS (RMS) is quiet enough to drop unnoticed. */
const QUIET_RMS = 32768 * 10 ** (-40 / 20);
const INT16_MAX = 32767;
const INT16_MIN = -32768;

/**
 * What a jitter buffer needs from a concealer: this class over PCM frames, or
 * PayloadPlayout over encoded payloads (decoding at playout, with the codec's
 * own PLC and FEC where it has them). `F` is what a held frame is.
 */
export interface FrameConcealer<F = Int16Array> {
  /** A received frame: returns the PCM to play (cross-faded when coming out of concealment). */
  good(frame: F): Int16Array;
  /**
   * A frame to play in place of a missing one. `next`, when given, is the next
   * frame that will be played (already received), `framesToNext` frames from
   * now counting this one: the concealment may then lead into it.
   */
  conceal(next?: F, framesToNext?: number): Int16Array;
  /** The frame is quiet enough to drop unnoticed when the buffer shrinks; absent: never judged quiet. */
  quiet?(frame: F): boolean;
  /** The next good frame does not follow the last one played (a frame was skipped): smooth the join. */
  splice?(): void;
  reset(): void;
}

export class Concealer implements FrameConcealer<Int16Array> {
  readonly samplesPerFrame: number;
  readonly sampleRate: number;
  readonly #pitchMin: number;
  readonly #pitchMax: number;
  readonly #correlationLength: number;
  readonly #periodStep: number;
  readonly #fadeStart: number;
  readonly #fadeEnd: number;
  readonly #recoveryStep: number;
  readonly #recoveryMax: number;

  /** The latest output samples, oldest first (good frames and concealment alike). */
  readonly #history: Int16Array;
  /** True once a good frame has been seen since construction or reset. */
  #primed = false;

  /** Samples concealed in the current erasure; 0 outside one. */
  #erased = 0;
  #inErasure = false;
  #splicePending = false;
  /** The history as it was when the erasure started: the repeated stretch comes from here. */
  readonly #snapshot: Int16Array;
  #pitch = 0;
  #overlap = 1;
  /** Per number of periods k: the mismatch spread over the first `#overlap` samples of the k-period stretch. */
  readonly #offset = new Float64Array(MAX_PERIODS + 1);
  /** Periods in the repeated stretch, and the position in it. */
  #periods = 1;
  #position = 0;
  /** The received frame the current concealment leads into, where it starts leading in, and where that frame starts (samples into the erasure). */
  #lookahead: Int16Array | undefined = undefined;
  #lookFrom = 0;
  #lookEnd = 0;
  #lookPitch = 0;
  #lookOverlap = 1;
  #lookOffset = 0;
  /** While switching stretch: the old stretch, faded out over `#overlap` samples. */
  #fadingPeriods = 0;
  #fadingPosition = 0;
  #fadingLeft = 0;

  constructor(samplesPerFrame: number, sampleRate: number) {
    if (!Number.isInteger(samplesPerFrame) || samplesPerFrame <= 0) {
      throw new RangeError(`Concealer: samples per frame must be a positive integer, got ${samplesPerFrame}`);
    }
    const perMs = sampleRate / MS_PER_SECOND;
    if (!Number.isFinite(sampleRate) || Math.round(PITCH_MIN_MS * perMs) < 2) {
      throw new RangeError(`Concealer: sample rate must be at least ${(2 * MS_PER_SECOND) / PITCH_MIN_MS} Hz, got ${sampleRate}`);
    }
    this.samplesPerFrame = samplesPerFrame;
    this.sampleRate = sampleRate;
    this.#pitchMin = Math.round(PITCH_MIN_MS * perMs);
    this.#pitchMax = Math.round(PITCH_MAX_MS * perMs);
    this.#correlationLength = Math.round(CORRELATION_MS * perMs);
    this.#periodStep = Math.round(PERIOD_STEP_MS * perMs);
    this.#fadeStart = Math.round(FADE_START_MS * perMs);
    this.#fadeEnd = Math.round(FADE_END_MS * perMs);
    this.#recoveryStep = Math.round(RECOVERY_STEP_MS * perMs);
    this.#recoveryMax = Math.round(RECOVERY_MAX_MS * perMs);
    const maxOverlap = Math.ceil(this.#pitchMax * OVERLAP_SHARE);
    // Three periods plus the sample before them (for the wrap offset), or the correlation window plus the longest lag.
    const length = Math.max(MAX_PERIODS * this.#pitchMax + maxOverlap + 1, this.#correlationLength + this.#pitchMax);
    this.#history = new Int16Array(length);
    this.#snapshot = new Int16Array(length);
  }

  /** Samples concealed in the current erasure (0 when the last frame was good). */
  get erasedSamples(): number {
    return this.#erased;
  }

  /** The pitch period, in samples, used by the current or latest erasure (0 before any). */
  get pitchSamples(): number {
    return this.#pitch;
  }

  /**
   * A received frame. Returns the frame itself (no copy) unless it follows a
   * concealment or a splice; then a new array, cross-faded. `pcm` is not modified.
   */
  good(pcm: Int16Array): Int16Array {
    if (pcm.length !== this.samplesPerFrame) {
      throw new RangeError(`Concealer.good: frame holds ${pcm.length} samples, expected ${this.samplesPerFrame}`);
    }
    let out = pcm;
    const joined = this.#inErasure && pcm === this.#lookahead && this.#erased === this.#lookEnd;
    if (!joined && (this.#inErasure || (this.#splicePending && this.#primed))) {
      if (!this.#inErasure) this.#startErasure();
      out = this.#recover(pcm);
    }
    this.#lookahead = undefined;
    this.#inErasure = false;
    this.#splicePending = false;
    this.#erased = 0;
    this.#primed = true;
    this.#remember(out);
    return out;
  }

  /**
   * A frame in place of a missing one: the repeated pitch stretch, fading;
   * zeros from 60 ms on or with nothing to repeat.
   *
   * With `next` (the frame that will be played `framesToNext` frames from now,
   * counting this one, already received: a jitter buffer usually holds it), the
   * gap is interpolated instead: the forward repetition is cross-faded linearly
   * over the rest of the gap into a backward repetition of the pitch period
   * that opens `next`, which fades the same way seen from its end (full level
   * within 10 ms of `next`, silent beyond 60 ms). The gap then ends exactly on
   * `next`'s first sample and good(next) plays `next` unchanged.
   */
  conceal(next?: Int16Array, framesToNext = 1): Int16Array {
    const n = this.samplesPerFrame;
    const out = new Int16Array(n);
    if (!this.#primed) return out;
    if (!this.#inErasure) this.#startErasure();
    if (next !== undefined && next.length === n && Number.isInteger(framesToNext) && framesToNext >= 1) {
      this.#lookAt(next, this.#erased + framesToNext * n);
    } else {
      this.#lookahead = undefined;
    }
    const look = this.#lookahead;
    for (let i = 0; i < n; i++) {
      const erased = this.#erased++;
      let v = erased < this.#fadeEnd ? this.#nextSynthetic(erased) * this.#gain(erased) : 0;
      if (look !== undefined) {
        const before = this.#lookEnd - erased;
        const back = before - 1 < this.#fadeEnd ? this.#backward(look, before) * this.#gain(before - 1) : 0;
        const w = (erased - this.#lookFrom + 1) / (this.#lookEnd - this.#lookFrom + 1);
        v = (1 - w) * v + w * back;
      }
      out[i] = clamp(v);
    }
    this.#splicePending = false;
    this.#remember(out);
    return out;
  }

  /** Under -40 dBFS RMS: quiet enough to drop unnoticed. */
  quiet(pcm: Int16Array): boolean {
    let energy = 0;
    for (let i = 0; i < pcm.length; i++) energy += pcm[i]! * pcm[i]!;
    return energy < QUIET_RMS * QUIET_RMS * pcm.length;
  }

  /** The next good frame does not continue the last one played (the jitter buffer skipped a frame): cross-fade into it. */
  splice(): void {
    this.#splicePending = true;
  }

  reset(): void {
    this.#history.fill(0);
    this.#primed = false;
    this.#inErasure = false;
    this.#splicePending = false;
    this.#erased = 0;
    this.#pitch = 0;
    this.#lookahead = undefined;
  }

  /** Lead the concealment into `next`, which starts `end` samples into the erasure. */
  #lookAt(next: Int16Array, end: number): void {
    if (next === this.#lookahead && end === this.#lookEnd) return;
    if (next.length < this.#pitchMax + this.#correlationLength) {
      // Too short to hold a pitch period and its correlation window: conceal forward only.
      this.#lookahead = undefined;
      return;
    }
    const pitch = this.#estimatePitchIn(next);
    this.#lookahead = next;
    this.#lookFrom = this.#erased;
    this.#lookEnd = end;
    this.#lookPitch = pitch;
    this.#lookOverlap = Math.max(1, Math.round(pitch * OVERLAP_SHARE));
    // Continuity where the backward repetition wraps: next[pitch - 1] is followed by next[0], not next[pitch].
    this.#lookOffset = pitch === 0 ? 0 : next[0]! - next[pitch]!;
  }

  /** The pitch period of `next` repeated backwards from its start: the sample `before` samples ahead of next[0]. */
  #backward(next: Int16Array, before: number): number {
    const pitch = this.#lookPitch;
    if (pitch === 0) return 0;
    const m = ((before - 1) % pitch) + 1;
    const v = next[pitch - m]!;
    return m <= this.#lookOverlap ? v + this.#lookOffset * (1 - (m - 1) / this.#lookOverlap) : v;
  }

  #startErasure(): void {
    this.#snapshot.set(this.#history);
    this.#inErasure = true;
    this.#erased = 0;
    const h = this.#snapshot;
    const end = h.length;
    const pitch = this.#estimatePitch(h);
    this.#pitch = pitch;
    this.#overlap = Math.max(1, Math.round(pitch * OVERLAP_SHARE));
    const last = h[end - 1]!;
    for (let k = 1; k <= MAX_PERIODS; k++) this.#offset[k] = last - h[end - 1 - k * pitch]!;
    this.#periods = 1;
    this.#position = 0;
    this.#fadingLeft = 0;
  }

  /** Sample `position` of the stretch of the last `periods` pitch periods, made continuous where it wraps. */
  #stretch(periods: number, position: number): number {
    const h = this.#snapshot;
    const v = h[h.length - periods * this.#pitch + position]!;
    return position < this.#overlap ? v + this.#offset[periods]! * (1 - position / this.#overlap) : v;
  }

  /** The next synthetic sample before the fade: the repeated stretch, widened every 10 ms with an overlap-add. */
  #nextSynthetic(erased: number): number {
    if (this.#periods < MAX_PERIODS && erased > 0 && erased === this.#periods * this.#periodStep) {
      // Same place in the signal, one period further into a longer stretch; fade the old stretch out.
      this.#fadingPeriods = this.#periods;
      this.#fadingPosition = this.#position;
      this.#fadingLeft = this.#overlap;
      this.#periods++;
      this.#position += this.#pitch;
    }
    let v = this.#stretch(this.#periods, this.#position);
    if (++this.#position >= this.#periods * this.#pitch) this.#position = 0;
    if (this.#fadingLeft > 0) {
      const old = this.#stretch(this.#fadingPeriods, this.#fadingPosition);
      if (++this.#fadingPosition >= this.#fadingPeriods * this.#pitch) this.#fadingPosition = 0;
      const w = this.#fadingLeft / (this.#overlap + 1);
      v = w * old + (1 - w) * v;
      this.#fadingLeft--;
    }
    return v;
  }

  #gain(erased: number): number {
    if (erased < this.#fadeStart) return 1;
    if (erased >= this.#fadeEnd) return 0;
    return 1 - (erased - this.#fadeStart) / (this.#fadeEnd - this.#fadeStart);
  }

  /** The good frame cross-faded with the continuing synthetic signal. */
  #recover(pcm: Int16Array): Int16Array {
    const out = new Int16Array(pcm);
    const tenMsSteps = Math.max(1, Math.ceil(this.#erased / this.#periodStep));
    const length = Math.min(this.#overlap + (tenMsSteps - 1) * this.#recoveryStep, this.#recoveryMax, out.length);
    for (let i = 0; i < length; i++) {
      const erased = this.#erased++;
      const synthetic = erased < this.#fadeEnd ? this.#nextSynthetic(erased) * this.#gain(erased) : 0;
      const w = (i + 1) / (length + 1);
      out[i] = clamp(w * pcm[i]! + (1 - w) * synthetic);
    }
    return out;
  }

  /**
   * Normalised cross-correlation of the latest 5 ms with the signal `lag`
   * samples earlier (normalised by the energy of the earlier stretch, as in
   * Appendix I), maximised over the pitch range. Every lag is tried; the energy
   * slides along, so it costs one multiply-add per lag and window sample (3,240
   * at 8 kHz), once per erasure.
   */
  #estimatePitch(h: Int16Array): number {
    const end = h.length;
    const start = end - this.#correlationLength;
    let yy = 0;
    for (let i = start - this.#pitchMin; i < end - this.#pitchMin; i++) yy += h[i]! * h[i]!;
    let best = this.#pitchMax;
    let bestScore = -Infinity;
    for (let lag = this.#pitchMin; lag <= this.#pitchMax; lag++) {
      let xy = 0;
      for (let i = start; i < end; i++) xy += h[i]! * h[i - lag]!;
      const score = yy > 0 ? xy / Math.sqrt(yy) : 0;
      if (score > bestScore) {
        bestScore = score;
        best = lag;
      }
      // Slide the earlier stretch back by one sample.
      const enter = h[start - lag - 1]!;
      const leave = h[end - lag - 1]!;
      yy += enter * enter - leave * leave;
    }
    return best;
  }

  /**
   * The pitch period at the start of a received frame: normalised correlation
   * of its first 5 ms with the 5 ms `lag` samples on (the frame holds at least
   * the longest lag plus 5 ms). 0 when the frame is silent.
   */
  #estimatePitchIn(frame: Int16Array): number {
    const window = this.#correlationLength;
    let yy = 0;
    for (let i = 0; i < window; i++) yy += frame[i]! * frame[i]!;
    let xx = 0;
    for (let i = this.#pitchMin; i < this.#pitchMin + window; i++) xx += frame[i]! * frame[i]!;
    if (yy === 0 && energyOf(frame) === 0) return 0;
    let best = this.#pitchMax;
    let bestScore = -Infinity;
    for (let lag = this.#pitchMin; lag <= this.#pitchMax; lag++) {
      let xy = 0;
      for (let i = 0; i < window; i++) xy += frame[i + lag]! * frame[i]!;
      const score = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
      if (score > bestScore) {
        bestScore = score;
        best = lag;
      }
      // Slide the later stretch on by one sample.
      const leave = frame[lag]!;
      const enter = frame[lag + window] ?? 0;
      xx += enter * enter - leave * leave;
    }
    return best;
  }

  #remember(frame: Int16Array): void {
    const h = this.#history;
    const n = frame.length;
    if (n >= h.length) {
      h.set(frame.subarray(n - h.length));
    } else {
      h.copyWithin(0, n);
      h.set(frame, h.length - n);
    }
  }
}

function energyOf(frame: Int16Array): number {
  let e = 0;
  for (let i = 0; i < frame.length; i++) e += frame[i]! * frame[i]!;
  return e;
}

function clamp(v: number): number {
  const r = Math.round(v);
  return r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r;
}
