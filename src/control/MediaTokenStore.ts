/**
 * One-time media tokens (FAQ-07, DESIGN 3 step 2): 32 random bytes, stored
 * only as a SHA-256 hash, bound to one call id, consumed on first use,
 * expired 30 s after issue if unused and revoked the moment the call ends.
 * The token value is returned once to the caller of `issue` and never kept.
 *
 * A call has one unused token, except while a new stream is asked for again
 * (`issueAnother`): the stream of the earlier request may still be
 * connecting with its token, so that one stays valid too. The first token of
 * a call redeemed revokes the rest: one stream lands per request round.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_BYTES = 32;
/**
 * Unused tokens one call may hold at once (oldest dropped beyond): a lost stream's requests
 * within its 10 s deadline (StreamRestarts: after 0.5 s, 1 s, then every 2 s) are about 7.
 */
export const MAX_TOKENS_PER_CALL = 8;

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
  /** The call's unused tokens, oldest first. */
  readonly #hashesByCall = new Map<string, Set<string>>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Mint a token for a call, replacing any unused one it had. */
  issue(callId: string, nowMs: number): string {
    this.revokeCall(callId);
    return this.#mint(callId, nowMs);
  }

  /**
   * Mint another token for a call, keeping its unused ones (at most
   * MAX_TOKENS_PER_CALL in all): a request asked again while the stream of
   * the earlier one may still be connecting with its token.
   */
  issueAnother(callId: string, nowMs: number): string {
    const hashes = this.#hashesByCall.get(callId);
    if (hashes && hashes.size >= MAX_TOKENS_PER_CALL) {
      const oldest = hashes.values().next().value as string;
      this.#delete(oldest, callId);
    }
    return this.#mint(callId, nowMs);
  }

  /**
   * Check and consume atomically (single thread: no await between look-up
   * and delete). A valid token presented for another call is burnt too: it
   * has leaked, so it must not work anywhere. A token redeemed revokes the
   * call's other unused ones.
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
    this.revokeCall(callId);
    return { ok: true };
  }

  /** Every unused token of the call goes (it ended, or a stream landed). */
  revokeCall(callId: string): void {
    const hashes = this.#hashesByCall.get(callId);
    if (!hashes) return;
    for (const hash of hashes) this.#byHash.delete(hash);
    this.#hashesByCall.delete(callId);
  }

  /** One token goes (its request was refused); the call's others stay. */
  revoke(callId: string, token: string): void {
    const hash = digest(token);
    if (this.#byHash.get(hash)?.callId === callId) this.#delete(hash, callId);
  }

  hasPendingToken(callId: string): boolean {
    return this.#hashesByCall.has(callId);
  }

  sweep(nowMs: number): void {
    for (const [hash, entry] of this.#byHash) {
      if (entry.expiresAtMs <= nowMs) this.#delete(hash, entry.callId);
    }
  }

  get size(): number {
    return this.#byHash.size;
  }

  #mint(callId: string, nowMs: number): string {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const hash = digest(token);
    this.#byHash.set(hash, { callId, expiresAtMs: nowMs + this.#ttlMs });
    let hashes = this.#hashesByCall.get(callId);
    if (!hashes) this.#hashesByCall.set(callId, (hashes = new Set()));
    hashes.add(hash);
    return token;
  }

  #delete(hash: string, callId: string): void {
    this.#byHash.delete(hash);
    const hashes = this.#hashesByCall.get(callId);
    if (!hashes) return;
    hashes.delete(hash);
    if (hashes.size === 0) this.#hashesByCall.delete(callId);
  }
}
