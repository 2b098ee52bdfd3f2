/**
 * CRC32C (Castagnoli): polynomial 0x1EDC6F41, 0x82F63B78 bit-reversed, as
 * defined for iSCSI (RFC 3720 §12.1, appendix B.4), the checksum Google Cloud
 * Secret Manager returns as `payload.dataCrc32c`. Table-driven, one byte a step;
 * the standard check value: crc32c("123456789") = 0xE3069283.
 */
const REVERSED_POLY = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ REVERSED_POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC32C of `bytes` as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
