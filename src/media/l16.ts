/**
 * L16: linear PCM16 in network byte order, big-endian (RFC 3551 section 4.5.11;
 * the provider's bidirectional L16 is big-endian too). Inside the gateway PCM16
 * is host order in an Int16Array. Bytes are read one by one, so payloads at odd
 * offsets (pooled Node Buffers) are fine.
 */

const BYTE = 0xff;

/** Big-endian bytes to samples; a trailing odd byte is ignored. With `out`, fills and returns it. */
export function l16Decode(input: Uint8Array, out?: Int16Array): Int16Array {
  const n = input.length >> 1;
  let dst: Int16Array;
  if (out === undefined) {
    dst = new Int16Array(n);
  } else {
    if (out.length < n) throw new RangeError(`l16Decode: out holds ${out.length} samples, input has ${n}`);
    dst = out;
  }
  for (let i = 0, j = 0; i < n; i++, j += 2) dst[i] = (input[j]! << 8) | input[j + 1]!;
  return dst;
}

/** Samples to big-endian bytes. With `out` (at least 2 bytes a sample), fills and returns it. */
export function l16Encode(input: Int16Array, out?: Uint8Array): Uint8Array {
  const bytes = input.length * 2;
  let dst: Uint8Array;
  if (out === undefined) {
    dst = new Uint8Array(bytes);
  } else {
    if (out.length < bytes) throw new RangeError(`l16Encode: out holds ${out.length} bytes, input needs ${bytes}`);
    dst = out;
  }
  for (let i = 0, j = 0; i < input.length; i++, j += 2) {
    const s = input[i]!;
    dst[j] = (s >> 8) & BYTE;
    dst[j + 1] = s & BYTE;
  }
  return dst;
}
