/**
 * Ed25519 webhook verification, shared by the gateway and the platform.
 *
 * Signed bytes are UTF-8 of `${timestamp}|${rawBody}` (Telnyx docs, DESIGN 3a).
 * We verify with node's crypto (about 80 us a verify here, against about
 * 24 ms for tweetnacl; the simulator signs with tweetnacl so signer and
 * verifier are independent implementations).
 *
 * Everything here runs before any JSON parsing, and fails closed: no key,
 * no headers, bad lengths, a stale timestamp or a bad signature all refuse.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ErrorCodes, TtmaError } from '../errors.js';
import { ed25519PublicKeyProblem, type Ed25519KeyProblem } from './ed25519Point.js';
import { WEBHOOK_TOLERANCE_SEC } from './telnyx.js';

const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw key follows.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode base64 strictly: node's decoder skips junk, so check shape and length. */
export function decodeStrictBase64(text: string, expectedBytes: number): Buffer | null {
  const trimmed = text.trim();
  if (trimmed.length === 0 || trimmed.length % 4 !== 0 || !STRICT_BASE64.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed, 'base64');
  // Canonical only: unused low bits in the last character would otherwise give many spellings of one value.
  if (bytes.length !== expectedBytes || bytes.toString('base64') !== trimmed) return null;
  return bytes;
}

const KEY_PROBLEM: Record<Ed25519KeyProblem, string> = {
  non_canonical: 'is not the canonical encoding of an Ed25519 point',
  not_on_curve: 'is not a point on the Ed25519 curve',
  // Under such a key a signature made without any private key verifies (FAQ-05): never run with one.
  small_order: 'is a small-order (degenerate) Ed25519 point: signatures could be forged under it',
};

/**
 * Parse the provider's public key (base64 of the raw 32 bytes). Throws TTMA_ERR_CONFIG, also for
 * bytes OpenSSL would take but that are no real key (ed25519Point.ts): the gateway and the
 * platform then refuse to start rather than verify against a key anyone can sign for.
 */
export function parseEd25519PublicKey(base64: string): KeyObject {
  const raw = decodeStrictBase64(base64, ED25519_PUBLIC_KEY_BYTES);
  if (!raw) {
    throw new TtmaError(
      ErrorCodes.CONFIG,
      'webhook public key must be base64 of exactly 32 bytes (the raw Ed25519 public key)',
    );
  }
  const problem = ed25519PublicKeyProblem(raw);
  if (problem) throw new TtmaError(ErrorCodes.CONFIG, `webhook public key ${KEY_PROBLEM[problem]}; use the provider's Ed25519 public key`);
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new TtmaError(ErrorCodes.CONFIG, 'webhook public key is not a valid Ed25519 key', 500, { cause });
  }
}

export type WebhookRefusal =
  | 'no_key'
  | 'missing_headers'
  | 'bad_timestamp'
  | 'stale'
  | 'bad_signature_encoding'
  | 'bad_signature'
  | 'signed_before_start';

export type WebhookVerdict =
  | { ok: true; timestampSec: number; signature: Buffer }
  | { ok: false; reason: WebhookRefusal };

export interface WebhookVerifyInput {
  publicKey: KeyObject | null;
  signatureHeader: string | undefined;
  timestampHeader: string | undefined;
  rawBody: Buffer;
  nowSec: number;
  toleranceSec?: number;
  /**
   * Refuse a genuine signature made before this second: set by a receiver whose
   * replay memory began then (its process start), so an event captured before a
   * restart cannot be replayed into the new process's empty memory.
   */
  notBeforeSec?: number;
}

/**
 * How far the provider's clock may run behind ours at a process start. The
 * provider signs each delivery attempt when it sends it (Telnyx: "when the
 * webhook was sent"), so no genuine delivery to a new process predates it by
 * more than clock skew; a retry of one refused for this is signed afresh.
 */
export const START_SKEW_ALLOWANCE_SEC = 2;

/** The earliest signature second a receiver whose replay memory began at `startedAtMs` accepts. */
export function notBeforeSecOf(startedAtMs: number): number {
  return Math.floor(startedAtMs / 1000) - START_SKEW_ALLOWANCE_SEC;
}

const TIMESTAMP_PATTERN = /^\d{1,12}$/;

export function verifyWebhookSignature(input: WebhookVerifyInput): WebhookVerdict {
  if (!input.publicKey) return { ok: false, reason: 'no_key' };
  const { signatureHeader, timestampHeader } = input;
  if (!signatureHeader || !timestampHeader) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP_PATTERN.test(timestampHeader)) return { ok: false, reason: 'bad_timestamp' };
  const timestampSec = Number(timestampHeader);
  const tolerance = input.toleranceSec ?? WEBHOOK_TOLERANCE_SEC;
  if (Math.abs(input.nowSec - timestampSec) > tolerance) return { ok: false, reason: 'stale' };
  const signature = decodeStrictBase64(signatureHeader, ED25519_SIGNATURE_BYTES);
  if (!signature) return { ok: false, reason: 'bad_signature_encoding' };
  const signed = Buffer.concat([Buffer.from(`${timestampHeader}|`, 'utf8'), input.rawBody]);
  let valid = false;
  try {
    valid = cryptoVerify(null, signed, input.publicKey, signature);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'bad_signature' };
  // After the signature, so only the provider's own signatures learn when this process started.
  if (input.notBeforeSec !== undefined && timestampSec < input.notBeforeSec) return { ok: false, reason: 'signed_before_start' };
  return { ok: true, timestampSec, signature };
}
