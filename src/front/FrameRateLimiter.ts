/**
 * A token bucket per media socket: a call sends 50 frames a second; a
 * provider catching up after a network stall may send a burst; a flood is
 * neither, and is cut off before it costs the box anything (issue: abuse
 * limits). Pure arithmetic on the front's thread, O(1) per frame.
 */
export class FrameRateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #updatedMs: number;

  constructor(framesPerSecond: number, burst: number, nowMs: number) {
    this.#ratePerMs = framesPerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedMs = nowMs;
  }

  /** False when this frame is over the limit. */
  take(nowMs: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#updatedMs) * this.#ratePerMs);
    this.#updatedMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
