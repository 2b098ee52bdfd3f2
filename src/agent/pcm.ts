/** PCM16 little-endian helpers for agent wire formats (base64 JSON, binary frames, WAV uploads). */

export function pcmToBytes(pcm: Int16Array): Buffer {
  // Int16Array is host-endian; every platform Node runs on here is little-endian.
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

export function pcmToBase64(pcm: Int16Array): string {
  return pcmToBytes(pcm).toString('base64');
}

/** Bytes to samples (copied, so the result owns aligned memory); an odd trailing byte is dropped. */
export function bytesToPcm(bytes: Uint8Array): Int16Array {
  const n = bytes.byteLength >> 1;
  const out = new Int16Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(0, n * 2));
  return out;
}

/**
 * PCM16 from a byte stream cut anywhere (an agent's binary messages, a TTS
 * response's chunks): a chunk that ends mid-sample keeps its odd byte for the
 * next, so the samples after it stay aligned instead of turning to noise.
 */
export class PcmStream {
  #carry: number | null = null;

  push(bytes: Uint8Array): Int16Array {
    let data = bytes;
    if (this.#carry !== null) {
      data = new Uint8Array(bytes.length + 1);
      data[0] = this.#carry;
      data.set(bytes, 1);
      this.#carry = null;
    }
    if (data.length & 1) this.#carry = data[data.length - 1]!;
    return bytesToPcm(data);
  }

  /** A new stream (a new socket): nothing carried over. */
  reset(): void {
    this.#carry = null;
  }
}

export function base64ToPcm(b64: string): Int16Array {
  return bytesToPcm(Buffer.from(b64, 'base64'));
}

/** A 44-byte RIFF/WAVE header and the samples: what /v1/audio/transcriptions takes. */
export function wavFile(pcm: Int16Array, rate: number): Buffer {
  const data = pcmToBytes(pcm);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
