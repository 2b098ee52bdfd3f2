/**
 * Pacer maths for sending audio to the phone in real time: one frame per
 * frame interval on the caller's monotonic clock, a small lead so a tick that
 * fires a little early still sends, and never a burst (DESIGN.md section 5).
 * The caller owns the clock and the queue; this class only says when.
 *
 * A run starts when a frame is sent while idle (nothing sent yet, or the queue
 * ran dry for more than a frame interval): the schedule anchors at that send,
 * and frame k of the run is due at anchor + k * frameMs - leadMs. A caller that
 * falls more than a frame behind the schedule (a stalled event loop) does not
 * get to send the backlog in a burst: the schedule re-anchors at the late send,
 * and `late` counts it. Within a frame of the schedule, late frames catch up,
 * but two frames never go less than half a frame interval apart.
 *
 * The queue counts as dry from when due() sees it empty, or from a send that
 * emptied it (due() was told one frame was queued), whichever comes first.
 */
import { FRAME_MS } from './constants.js';

/** Default lead: a tick up to 1 ms early still sends its frame. */
const DEFAULT_LEAD_MS = 1;
/** Catching up, frames still go at least this share of a frame interval apart. */
const MIN_GAP_SHARE = 0.5;

export class PacerSchedule {
  readonly frameMs: number;
  readonly leadMs: number;
  readonly #minGapMs: number;
  /** Send time of frame 0 of the current run; undefined while idle. */
  #anchor: number | undefined = undefined;
  /** Frames sent in the current run. */
  #sentInRun = 0;
  #lastSentMs = -Infinity;
  /** When the queue was first known to be empty since the last send. */
  #dryAt: number | undefined = undefined;
  /** The queue length given to the latest due() call, consumed by sent(). */
  #lastQueued = 0;
  #late = 0;

  constructor(frameMs = FRAME_MS, leadMs = DEFAULT_LEAD_MS) {
    if (!(frameMs > 0) || !Number.isFinite(frameMs)) throw new RangeError(`PacerSchedule: frameMs must be positive, got ${frameMs}`);
    if (!(leadMs >= 0) || leadMs >= frameMs) {
      throw new RangeError(`PacerSchedule: leadMs must be in [0, frameMs), got ${leadMs}`);
    }
    this.frameMs = frameMs;
    this.leadMs = leadMs;
    this.#minGapMs = frameMs * MIN_GAP_SHARE;
  }

  /** Stalls that re-anchored the schedule (more than a frame behind), over this object's life. */
  get late(): number {
    return this.#late;
  }

  /** When the next frame of the current run may go; undefined while idle (it may go at once). */
  get nextDueMs(): number | undefined {
    if (this.#anchor === undefined) return undefined;
    return Math.max(this.#anchor + this.#sentInRun * this.frameMs - this.leadMs, this.#lastSentMs + this.#minGapMs);
  }

  /**
   * How many frames may be sent now: 0 or 1, never a burst. Call it on every
   * tick, also with an empty queue, so the schedule knows when the queue ran dry.
   */
  due(nowMs: number, queued: number): number {
    this.#lastQueued = queued;
    if (queued <= 0) {
      if (this.#dryAt === undefined && this.#anchor !== undefined) this.#dryAt = nowMs;
      return 0;
    }
    if (this.#anchor === undefined) return 1;
    const dueAt = this.#anchor + this.#sentInRun * this.frameMs - this.leadMs;
    if (nowMs < dueAt) return 0;
    if (nowMs - this.#lastSentMs < this.#minGapMs) return 0;
    return 1;
  }

  /** Call after sending one frame. */
  sent(nowMs: number): void {
    if (this.#anchor === undefined) {
      this.#startRun(nowMs);
    } else {
      const dueAt = this.#anchor + this.#sentInRun * this.frameMs - this.leadMs;
      const idle = this.#dryAt !== undefined && nowMs - Math.max(this.#dryAt, dueAt) > this.frameMs;
      if (idle) {
        this.#startRun(nowMs);
      } else if (nowMs - dueAt > this.frameMs) {
        this.#late++;
        this.#startRun(nowMs);
      } else {
        this.#sentInRun++;
      }
    }
    this.#lastSentMs = nowMs;
    // A send that took the last queued frame leaves the queue dry from now on.
    this.#dryAt = this.#lastQueued === 1 ? nowMs : undefined;
    this.#lastQueued = 0;
  }

  /** Back to idle (after a barge-in clear): the next frame goes at once. `late` is kept. */
  reset(): void {
    this.#anchor = undefined;
    this.#sentInRun = 0;
    this.#lastSentMs = -Infinity;
    this.#dryAt = undefined;
    this.#lastQueued = 0;
  }

  #startRun(nowMs: number): void {
    this.#anchor = nowMs;
    this.#sentInRun = 1;
  }
}
