/**
 * One-time media tokens (FAQ-07, DESIGN 3 step 2): 32 random bytes, stored
 * only as a SHA-256 hash, bound to one call id, consumed on first use,
 * expired 30 s after issue if unused (a dial's: once the call is answered,
 * `answered`) and revoked the moment the call ends.
 * The token value is returned once to the caller of `issue` and never kept.
 *
 * A call has one unused token, except while a new stream is asked for again
 * (`issueAnother`): the stream of the earlier request may still be
 * connecting with its token, so that one stays valid too. The first token of
 * a call redeemed revokes the rest: one stream lands per request round.
 *
 * A token is valid only on the media path it was issued for: an inbound
 * call's and every new stream's `/v1/media/<call id>`, a dial's first stream
 * `/v1/media/<media id>` (the provider names the call only in the dial's
 * answer). Once it does, the dial's token is filed under the call id (`fileUnder`),
 * so the call's tokens stay one set, whatever path each opens.
 *
 * Every `nowMs` is monotonic (performance.now, the ControlActor's clock), never wall time:
 * a clock stepped back would keep a token alive past its TTL, one stepped forward would expire it early.
 */
import type { MediaRefusalReason } from '../front/mediaRefusals.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_BYTES = 32;
/**
 * Unused tokens one call may hold at once (oldest dropped beyond): a lost stream's requests
 * within its 10 s deadline (StreamRestarts: after 0.5 s, 1 s, then every 2 s) are about 7.
 */
export const MAX_TOKENS_PER_CALL = 8;

export type TokenRefusal = Extract<MediaRefusalReason, 'missing' | 'unknown' | 'expired' | 'wrong_call'>;

export type TokenVerdict = { ok: true } | { ok: false; reason: TokenRefusal };

interface Entry {
  /** The call the token belongs to (a dial's media id until the provider names the call): its tokens go together. */
  callId: string;
  /** The id of the one media path it opens (/v1/media/<id>). */
  pathId: string;
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

  /**
   * Mint a token for a call, replacing any unused one it had. `waitMs`: how
   * long the provider may wait before it opens the stream, on top of the TTL
   * (a dial's stream opens only when the callee answers, `answered`).
   */
  issue(callId: string, nowMs: number, waitMs = 0): string {
    this.revokeCall(callId);
    return this.#mint(callId, nowMs, waitMs);
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
    return this.#mint(callId, nowMs, 0);
  }

  /**
   * The dial on `mediaId` named its call: its unused tokens become the
   * call's (each still opening only the media id's path), so the first of the
   * call's tokens redeemed, on either path, revokes the rest, and ending the
   * call revokes them all.
   */
  fileUnder(mediaId: string, callId: string): void {
    const moved = this.#hashesByCall.get(mediaId);
    if (!moved || mediaId === callId) return;
    this.#hashesByCall.delete(mediaId);
    let hashes = this.#hashesByCall.get(callId);
    if (!hashes) this.#hashesByCall.set(callId, (hashes = new Set()));
    for (const hash of moved) {
      const entry = this.#byHash.get(hash);
      if (!entry) continue;
      entry.callId = callId;
      hashes.add(hash);
    }
  }

  /**
   * The call was answered: the provider opens its stream now, so its unused
   * tokens (a dial's, minted to outlast the ringing) expire within the TTL from now.
   */
  answered(callId: string, nowMs: number): void {
    const latest = nowMs + this.#ttlMs;
    for (const hash of this.#hashesByCall.get(callId) ?? []) {
      const entry = this.#byHash.get(hash);
      if (entry && entry.expiresAtMs > latest) entry.expiresAtMs = latest;
    }
  }

  /**
   * Check and consume atomically (single thread: no await between look-up
   * and delete). `pathId`: the id of the path it came on. A valid token
   * presented on another path (another call's, or its dial's other id) is
   * burnt too: it has leaked, so it must not work anywhere. A token redeemed
   * revokes the call's other unused ones, on either path.
   */
  consume(pathId: string, presented: string | undefined, nowMs: number): TokenVerdict {
    // Looked up before the sweep: an expired token is reported as expired, not as unknown (a guess).
    const hash = presented ? digest(presented) : null;
    const entry = hash === null ? undefined : this.#byHash.get(hash);
    this.sweep(nowMs);
    if (hash === null) return { ok: false, reason: 'missing' };
    if (!entry) return { ok: false, reason: 'unknown' };
    this.#delete(hash, entry.callId);
    if (entry.expiresAtMs <= nowMs) return { ok: false, reason: 'expired' };
    const a = Buffer.from(entry.pathId, 'utf8');
    const b = Buffer.from(pathId, 'utf8');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'wrong_call' };
    this.revokeCall(entry.callId);
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

  #mint(callId: string, nowMs: number, waitMs: number): string {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const hash = digest(token);
    this.#byHash.set(hash, { callId, pathId: callId, expiresAtMs: nowMs + waitMs + this.#ttlMs });
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
