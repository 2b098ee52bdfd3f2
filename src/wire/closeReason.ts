/**
 * A WebSocket close reason that fits its frame: RFC 6455 5.5 caps a control
 * frame's payload at 125 bytes, two of them the code, so 123 bytes of UTF-8.
 * Cut by characters, a non-ASCII reason can pass that; uWS then cuts the bytes
 * itself, mid-character, and the peer fails the connection (1006) on the
 * invalid UTF-8 instead of reading our code and reason.
 */
export const CLOSE_REASON_MAX_BYTES = 123;

export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= CLOSE_REASON_MAX_BYTES) return text;
  let end = CLOSE_REASON_MAX_BYTES;
  // bytes[end] is the first byte left out: while it continues a character (10xxxxxx), leave that character out too.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
