/**
 * Adaptive jitter buffer for the phone -> agent direction of one call
 * (DESIGN.md section 5). Frames come in out of order, late, twice or never;
 * frames go out in sequence, one per frame interval of a playout clock that the
 * caller drives with its own times (this class keeps no timers).
 *
 * Playout clock: the first frame plays at its arrival plus the target delay;
 * frame `seq` plays `frameMs` after frame `seq - 1`, except where the delay is
 * adapted (a frame inserted or skipped, see below). A frame missing when its
 * time comes is concealed; if it arrives afterwards it is late and discarded.
 * A missing frame is given `graceMs` (a quarter frame) past its time before it
 * is concealed, so a caller that pops on a timer as well as after each push
 * does not lose frames to sub-millisecond jitter on a loopback or LAN link.
 *
 * Delay: all in terms of transit, `arrival - seq * frameMs` (the arrival
 * against the frame's nominal send time). The relative delay of a frame is its
 * transit over the lowest transit of the last 2 s (as WebRTC's NetEq does: the
 * window follows clock drift and route changes). The buffer holds `headroom` =
 * (playout time - nominal time) - lowest transit: a frame is on time when its
 * relative delay is at most headroom + grace. A histogram of the relative
 * delays in whole frames beyond the grace, forgetting with a 10 s memory, gives
 * the target: the smallest whole number of frames that at least
 * (1 - maxLateLossRate) of the frames needed, clamped to [minDelay, maxDelay].
 *
 * Adaptation rule (clocked; eager mode below):
 * - Grow at once: when the due frame is missing and headroom < target, a
 *   concealment frame is played in front of it instead of in its place
 *   (headroom + one frame); the frame still plays if it comes. So the delay
 *   grows exactly when a frame would otherwise be lost to lateness, and a late
 *   arrival moves the target up straight away while the histogram holds few
 *   frames (early in a call), later once late frames reach the loss budget.
 * - Shrink slowly: when headroom exceeds target by at least one frame and the
 *   playout has run clean (no growth, skip or late arrival) for a hold of
 *   1 s / (whole frames of excess), at least 100 ms, one frame is skipped: the
 *   due frame if it is missing or quiet (under -40 dBFS) and the next one is
 *   here; after three holds any frame is skipped (the concealer cross-fades the
 *   join). So one frame of excess goes after a second of clean playout, ten
 *   frames (after a restart) at about one per 100 ms.
 * - With steady input (zero jitter) the histogram holds only zeros: the target
 *   stays at minDelay, and with minDelay 0 a frame popped at its own arrival
 *   time is returned at once: the buffer adds no delay.
 *
 * Eager release (`eager: true`, the call path's mode): the consumer is an
 * agent, not a sound card, so there is no output clock to keep. A frame that
 * is next in sequence and here is released at once, even before its playout
 * time; the playout clock only decides how long a missing frame is waited
 * for before it is concealed. That clock is kept as the headroom itself, over
 * the lowest recent transit: when that transit rises (a slow sender's clock
 * drifting, a slower route) the clock moves with it, so the drift is never
 * owed to the next gap; when it falls (an early frame, a fast sender) the
 * clock stays, so an early frame never shortens the wait for the one it
 * overtook. The delay changes without audio: it grows to the target at once
 * (no frame inserted), shrinks a frame after the hold above (no frame
 * skipped), and never passes maxDelay. The only synthetic audio is a lost
 * frame's own concealment. With steady input the buffer adds no delay at all.
 * A gap is only known to be one when a later frame has arrived: with nothing
 * newer held, the stream is paused, not lossy, and concealment starts only
 * after `stallMs` (default: never), so a caller's stream that ends, or
 * stalls, is not padded with synthetic audio.
 *
 * Memory: frames are accepted up to `capacityFrames` = ceil(maxDelay/frameMs)
 * + 4 ahead of the playout point. A frame that far ahead, or that far behind
 * and not a late arrival of a concealed frame, does not belong to the stream:
 * one such frame alone (a stale copy, a garbled counter) is discarded and
 * counted (`dropped` ahead, `late` or `duplicates` behind). When the next
 * frame is out of the stream too and within `capacityFrames` of it, the
 * counter has moved (a provider restart or reconnect, or a counter that went
 * back): the stream restarts on the first of the two, what is buffered is
 * dropped, and both frames play. The delay histogram and the counters survive
 * a restart.
 */
import { FRAME_MS } from './constants.js';
import { Concealer, type FrameConcealer } from './Concealer.js';

const MS_PER_SECOND = 1000;
const DEFAULT_MAX_DELAY_MS = 200;
const DEFAULT_MAX_LATE_LOSS_RATE = 0.01;
/**
 * Never, by default: a provider streams continuously, so a stream with nothing
 * newer held is stalled upstream or behind our own busy main thread, and an
 * agent is better served by that audio late than by synthetic audio followed
 * by the real frames discarded as late (seen in the security suite: with a
 * 500 ms wait, 11 of 300 frames of an honest call were lost to lateness while
 * a fuzz run kept the gateway's main thread busy).
 */
const DEFAULT_STALL_MS = Number.POSITIVE_INFINITY;
/** Frames accepted beyond maxDelay: the one-frame dead band over the target, early frames and the grace. */
const EXTRA_CAPACITY_FRAMES = 4;
/** Frames behind the playout point that are remembered (for duplicates and late arrivals), at least. */
const MIN_HISTORY_FRAMES = 64;
/** A missing frame is waited for this share of a frame past its time before it is concealed. */
const GRACE_SHARE = 0.25;
/** RFC 3550 section 6.4.1: J += (|D| - J) / 16. */
const RFC3550_JITTER_GAIN = 1 / 16;
/** Lowest transit over about 2 s: blocks of 0.5 s (NetEq's relative-delay window). */
const MIN_TRANSIT_BLOCKS = 4;
const MIN_TRANSIT_BLOCK_MS = 500;
/** Delay histogram memory: each frame weighs 1 - FORGET, so about 1 / (1 - FORGET) = 500 frames (10 s). */
const HISTOGRAM_FORGET = 0.998;
/** One frame of excess delay is removed after this much clean playout; more excess goes proportionally faster. */
const SHRINK_HOLD_MS = 1000;
const SHRINK_MIN_HOLD_MS = 100;
/** After this many holds without a quiet frame to drop, any frame is skipped. */
const FORCED_SKIP_HOLDS = 3;
/** Floating-point slack when the histogram's running sum reaches the quantile. */
const QUANTILE_SLACK = 1e-9;
/** A concealment leads into a received frame at most this many frames on (beyond 60 ms the concealer is silent anyway). */
const LOOKAHEAD_FRAMES = 4;

/** How a frame outside the stream is counted while it waits for a second one to confirm a restart. */
const OUTSIDE_NONE = 0;
const OUTSIDE_AHEAD = 1; // counted dropped
const OUTSIDE_LATE = 2;
const OUTSIDE_COPY = 3; // counted a duplicate
type Outside = typeof OUTSIDE_NONE | typeof OUTSIDE_AHEAD | typeof OUTSIDE_LATE | typeof OUTSIDE_COPY;

const BUFFERED = 1;
/** Received and gone (played, skipped, or arrived late): a copy is a duplicate. */
const DONE = 2;
/** Its time passed without it (concealed or skipped): an arrival is late. */
const MISSING = 3;

export interface JitterBufferOptions {
  /** Frame duration (default 20 ms, DESIGN.md section 5). */
  frameMs?: number;
  samplesPerFrame: number;
  /** Floor of the target delay (default 0: a clean stream is passed through with no delay). */
  minDelayMs?: number;
  /** Ceiling of the target delay (default 200 ms). */
  maxDelayMs?: number;
  /** Share of frames the target delay lets arrive too late (default 0.01). */
  maxLateLossRate?: number;
  /**
   * Turns held frames into PCM and fills in for missing ones; default: a G.711
   * Appendix I Concealer over PCM frames. A call path that holds encoded
   * payloads (to decode in playout order, as Opus needs) passes its own.
   */
  concealer?: FrameConcealer<never>;
  /** Release in-sequence frames as soon as they are here (see the class comment); default false. */
  eager?: boolean;
  /** Eager mode: with no later frame held, a missing frame is waited for this long past its time before concealment (default: forever). */
  stallMs?: number;
}

export type JitterFrameKind = 'audio' | 'concealed' | 'silence';

export interface JitterFrame {
  pcm: Int16Array;
  /** 'audio': a received frame; 'concealed': synthetic; 'silence': synthetic and all zero (a long loss). */
  kind: JitterFrameKind;
  /** The sequence number this frame plays, or undefined for a frame inserted to grow the delay. */
  seq: number | undefined;
}

export interface JitterStats {
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  targetDelayMs: number;
  /** Current headroom over the fastest recent frame, ms (the delay the buffer adds; negative while frames arrive after their time). */
  delayMs: number;
  /** Frames that arrived after their time had passed (discarded). */
  late: number;
  /** Frames whose time passed without them and that have not arrived since. */
  lost: number;
  /** Frames played that were synthesised ('concealed' and 'silence'), including those inserted to grow the delay. */
  concealed: number;
  duplicates: number;
  /** Frames pushed, all of them. */
  received: number;
  /** Frames returned by pop, of every kind. */
  played: number;
  /** Received frames never played: skipped to shrink the delay, dropped by a restart, or alone far ahead of the stream. */
  dropped: number;
  /** Stream restarts (two consecutive frames far ahead of or behind the stream, near each other). */
  resets: number;
  /** Frames held now. */
  buffered: number;
}

/**
 * `F` is what a frame holds: PCM (the default) or an encoded payload that the
 * concealer decodes at playout (PayloadPlayout).
 */
export class JitterBuffer<F = Int16Array> {
  readonly frameMs: number;
  readonly samplesPerFrame: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxLateLossRate: number;
  /** Frames held at most, and how far ahead of the playout point a frame is accepted. */
  readonly capacityFrames: number;
  readonly graceMs: number;
  readonly eager: boolean;
  readonly stallMs: number;
  readonly #concealer: FrameConcealer<F>;

  // Ring of slots by seq: the capacity ahead of the playout point and the history behind it.
  readonly #ringSize: number;
  readonly #historyFrames: number;
  readonly #slotSeq: Float64Array;
  readonly #slotState: Uint8Array;
  readonly #slotPcm: (F | undefined)[];
  #buffered = 0;

  // Playout clock of the current stream.
  #nextSeq: number | undefined = undefined;
  #nextDueMs = 0;
  /** The stream's first frame: a frame just before it is a late one, not a stray. */
  #firstSeq = 0;
  #highestSeq = 0;
  #playedInStream = 0;
  /** Frames played since the delay last changed or a frame came late. */
  #clean = 0;
  /** Eager mode's playout clock: a missing frame is due at its nominal time + lowest recent transit + this. */
  #eagerHeadroomMs = 0;

  // A frame outside the stream, kept (and counted as `#candidateKind` says) until the next push confirms a restart or not.
  #candidateKind: Outside = OUTSIDE_NONE;
  #candidateSeq = 0;
  #candidateArrivalMs = 0;
  #candidatePcm: F | undefined = undefined;

  // Delay estimation.
  #jitterMs = 0;
  #prevTransit: number | undefined = undefined;
  readonly #blockMins = new Float64Array(MIN_TRANSIT_BLOCKS);
  readonly #blockFrames: number;
  #block = 0;
  #inBlock = 0;
  #minTransit = Infinity;
  readonly #histogram: Float64Array;
  #mass = 0;
  #targetMs: number;

  // Counters over the object's life.
  #late = 0;
  #lost = 0;
  #concealed = 0;
  #duplicates = 0;
  #received = 0;
  #played = 0;
  #dropped = 0;
  #resets = 0;

  constructor(options: JitterBufferOptions) {
    const frameMs = options.frameMs ?? FRAME_MS;
    const minDelayMs = options.minDelayMs ?? 0;
    const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    const rate = options.maxLateLossRate ?? DEFAULT_MAX_LATE_LOSS_RATE;
    if (!(frameMs > 0) || !Number.isFinite(frameMs)) throw new RangeError(`JitterBuffer: frameMs must be positive, got ${frameMs}`);
    if (!Number.isInteger(options.samplesPerFrame) || options.samplesPerFrame <= 0) {
      throw new RangeError(`JitterBuffer: samplesPerFrame must be a positive integer, got ${options.samplesPerFrame}`);
    }
    if (!(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs) || !Number.isFinite(maxDelayMs)) {
      throw new RangeError(`JitterBuffer: need 0 <= minDelayMs <= maxDelayMs, finite; got ${minDelayMs} and ${maxDelayMs}`);
    }
    if (!(rate > 0 && rate < 1)) throw new RangeError(`JitterBuffer: maxLateLossRate must be in (0, 1), got ${rate}`);
    this.frameMs = frameMs;
    this.samplesPerFrame = options.samplesPerFrame;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.maxLateLossRate = rate;
    this.graceMs = frameMs * GRACE_SHARE;
    this.eager = options.eager ?? false;
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    if (!(this.stallMs >= 0)) throw new RangeError(`JitterBuffer: stallMs must be >= 0, got ${this.stallMs}`);
    this.#concealer = (options.concealer ??
      new Concealer(options.samplesPerFrame, (options.samplesPerFrame * MS_PER_SECOND) / frameMs)) as FrameConcealer<F>;

    const maxDelayFrames = Math.ceil(maxDelayMs / frameMs);
    this.capacityFrames = maxDelayFrames + EXTRA_CAPACITY_FRAMES;
    let ring = 1;
    while (ring < this.capacityFrames + MIN_HISTORY_FRAMES) ring *= 2;
    this.#ringSize = ring;
    this.#historyFrames = ring - this.capacityFrames;
    this.#slotSeq = new Float64Array(ring).fill(NaN);
    this.#slotState = new Uint8Array(ring);
    this.#slotPcm = new Array<F | undefined>(ring).fill(undefined);

    this.#blockFrames = Math.max(1, Math.round(MIN_TRANSIT_BLOCK_MS / frameMs));
    this.#blockMins.fill(Infinity);
    // Buckets: frames of delay needed, 0 .. ceil(maxDelay/frameMs); the last also takes everything beyond.
    this.#histogram = new Float64Array(maxDelayFrames + 1);
    this.#targetMs = minDelayMs;
  }

  /**
   * A received frame. `seq` is the caller's frame counter (consecutive frames
   * differ by one), `arrivalMs` the caller's monotonic clock. The buffer keeps
   * `pcm` (a PCM frame, or a payload) without copying it: do not reuse the array.
   */
  push(seq: number, arrivalMs: number, pcm: F): void {
    if (!Number.isSafeInteger(seq)) throw new RangeError(`JitterBuffer.push: seq must be an integer, got ${seq}`);
    if (pcm instanceof Int16Array && pcm.length !== this.samplesPerFrame) {
      throw new RangeError(`JitterBuffer.push: frame holds ${pcm.length} samples, expected ${this.samplesPerFrame}`);
    }
    this.#received++;
    if (this.#nextSeq === undefined) {
      this.#anchor(seq, arrivalMs, pcm);
      return;
    }
    const outside = this.#outside(seq);
    if (this.#candidateKind !== OUTSIDE_NONE) {
      // Two consecutive frames outside the stream and near each other: the counter moved. Anything else: the first was a stray.
      const candidate = this.#candidateSeq;
      if (outside !== OUTSIDE_NONE && seq !== candidate && Math.abs(seq - candidate) < this.capacityFrames) {
        this.#restartOnCandidate();
        this.#place(seq, arrivalMs, pcm);
        return;
      }
      this.#forgetCandidate();
    }
    if (outside !== OUTSIDE_NONE) {
      this.#hold(outside, seq, arrivalMs, pcm);
      return;
    }
    this.#place(seq, arrivalMs, pcm);
  }

  /** A frame of the current stream: buffered, or a late frame, or a duplicate. */
  #place(seq: number, arrivalMs: number, pcm: F): void {
    const ahead = seq - this.#nextSeq!;
    if (ahead >= 0) {
      const slot = this.#slot(seq);
      if (this.#slotSeq[slot] === seq && this.#slotState[slot] === BUFFERED) {
        this.#duplicates++;
        return;
      }
      this.#store(slot, seq, pcm);
      this.#observe(seq, arrivalMs);
      return;
    }
    // Behind the playout point.
    if (this.#playedInStream === 0 && this.#highestSeq - seq < this.capacityFrames) {
      // Nothing played yet: an earlier frame overtaken by a later one still opens the stream, on the same clock.
      this.#nextDueMs += ahead * this.frameMs;
      this.#nextSeq = seq;
      this.#firstSeq = seq;
      this.#store(this.#slot(seq), seq, pcm);
      this.#observe(seq, arrivalMs);
      return;
    }
    const slot = this.#slot(seq);
    if (this.#slotSeq[slot] === seq) {
      if (this.#slotState[slot] !== MISSING) {
        this.#duplicates++;
        return;
      }
      this.#slotState[slot] = DONE;
      this.#lost--;
    } else {
      // From before this stream's first frame: late, never counted lost.
      this.#slotSeq[slot] = seq;
      this.#slotState[slot] = DONE;
    }
    this.#late++;
    this.#clean = 0;
    this.#observe(seq, arrivalMs);
  }

  /**
   * The frame due at `nowMs`, or undefined when none is due yet. One frame per
   * call: call again until undefined (a late tick catches up without losing
   * frames). Call after pushing what arrived at `nowMs`.
   */
  pop(nowMs: number): JitterFrame | undefined {
    let seq = this.#nextSeq;
    if (seq === undefined) return undefined;
    const frameMs = this.frameMs;
    let slot = this.#slot(seq);
    let present = this.#isBuffered(slot, seq);
    if (this.eager) {
      if (!present) {
        const due = seq * frameMs + this.#minTransit + this.#eagerHeadroomMs;
        if (nowMs < due + this.graceMs) return undefined;
        if (this.#buffered === 0 && nowMs < due + this.stallMs) return undefined;
      }
      const excess = this.#eagerHeadroomMs - this.#targetMs;
      if (excess >= frameMs && this.#clean >= Math.max(SHRINK_MIN_HOLD_MS, SHRINK_HOLD_MS / Math.floor(excess / frameMs)) / frameMs) {
        // No output clock to keep: wait a frame less for the next gap, drop nothing.
        this.#eagerHeadroomMs -= frameMs;
        this.#clean = 0;
      }
      return this.#release(seq, slot, present);
    }
    if (nowMs < this.#nextDueMs) return undefined;
    if (!present && nowMs < this.#nextDueMs + this.graceMs) return undefined;

    const excess = this.#headroomMs() - this.#targetMs;
    if (!present && excess < 0) {
      // Grow: conceal in front of the missing frame, not in its place.
      this.#nextDueMs += frameMs;
      this.#clean = 0;
      return this.#concealment(undefined);
    }
    if (excess >= frameMs) {
      const hold = Math.max(SHRINK_MIN_HOLD_MS, SHRINK_HOLD_MS / Math.floor(excess / frameMs)) / frameMs;
      const nextSlot = this.#slot(seq + 1);
      if (this.#clean >= hold && this.#isBuffered(nextSlot, seq + 1)) {
        const skip = !present || this.#clean >= FORCED_SKIP_HOLDS * hold || this.#concealer.quiet?.(this.#slotPcm[slot]!) === true;
        if (skip) {
          this.#skip(slot, seq, present);
          seq++;
          slot = nextSlot;
          present = true;
        }
      }
    }
    return this.#release(seq, slot, present);
  }

  /** Plays `seq`: the held frame, or its concealment. */
  #release(seq: number, slot: number, present: boolean): JitterFrame {
    this.#nextSeq = seq + 1;
    this.#nextDueMs += this.frameMs;
    this.#playedInStream++;
    this.#clean++;
    if (present) {
      const pcm = this.#slotPcm[slot]!;
      this.#slotPcm[slot] = undefined;
      this.#slotState[slot] = DONE;
      this.#buffered--;
      this.#played++;
      return { pcm: this.#concealer.good(pcm), kind: 'audio', seq };
    }
    this.#slotSeq[slot] = seq;
    this.#slotState[slot] = MISSING;
    this.#lost++;
    return this.#concealment(seq, this.#lookahead(seq + 1));
  }

  /** Frames held now (as stats.buffered, without building the stats object). */
  get buffered(): number {
    return this.#buffered;
  }

  get stats(): JitterStats {
    return {
      jitterMs: this.#jitterMs,
      targetDelayMs: this.#targetMs,
      delayMs: this.#nextSeq === undefined ? 0 : this.#headroomMs(),
      late: this.#late,
      lost: this.#lost,
      concealed: this.#concealed,
      duplicates: this.#duplicates,
      received: this.#received,
      played: this.#played,
      dropped: this.#dropped,
      resets: this.#resets,
      buffered: this.#buffered,
    };
  }

  /**
   * Forget the stream (a new stream from the provider): buffered frames, the
   * playout clock, the jitter and delay estimates and the concealer's history.
   * Counters are kept (they count over the object's life).
   */
  reset(): void {
    this.#clearStream();
    this.#histogram.fill(0);
    this.#mass = 0;
    this.#targetMs = this.minDelayMs;
    this.#jitterMs = 0;
    this.#concealer.reset();
  }

  #anchor(seq: number, arrivalMs: number, pcm: F): void {
    this.#nextSeq = seq;
    this.#firstSeq = seq;
    this.#highestSeq = seq;
    this.#playedInStream = 0;
    this.#clean = 0;
    this.#store(this.#slot(seq), seq, pcm);
    this.#observe(seq, arrivalMs);
    this.#nextDueMs = arrivalMs + this.#targetMs;
    this.#eagerHeadroomMs = this.#targetMs;
  }

  /**
   * Whether `seq` is outside the current stream, and how it is counted if it
   * stays alone: `capacityFrames` or more ahead of the playout point, or as
   * far behind and neither the late arrival of a frame that was concealed nor
   * one from just before the stream's first frame.
   */
  #outside(seq: number): Outside {
    const ahead = seq - this.#nextSeq!;
    if (ahead >= this.capacityFrames) return OUTSIDE_AHEAD;
    if (-ahead < this.capacityFrames) return OUTSIDE_NONE;
    const slot = this.#slot(seq);
    if (this.#slotSeq[slot] !== seq) {
      // Past the history its slot may belong to a frame held now: never placed.
      const beforeFirst = this.#firstSeq - seq;
      return beforeFirst > 0 && beforeFirst < this.capacityFrames && -ahead <= this.#historyFrames ? OUTSIDE_NONE : OUTSIDE_LATE;
    }
    return this.#slotState[slot] === MISSING ? OUTSIDE_NONE : OUTSIDE_COPY;
  }

  /** Keeps a frame outside the stream until the next push, counted as discarded meanwhile (so every push is counted once). */
  #hold(kind: Outside, seq: number, arrivalMs: number, pcm: F): void {
    this.#count(kind, 1);
    this.#candidateKind = kind;
    this.#candidateSeq = seq;
    this.#candidateArrivalMs = arrivalMs;
    this.#candidatePcm = pcm;
  }

  #forgetCandidate(): void {
    this.#candidateKind = OUTSIDE_NONE;
    this.#candidatePcm = undefined;
  }

  #count(kind: Outside, n: number): void {
    if (kind === OUTSIDE_AHEAD) this.#dropped += n;
    else if (kind === OUTSIDE_LATE) this.#late += n;
    else if (kind === OUTSIDE_COPY) this.#duplicates += n;
  }

  /** The counter moved: a new stream from the held frame, which is no longer counted as discarded. Keeps the delay histogram (the network is the same). */
  #restartOnCandidate(): void {
    const kind = this.#candidateKind;
    const pcm = this.#candidatePcm as F;
    this.#count(kind, -1);
    this.#dropped += this.#buffered;
    this.#resets++;
    const seq = this.#candidateSeq;
    const arrivalMs = this.#candidateArrivalMs;
    this.#clearStream();
    this.#concealer.splice?.();
    this.#anchor(seq, arrivalMs, pcm);
  }

  #clearStream(): void {
    this.#forgetCandidate();
    this.#slotSeq.fill(NaN);
    this.#slotState.fill(0);
    this.#slotPcm.fill(undefined);
    this.#buffered = 0;
    this.#nextSeq = undefined;
    this.#nextDueMs = 0;
    this.#playedInStream = 0;
    this.#clean = 0;
    this.#prevTransit = undefined;
    this.#blockMins.fill(Infinity);
    this.#block = 0;
    this.#inBlock = 0;
    this.#minTransit = Infinity;
  }

  #store(slot: number, seq: number, pcm: F): void {
    this.#slotSeq[slot] = seq;
    this.#slotState[slot] = BUFFERED;
    this.#slotPcm[slot] = pcm;
    this.#buffered++;
    if (seq > this.#highestSeq) this.#highestSeq = seq;
  }

  /** Pass over `seq` without playing it, to shrink the delay by one frame. */
  #skip(slot: number, seq: number, present: boolean): void {
    if (present) {
      this.#slotPcm[slot] = undefined;
      this.#slotState[slot] = DONE;
      this.#buffered--;
      this.#dropped++;
    } else {
      this.#slotSeq[slot] = seq;
      this.#slotState[slot] = MISSING;
      this.#lost++;
    }
    this.#clean = 0;
    this.#concealer.splice?.();
  }

  #concealment(seq: number | undefined, ahead?: { pcm: F; frames: number }): JitterFrame {
    const pcm = ahead === undefined ? this.#concealer.conceal() : this.#concealer.conceal(ahead.pcm, ahead.frames);
    this.#concealed++;
    this.#played++;
    return { pcm, kind: isSilent(pcm) ? 'silence' : 'concealed', seq };
  }

  /** The first buffered frame from `seq` on within the look-ahead, and how many frames on it plays (counting the concealment being made). */
  #lookahead(seq: number): { pcm: F; frames: number } | undefined {
    if (this.#buffered === 0) return undefined;
    for (let k = 0; k < LOOKAHEAD_FRAMES; k++) {
      const slot = this.#slot(seq + k);
      if (this.#isBuffered(slot, seq + k)) return { pcm: this.#slotPcm[slot]!, frames: k + 1 };
    }
    return undefined;
  }

  /** Jitter (RFC 3550 section 6.4.1), lowest recent transit, and the delay histogram behind the target. */
  #observe(seq: number, arrivalMs: number): void {
    const transit = arrivalMs - seq * this.frameMs;
    if (this.#prevTransit !== undefined) {
      // D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}), which is the difference of the transits.
      const d = transit - this.#prevTransit;
      this.#jitterMs += (Math.abs(d) - this.#jitterMs) * RFC3550_JITTER_GAIN;
    }
    this.#prevTransit = transit;

    const blocks = this.#blockMins;
    if (transit < blocks[this.#block]!) blocks[this.#block] = transit;
    if (transit < this.#minTransit) {
      // Eager: the clock stays where it was, so the headroom over the new low grows by as much (a rise, below, moves the clock along).
      if (this.#minTransit !== Infinity) this.#eagerHeadroomMs += this.#minTransit - transit;
      this.#minTransit = transit;
    }
    if (++this.#inBlock >= this.#blockFrames) {
      this.#inBlock = 0;
      this.#block = (this.#block + 1) % MIN_TRANSIT_BLOCKS;
      blocks[this.#block] = Infinity;
      let min = Infinity;
      for (let i = 0; i < MIN_TRANSIT_BLOCKS; i++) if (blocks[i]! < min) min = blocks[i]!;
      this.#minTransit = min;
    }

    const relative = transit - this.#minTransit;
    const hist = this.#histogram;
    const last = hist.length - 1;
    const bucket = relative <= this.graceMs ? 0 : Math.min(last, Math.ceil((relative - this.graceMs) / this.frameMs));
    for (let i = 0; i <= last; i++) hist[i] = hist[i]! * HISTOGRAM_FORGET;
    hist[bucket] = hist[bucket]! + (1 - HISTOGRAM_FORGET);
    this.#mass = this.#mass * HISTOGRAM_FORGET + (1 - HISTOGRAM_FORGET);

    const need = (1 - this.maxLateLossRate) * this.#mass * (1 - QUANTILE_SLACK);
    let frames = last;
    let sum = 0;
    for (let i = 0; i <= last; i++) {
      sum += hist[i]!;
      if (sum >= need) {
        frames = i;
        break;
      }
    }
    this.#targetMs = Math.min(this.maxDelayMs, Math.max(this.minDelayMs, frames * this.frameMs));
    if (this.eager) {
      // Grow at once, with no frame inserted: no output clock needs one. Never past maxDelay.
      if (this.#eagerHeadroomMs < this.#targetMs) {
        this.#eagerHeadroomMs = this.#targetMs;
        this.#clean = 0;
      } else if (this.#eagerHeadroomMs > this.maxDelayMs) {
        this.#eagerHeadroomMs = this.maxDelayMs;
      }
    }
  }

  /** Playout time minus nominal send time, over the lowest recent transit. */
  #headroomMs(): number {
    if (this.eager) return this.#eagerHeadroomMs;
    return this.#nextDueMs - (this.#nextSeq ?? 0) * this.frameMs - this.#minTransit;
  }

  #slot(seq: number): number {
    const i = seq % this.#ringSize;
    return i < 0 ? i + this.#ringSize : i;
  }

  #isBuffered(slot: number, seq: number): boolean {
    return this.#slotSeq[slot] === seq && this.#slotState[slot] === BUFFERED;
  }
}

function isSilent(pcm: Int16Array): boolean {
  for (let i = 0; i < pcm.length; i++) if (pcm[i] !== 0) return false;
  return true;
}
