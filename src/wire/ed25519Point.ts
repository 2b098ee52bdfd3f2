/**
 * Is 32 bytes a usable Ed25519 public key? OpenSSL takes any 32 bytes as a
 * key, and its verifier accepts signatures under a small-order key that no
 * private key made: under the identity point one fixed signature verifies
 * every message. So the key is decoded here (RFC 8032 5.1.3) and refused
 * when its encoding is not canonical, when it is not on the curve, or when
 * [8]A is the identity (the eight small-order points, libsodium's
 * `ge25519_has_small_order` set, whatever their encoding).
 *
 * BigInt arithmetic: it runs once, at start-up, on a public value, so
 * neither speed nor constant time matters here.
 */

const P = 2n ** 255n - 19n;

function mod(a: bigint): bigint {
  const r = a % P;
  return r >= 0n ? r : r + P;
}

function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inverse(a: bigint): bigint {
  return pow(a, P - 2n);
}

const D = mod(-121665n * inverse(121666n));
const SQRT_MINUS_ONE = pow(2n, (P - 1n) / 4n);

interface Point {
  x: bigint;
  y: bigint;
}

/** Affine addition on -x^2 + y^2 = 1 + d x^2 y^2: complete (d is not a square), so doubling needs no special case. */
function add(a: Point, b: Point): Point {
  const t = (((((D * a.x) % P) * b.x) % P) * ((a.y * b.y) % P)) % P;
  return {
    x: mod(((a.x * b.y + a.y * b.x) % P) * inverse(mod(1n + t))),
    y: mod(((a.y * b.y + a.x * b.x) % P) * inverse(mod(1n - t))),
  };
}

export type Ed25519KeyProblem = 'non_canonical' | 'not_on_curve' | 'small_order';

/** Why these 32 bytes are not a usable public key, or null when they are. */
export function ed25519PublicKeyProblem(raw: Uint8Array): Ed25519KeyProblem | null {
  if (raw.length !== 32) return 'non_canonical';
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? raw[i]! & 0x7f : raw[i]!);
  const sign = BigInt(raw[31]! >> 7);
  // y >= p: a second spelling of y - p (p and p + 1 spell the small-order 0 and 1).
  if (y >= P) return 'non_canonical';
  const yy = (y * y) % P;
  const xx = mod((yy - 1n) * inverse(mod(D * yy + 1n)));
  let x = pow(xx, (P + 3n) / 8n);
  if ((x * x) % P !== xx) x = (x * SQRT_MINUS_ONE) % P;
  if ((x * x) % P !== xx) return 'not_on_curve';
  // x = 0 has no negative: a set sign bit is a second spelling (RFC 8032 5.1.3 step 4).
  if (x === 0n && sign === 1n) return 'non_canonical';
  if ((x & 1n) !== sign) x = P - x;
  let point: Point = { x, y };
  for (let i = 0; i < 3; i++) point = add(point, point);
  return point.x === 0n && point.y === 1n ? 'small_order' : null;
}
