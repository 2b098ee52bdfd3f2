/**
 * Re-chunks audio of any size into exact frames (agent audio arrives in chunks
 * of whatever size the agent picks; the phone wants 20 ms frames).
 *
 * A ring buffer with a power-of-two capacity: pushing and shifting copy each
 * sample once (with typed-array set(), at most two contiguous pieces each:
 * 0.6-1.2 us a 160-sample frame with a per-sample loop, see bench/RESULTS.md), and the ring only grows (doubling, one copy of what it holds)
 * when a push does not fit, so the cost stays linear in the audio that passes.
 */

import { frameArena } from './FrameArena.js';

/** Initial capacity, in frames. */
const INITIAL_FRAMES = 8;

export class Framer {
  readonly samplesPerFrame: number;
  #ring: Int16Array;
  #mask: number;
  /** Ring index of the oldest buffered sample. */
  #head = 0;
  #size = 0;

  constructor(samplesPerFrame: number) {
    if (!Number.isInteger(samplesPerFrame) || samplesPerFrame <= 0) {
      throw new RangeError(`Framer: samples per frame must be a positive integer, got ${samplesPerFrame}`);
    }
    this.samplesPerFrame = samplesPerFrame;
    this.#ring = new Int16Array(capacityFor(samplesPerFrame * INITIAL_FRAMES));
    this.#mask = this.#ring.length - 1;
  }

  /** Samples held, not yet shifted out. */
  get buffered(): number {
    return this.#size;
  }

  /** Whole frames ready to shift. */
  get frames(): number {
    return Math.floor(this.#size / this.samplesPerFrame);
  }

  push(pcm: Int16Array): void {
    const n = pcm.length;
    if (this.#size + n > this.#ring.length) this.#grow(this.#size + n);
    const ring = this.#ring;
    const at = (this.#head + this.#size) & this.#mask;
    // At most two contiguous copies (the write may wrap): typed-array set() instead of a per-sample loop.
    const first = Math.min(n, ring.length - at);
    if (first === n) {
      ring.set(pcm, at);
    } else {
      ring.set(pcm.subarray(0, first), at);
      ring.set(pcm.subarray(first), 0);
    }
    this.#size += n;
  }

  /** One exact frame, or undefined while less than a frame is buffered. */
  shift(): Int16Array | undefined {
    if (this.#size < this.samplesPerFrame) return undefined;
    const frame = frameArena.int16(this.samplesPerFrame);
    this.#take(frame);
    return frame;
  }

  /** shift() into `out` (at least samplesPerFrame long) without allocating; false while less than a frame is buffered. */
  shiftInto(out: Int16Array): boolean {
    if (out.length < this.samplesPerFrame) {
      throw new RangeError(`Framer.shiftInto: out holds ${out.length} samples, a frame is ${this.samplesPerFrame}`);
    }
    if (this.#size < this.samplesPerFrame) return false;
    this.#take(out);
    return true;
  }

  /** Drop everything buffered (barge-in). */
  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }

  #take(out: Int16Array): void {
    const ring = this.#ring;
    const n = this.samplesPerFrame;
    const head = this.#head;
    const first = Math.min(n, ring.length - head);
    out.set(ring.subarray(head, head + first));
    if (first < n) out.set(ring.subarray(0, n - first), first);
    this.#head = (head + n) & this.#mask;
    this.#size -= n;
  }

  #grow(needed: number): void {
    const grown = new Int16Array(capacityFor(needed));
    const ring = this.#ring;
    const first = Math.min(this.#size, ring.length - this.#head);
    grown.set(ring.subarray(this.#head, this.#head + first));
    if (first < this.#size) grown.set(ring.subarray(0, this.#size - first), first);
    this.#ring = grown;
    this.#mask = grown.length - 1;
    this.#head = 0;
  }
}

function capacityFor(samples: number): number {
  let capacity = 1;
  while (capacity < samples) capacity *= 2;
  return capacity;
}
