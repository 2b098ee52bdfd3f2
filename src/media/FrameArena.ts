/**
 * Short-lived frames carved out of shared slabs. In V8 a fresh typed array of
 * a frame's size gets its own backing store, zero-filled and tracked by the
 * garbage collector: about 1-2 us each on our machines, more than decoding the
 * frame (bench/RESULTS.md, "allocation"). A view into a slab costs about a
 * tenth of that. Views never overlap and are never handed out twice, so a
 * frame kept by its receiver stays valid; the price is that one kept frame
 * keeps its whole slab (SLAB_BYTES) alive, which is why only per-frame
 * temporaries come from here, never long-lived buffers.
 *
 * Not zero-filled: callers write every sample (a decoder or resampler output).
 */

/** 64 KiB: about 100 frames of 16 kHz PCM16, so a slab is replaced every 2 s per call at most. */
export const SLAB_BYTES = 64 * 1024;
/** Views start on 8-byte boundaries, so every typed-array kind can view a slab. */
const ALIGN = 8;

export class FrameArena {
  readonly #slabBytes: number;
  #slab: ArrayBuffer;
  #offset = 0;

  constructor(slabBytes = SLAB_BYTES) {
    if (!Number.isInteger(slabBytes) || slabBytes < ALIGN) throw new RangeError(`FrameArena: slab of ${slabBytes} bytes`);
    this.#slabBytes = slabBytes;
    this.#slab = new ArrayBuffer(slabBytes);
  }

  /** `length` samples of uninitialised PCM16. */
  int16(length: number): Int16Array {
    const at = this.#take(length * Int16Array.BYTES_PER_ELEMENT);
    return at < 0 ? new Int16Array(length) : new Int16Array(this.#slab, at, length);
  }

  /** `length` uninitialised bytes. */
  uint8(length: number): Uint8Array {
    const at = this.#take(length);
    return at < 0 ? new Uint8Array(length) : new Uint8Array(this.#slab, at, length);
  }

  /** A copy of `bytes` in the arena. */
  copyOf(bytes: Uint8Array): Uint8Array {
    const out = this.uint8(bytes.length);
    out.set(bytes);
    return out;
  }

  /** Byte offset of a fresh region in the current slab, or -1 when the request is bigger than a slab. */
  #take(bytes: number): number {
    const size = (bytes + ALIGN - 1) & ~(ALIGN - 1);
    if (size > this.#slabBytes) return -1;
    if (this.#offset + size > this.#slabBytes) {
      this.#slab = new ArrayBuffer(this.#slabBytes);
      this.#offset = 0;
    }
    const at = this.#offset;
    this.#offset += size;
    return at;
  }
}

/** This thread's arena (each worker thread loads its own copy of the module). */
export const frameArena = new FrameArena();
