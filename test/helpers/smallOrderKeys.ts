/**
 * The Ed25519 public-key encodings no real key has: the eight small-order
 * points and their second spellings (the 14 of libsodium's
 * `ge25519_has_small_order`, which ignores the sign bit), for the tests that
 * check the gateway and the platform refuse them. Also the forgery they allow
 * (probe7 of the edge review): R = the identity, S = 0 verifies a message m
 * under key A whenever [k]A is the identity, k = SHA-512(R || A || m).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

const P = 2n ** 255n - 19n;
// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): lets OpenSSL take the raw bytes as given.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function littleEndian(value: bigint): Buffer {
  const out = Buffer.alloc(32);
  let v = value;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The y of one order-8 point (libsodium's list; the other is p minus it). */
const ORDER_8_Y = BigInt('0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826');

/** y values (before the sign bit) of the small-order points and their non-canonical spellings. */
const SMALL_ORDER_Y: Array<[string, bigint]> = [
  ['0 (order 4)', 0n],
  ['1 (identity)', 1n],
  ['order 8', ORDER_8_Y],
  ['order 8, negated y', P - ORDER_8_Y],
  ['p - 1 (order 2)', P - 1n],
  ['p (0 spelled again)', P],
  ['p + 1 (1 spelled again)', P + 1n],
];

export interface BadKey {
  name: string;
  raw: Buffer;
  base64: string;
  /** The one spelling of a point (8 of the 14): OpenSSL decodes it as that point. */
  canonical: boolean;
}

/** All 14: each y with the sign bit clear and set. */
export const SMALL_ORDER_KEYS: BadKey[] = SMALL_ORDER_Y.flatMap(([name, y]) =>
  [0, 1].map((sign) => {
    const raw = littleEndian(y);
    raw[31] = raw[31]! | (sign << 7);
    // x = 0 (y = 1 or p - 1) has no negative: its set sign bit is a second spelling.
    const canonical = y < P && !(sign === 1 && (y === 1n || y === P - 1n));
    return { name: `${name}, sign ${sign}`, raw, base64: raw.toString('base64'), canonical };
  }),
);

/** OpenSSL's own key object for raw bytes, skipping the gateway's parser. */
export function opensslKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** R = identity, S = 0: a signature made with no private key at all. */
export const FORGED_SIGNATURE = Buffer.concat([littleEndian(1n), Buffer.alloc(32)]);

/** How many of `count` distinct messages the forged signature verifies under `key` (OpenSSL). */
export function forgeries(key: KeyObject, count: number, message = (i: number) => `${1_800_000_000 + i}|{"n":${i}}`): number {
  let passed = 0;
  for (let i = 0; i < count; i++) {
    try {
      if (verify(null, Buffer.from(message(i)), key, FORGED_SIGNATURE)) passed++;
    } catch {
      // OpenSSL refusing the key outright is no forgery.
    }
  }
  return passed;
}
