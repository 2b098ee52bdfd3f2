/**
 * One-time media tokens (FAQ-07, DESIGN 3 step 2): 32 random bytes, stored
 * only as a SHA-256 hash, bound to one call id, consumed on first use,
 * expired 30 s after issue if unused and revoked the moment the call ends.
 * The token value is returned once to the caller of `issue` and never kept.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_BYTES = 32;

export type TokenRefusal = 'missing' | 'unknown' | 'expired' | 'wrong_call';

export type TokenVerdict = { ok: true } | { ok: false; reason: TokenRefusal };

interface Entry {
  callId: string;
  expiresAtMs: number;
}

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class MediaTokenStore {
  readonly #ttlMs: number;
  readonly #byHash = new Map<string, Entry>();
  readonly #hashByCall = new Map<string, string>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Mint a token for a call, replacing any unused one it had. */
  issue(callId: string, nowMs: number): string {
    this.revokeCall(callId);
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const hash = digest(token);
    this.#byHash.set(hash, { callId, expiresAtMs: nowMs + this.#ttlMs });
    this.#hashByCall.set(callId, hash);
    return token;
  }

  /**
   * Check and consume atomically (single thread: no await between look-up
   * and delete). A valid token presented for another call is burnt too: it
   * has leaked, so it must not work anywhere.
   */
  consume(callId: string, presented: string | undefined, nowMs: number): TokenVerdict {
    // Looked up before the sweep: an expired token is reported as expired, not as unknown (a guess).
    const hash = presented ? digest(presented) : null;
    const entry = hash === null ? undefined : this.#byHash.get(hash);
    this.sweep(nowMs);
    if (hash === null) return { ok: false, reason: 'missing' };
    if (!entry) return { ok: false, reason: 'unknown' };
    this.#delete(hash, entry.callId);
    if (entry.expiresAtMs <= nowMs) return { ok: false, reason: 'expired' };
    const a = Buffer.from(entry.callId, 'utf8');
    const b = Buffer.from(callId, 'utf8');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'wrong_call' };
    return { ok: true };
  }

  revokeCall(callId: string): void {
    const hash = this.#hashByCall.get(callId);
    if (hash !== undefined) this.#delete(hash, callId);
  }

  hasPendingToken(callId: string): boolean {
    return this.#hashByCall.has(callId);
  }

  sweep(nowMs: number): void {
    for (const [hash, entry] of this.#byHash) {
      if (entry.expiresAtMs <= nowMs) this.#delete(hash, entry.callId);
    }
  }

  get size(): number {
    return this.#byHash.size;
  }

  #delete(hash: string, callId: string): void {
    this.#byHash.delete(hash);
    if (this.#hashByCall.get(callId) === hash) this.#hashByCall.delete(callId);
  }
}
