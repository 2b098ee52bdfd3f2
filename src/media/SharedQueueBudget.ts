/**
 * One bound on the bytes many queues on one thread hold together (the agent
 * audio every call on a media worker has queued toward the phone). Each
 * queue is also bounded on its own, but those bounds add up past the
 * thread's heap: 244 calls with a long reply queued at once filled a 512 MiB
 * worker (docs/threads.md). Like BodyBudget (src/front/BodyBudget.ts) for
 * webhook bodies, but a queue is never refused outright: past the bound
 * only the queues holding more than their fair share (the bound over the
 * queues holding anything) lose their oldest frames, so a call with little
 * queued never loses audio to the calls with a lot.
 *
 * The queues call take/give as frames come and go (OutboundQueue); the rule
 * is here. All on one thread: plain numbers, no locking.
 */
export class SharedQueueBudget {
  readonly maxBytes: number;
  /** Bytes charged for each queued frame besides its own weight (the string's header and its ring slot). */
  readonly perFrameBytes: number;
  #held = 0;
  /** Queues holding more than 0 bytes. */
  #holders = 0;
  #drops = 0;

  constructor(maxBytes: number, perFrameBytes = 0) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`SharedQueueBudget: the bound is a whole number of bytes, at least 1, got ${maxBytes}`);
    if (!Number.isInteger(perFrameBytes) || perFrameBytes < 0) throw new RangeError(`SharedQueueBudget: the per-frame charge is a whole number of bytes, got ${perFrameBytes}`);
    this.maxBytes = maxBytes;
    this.perFrameBytes = perFrameBytes;
  }

  get heldBytes(): number {
    return this.#held;
  }

  get holders(): number {
    return this.#holders;
  }

  /** Frames dropped for this bound, over its life (queues report them with `dropped`). */
  get drops(): number {
    return this.#drops;
  }

  /** Past the bound: queues over their fair share shed their oldest frames (OutboundQueue.shed). */
  get over(): boolean {
    return this.#held > this.maxBytes;
  }

  /** The bound over the queues holding anything; `queueBytes` 0: the asking queue would be one more. */
  fairShare(queueBytes: number): number {
    return this.maxBytes / (queueBytes > 0 ? this.#holders : this.#holders + 1);
  }

  /**
   * Whether a queue holding `queueBytes` may add `bytes` more without first
   * dropping its own oldest: it fits under the bound, or it stays within the
   * queue's fair share (the bound is then passed for a moment, and the queues
   * over their share shed the excess).
   */
  admits(queueBytes: number, bytes: number): boolean {
    return this.#held + bytes <= this.maxBytes || queueBytes + bytes <= this.fairShare(queueBytes);
  }

  /** Bytes a queue holding `queueBytes` should drop now: past its fair share while the total is over the bound. */
  excess(queueBytes: number): number {
    if (this.#held <= this.maxBytes || queueBytes === 0) return 0;
    return Math.min(this.#held - this.maxBytes, Math.max(0, queueBytes - this.fairShare(queueBytes)));
  }

  /** A queue that held `queueBytes` adds `bytes`. */
  take(queueBytes: number, bytes: number): void {
    if (bytes <= 0) return;
    if (queueBytes === 0) this.#holders++;
    this.#held += bytes;
  }

  /** A queue gave `bytes` back and now holds `queueBytes`. */
  give(queueBytes: number, bytes: number): void {
    if (bytes <= 0) return;
    if (queueBytes === 0) this.#holders--;
    this.#held -= bytes;
  }

  /** A queue dropped `frames` frames for this bound. */
  dropped(frames: number): void {
    this.#drops += frames;
  }
}
