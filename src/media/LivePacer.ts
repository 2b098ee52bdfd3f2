/**
 * Pacer maths for live audio (an echo, or any agent whose audio follows the
 * caller's clock): each frame goes as soon as it exists, but never less than
 * a quarter frame interval after the previous one. Steady input therefore
 * goes out at its own 20 ms rhythm; input that arrives bunched (a burst after
 * a stall upstream, or one late frame) is worked off at no more than four
 * times real time, 5 ms apart: never a burst, and a stall does not turn into
 * delay that lasts the rest of the call. If the caller itself runs late (its
 * turns further apart than a quarter interval), the frames it owes at that
 * rate since the head frame was queued go together, up to MAX_LATE_FRAMES:
 * the queue drains instead of growing by a frame per late turn. Measured in the demo (20 calls, four
 * runs each): round trip p99 12.8 to 23.5 ms with a quarter interval against
 * 31.8 to 54.0 ms with half an interval, the difference being the first
 * frames of each call, which arrive bunched while calls are being set up.
 *
 * PacerSchedule, anchored to a fixed 20 ms grid, is the right pacer for audio
 * produced ahead of time (text to speech): there a queue is normal, and the
 * grid keeps the rate exact. For live audio the grid's phase is set by the
 * first frame, so one late first frame would delay every frame after it.
 */
import { FRAME_MS } from './constants.js';

const DEFAULT_LEAD_MS = 1;
/** Catching up, frames go at least this share of a frame interval apart. */
const CATCH_UP_GAP_SHARE = 0.25;
/**
 * A thread that runs late (starved of CPU: ticks 50 ms apart instead of 5)
 * may send up to this many frames in one turn, the ones it owes at the
 * catch-up rate; at one frame a turn its queue, and the delay, would only
 * grow (bench: 720 ms of added delay at 100 calls on a starved core).
 */
const MAX_LATE_FRAMES = 4;

export class LivePacer {
  readonly frameMs: number;
  /** A frame sent less than `frameMs - leadMs` after the previous one counts as catching up. */
  readonly leadMs: number;
  readonly #gapMs: number;
  readonly #minGapMs: number;
  #lastSentMs = -Infinity;
  #catchUpSends = 0;

  constructor(frameMs = FRAME_MS, leadMs = DEFAULT_LEAD_MS) {
    if (!(frameMs > 0) || !Number.isFinite(frameMs)) throw new RangeError(`LivePacer: frameMs must be positive, got ${frameMs}`);
    if (!(leadMs >= 0) || leadMs >= frameMs) throw new RangeError(`LivePacer: leadMs must be in [0, frameMs), got ${leadMs}`);
    this.frameMs = frameMs;
    this.leadMs = leadMs;
    this.#gapMs = frameMs - leadMs;
    this.#minGapMs = frameMs * CATCH_UP_GAP_SHARE;
  }

  /** When the next frame may go at the catch-up rate (the last send plus a quarter interval). */
  get nextAllowedMs(): number {
    return this.#lastSentMs + this.#minGapMs;
  }

  /** Frames sent closer than a frame interval to the previous one (catching up), over this object's life. */
  get late(): number {
    return this.#catchUpSends;
  }

  /**
   * How many frames may go now, with `queued` frames waiting, the first of
   * them queued at `headQueuedAtMs` (default now): 0 or 1 when the caller
   * turns up on time, more only when it ran late.
   */
  due(nowMs: number, queued: number, headQueuedAtMs: number = nowMs): number {
    if (queued <= 0 || nowMs - this.#lastSentMs < this.#minGapMs) return 0;
    const owed = Math.floor((nowMs - Math.max(this.#lastSentMs, headQueuedAtMs)) / this.#minGapMs);
    return Math.min(queued, Math.max(1, Math.min(MAX_LATE_FRAMES, owed)));
  }

  sent(nowMs: number): void {
    if (nowMs - this.#lastSentMs < this.#gapMs) this.#catchUpSends++;
    this.#lastSentMs = nowMs;
  }

  reset(): void {
    this.#lastSentMs = -Infinity;
  }
}
