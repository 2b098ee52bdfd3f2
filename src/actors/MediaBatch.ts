/**
 * Frames cross threads batched: one transferred ArrayBuffer per worker per
 * event-loop turn instead of one postMessage per frame (DESIGN 4: about
 * 0.75 us a frame batched against 5.9 us cloned; see docs/threads.md).
 *
 * Layout: [u32 used bytes] then records [u32 slot][u32 length][f64 atMs][bytes][pad to 4].
 * `atMs` (epoch ms, the same clock on every thread) is when the audio behind
 * the record entered the gateway: the front's arrival time toward a worker,
 * the agent audio's arrival toward the front. It is what the gateway's added
 * latency is measured from (bench/, LatencyHistogram).
 */

const encoder = new TextEncoder();
const HEADER = 4;
const RECORD_HEADER = 16;
const INITIAL_BYTES = 64 * 1024;

function align4(n: number): number {
  return (n + 3) & ~3;
}

export class MediaBatchWriter {
  #buffer: ArrayBuffer;
  #view: DataView;
  #bytes: Uint8Array;
  #used = HEADER;
  #records = 0;

  constructor(initialBytes = INITIAL_BYTES) {
    this.#buffer = new ArrayBuffer(initialBytes);
    this.#view = new DataView(this.#buffer);
    this.#bytes = new Uint8Array(this.#buffer);
  }

  get records(): number {
    return this.#records;
  }

  /** Copy a frame in (the source may be a uWS buffer valid only for this call). */
  append(slot: number, frame: ArrayBuffer | Uint8Array, atMs = 0): void {
    const src = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
    const need = this.#used + RECORD_HEADER + align4(src.byteLength);
    if (need > this.#buffer.byteLength) this.#grow(need);
    this.#view.setUint32(this.#used, slot, true);
    this.#view.setUint32(this.#used + 4, src.byteLength, true);
    this.#view.setFloat64(this.#used + 8, atMs, true);
    this.#bytes.set(src, this.#used + RECORD_HEADER);
    this.#used = need;
    this.#records++;
  }

  /** Append a string as UTF-8 without an intermediate Buffer. */
  appendText(slot: number, text: string, atMs = 0): void {
    const maxBytes = text.length * 3;
    const need = this.#used + RECORD_HEADER + align4(maxBytes);
    if (need > this.#buffer.byteLength) this.#grow(need);
    const { written } = encoder.encodeInto(text, this.#bytes.subarray(this.#used + RECORD_HEADER));
    this.#view.setUint32(this.#used, slot, true);
    this.#view.setUint32(this.#used + 4, written, true);
    this.#view.setFloat64(this.#used + 8, atMs, true);
    this.#used += RECORD_HEADER + align4(written);
    this.#records++;
  }

  /**
   * An exactly sized copy of the batch (to transfer), and start over. The
   * working buffer is kept: copying the few hundred bytes a turn usually holds
   * is far cheaper than allocating (and zeroing) a fresh large buffer per
   * flush, which measured about 80 us a flush.
   */
  take(): ArrayBuffer {
    this.#view.setUint32(0, this.#used, true);
    const out = this.#buffer.slice(0, this.#used);
    this.#used = HEADER;
    this.#records = 0;
    return out;
  }

  #grow(need: number): void {
    let size = this.#buffer.byteLength * 2;
    while (size < need) size *= 2;
    const next = new ArrayBuffer(size);
    new Uint8Array(next).set(this.#bytes.subarray(0, this.#used));
    this.#buffer = next;
    this.#view = new DataView(next);
    this.#bytes = new Uint8Array(next);
  }
}

/** Visit each record; `frame` is a view into the batch, valid during the callback. */
export function forEachInBatch(batch: ArrayBuffer, visit: (slot: number, frame: Uint8Array, atMs: number) => void): void {
  const view = new DataView(batch);
  const used = view.getUint32(0, true);
  let offset = HEADER;
  while (offset + RECORD_HEADER <= used) {
    const slot = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    const atMs = view.getFloat64(offset + 8, true);
    const start = offset + RECORD_HEADER;
    if (start + length > used) throw new RangeError('media batch record overruns the batch');
    visit(slot, new Uint8Array(batch, start, length), atMs);
    offset = start + align4(length);
  }
}
