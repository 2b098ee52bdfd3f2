/**
 * Re-chunks audio of any size into exact frames (agent audio arrives in chunks
 * of whatever size the agent picks; the phone wants 20 ms frames).
 *
 * A ring buffer with a power-of-two capacity: pushing and shifting copy each
 * sample once, and the ring only grows (doubling, one copy of what it holds)
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
    const mask = this.#mask;
    let at = (this.#head + this.#size) & mask;
    for (let i = 0; i < n; i++) {
      ring[at] = pcm[i]!;
      at = (at + 1) & mask;
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
    const mask = this.#mask;
    let at = this.#head;
    for (let i = 0; i < this.samplesPerFrame; i++) {
      out[i] = ring[at]!;
      at = (at + 1) & mask;
    }
    this.#head = at;
    this.#size -= this.samplesPerFrame;
  }

  #grow(needed: number): void {
    const grown = new Int16Array(capacityFor(needed));
    const ring = this.#ring;
    const mask = this.#mask;
    for (let i = 0, at = this.#head; i < this.#size; i++, at = (at + 1) & mask) grown[i] = ring[at]!;
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
