/**
 * Recording URLs that expire, like the pre-signed S3 URLs Telnyx hands out
 * (its docs: recording URLs "are valid for 10 minutes after the call has
 * ended"). Stateless: `?expires=<unix seconds>&signature=<hex HMAC-SHA256 of
 * "<id>|<expires>">` under a random key of this simulator, so a URL can be
 * checked without remembering it, and a new one signed at any time (the
 * recordings API hands out fresh ones).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type RecordingUrlCheck = 'ok' | 'denied' | 'expired';

const EXPIRES_PATTERN = /^\d{1,15}$/;

export class RecordingUrlSigner {
  readonly #key = randomBytes(32);

  /** `?expires=...&signature=...` for this id, valid until `expiresAtMs` (rounded up to the second). */
  query(id: string, expiresAtMs: number): string {
    const expires = Math.ceil(expiresAtMs / 1000);
    return `expires=${expires}&signature=${this.#sign(id, String(expires))}`;
  }

  /** The query's `expires` and `signature` against this id: denied (missing, malformed, wrong) before expired. */
  check(id: string, expires: string | null, signature: string | null, nowMs = Date.now()): RecordingUrlCheck {
    if (expires === null || signature === null || !EXPIRES_PATTERN.test(expires)) return 'denied';
    const given = Buffer.from(signature, 'utf8');
    const wanted = Buffer.from(this.#sign(id, expires), 'utf8');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return 'denied';
    return Number(expires) * 1000 <= nowMs ? 'expired' : 'ok';
  }

  #sign(id: string, expires: string): string {
    return createHmac('sha256', this.#key).update(`${id}|${expires}`, 'utf8').digest('hex');
  }
}
