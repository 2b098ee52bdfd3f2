/**
 * The Redis Cluster hash slot of a key, computed here: the cap store picks a
 * hash tag in each master's slots for its data-loss markers (RedisCapStore),
 * and the tests check key layouts on a plain redis-server, where `CLUSTER
 * KEYSLOT` answers "ERR This instance has cluster support disabled".
 * CRC16-CCITT (XMODEM: poly 0x1021, init 0) of the key, or of its hash tag
 * (the text between the first `{` and the next `}`, when not empty), mod 16384
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
 */
export function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed, 'utf8')) % 16384;
}

const tags = new Map<number, string>();

/** A short hash tag whose keys land in `slot` (found by counting up; about 16k tries, then cached). */
export function tagForSlot(slot: number): string {
  let tag = tags.get(slot);
  for (let n = 0; tag === undefined; n++) if (keySlot(`s${n}`) === slot) tag = `s${n}`;
  tags.set(slot, tag);
  return tag;
}
