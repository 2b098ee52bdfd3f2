/**
 * The gateway's side of the local operator API's challenge-response
 * (src/wire/localAuth.ts): issues nonces, checks a request's MAC and spends
 * its nonce, signs answers. Holds the keys derived from the agent secret,
 * never the secret.
 *
 * Nonces are stateless until spent: 32 random bytes, an expiry and a tag
 * (HMAC under a key of this process), so issuing one stores nothing and a
 * local user asking for nonces as fast as it can fills no table and evicts
 * nobody's nonce (no lock-out of the CLI; and no rate limit either, which
 * on loopback, where every caller looks the same, would itself be the
 * lock-out). Only a nonce whose request MAC verified, which takes the
 * secret, is remembered, until it expires, to refuse its reuse: that table
 * is bounded and, full, refuses (503) rather than forget a nonce early.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCodes, type ErrorCode } from '../errors.js';
import {
  CHALLENGE_PATTERN,
  helloMac,
  localAuthKeys,
  macEquals,
  parseAuthorization,
  requestMac,
  responseMac,
  type LocalAuthKeys,
  type StreamedBody,
} from '../wire/localAuth.js';

export const LOCAL_NONCE_TTL_MS = 30_000;
/** Spent nonces remembered at once; only requests signed with the secret add to it. */
export const MAX_SPENT_NONCES = 4_096;

const RANDOM_BYTES = 32;
const TAG_BYTES = 16;

export interface LocalOperatorAuthOptions {
  ttlMs?: number;
  maxSpent?: number;
  /** Monotonic milliseconds (nonces never leave this process's clock). */
  now?: () => number;
}

export type LocalVerdict =
  | { ok: true; nonce: string }
  /** `nonce`: one this process issued (expired or spent or not), so the refusal can be signed. */
  | { ok: false; status: 401 | 503; code: ErrorCode; message: string; nonce: string | null };

export interface IssuedNonce {
  nonce: string;
  proof: string;
  expires_in_ms: number;
}

export class LocalOperatorAuth {
  readonly #keys: LocalAuthKeys;
  readonly #tagKey = randomBytes(32);
  readonly #ttlMs: number;
  readonly #maxSpent: number;
  readonly #now: () => number;
  /** Spent nonce -> its expiry; insertion order is expiry order (one TTL, a monotonic clock). */
  readonly #spent = new Map<string, number>();

  constructor(agentSecret: string, options: LocalOperatorAuthOptions = {}) {
    this.#keys = localAuthKeys(agentSecret);
    this.#ttlMs = options.ttlMs ?? LOCAL_NONCE_TTL_MS;
    this.#maxSpent = options.maxSpent ?? MAX_SPENT_NONCES;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A fresh nonce and the proof, over the client's challenge, that this listener holds the secret; null for a malformed challenge. */
  issue(challenge: string, port: number): IssuedNonce | null {
    if (!CHALLENGE_PATTERN.test(challenge)) return null;
    const body = Buffer.alloc(RANDOM_BYTES + 8);
    randomBytes(RANDOM_BYTES).copy(body);
    body.writeBigUInt64BE(BigInt(Math.ceil(this.#now() + this.#ttlMs)), RANDOM_BYTES);
    const nonce = Buffer.concat([body, this.#tag(body)]).toString('base64url');
    return { nonce, proof: helloMac(this.#keys, challenge, nonce, port), expires_in_ms: this.#ttlMs };
  }

  /** Checks a request's authorization header and, when it verifies, spends its nonce. */
  verify(authorization: string, port: number, method: string, pathWithQuery: string, body: Buffer): LocalVerdict {
    const parsed = parseAuthorization(authorization);
    if (parsed === null) {
      const message = /^Bearer /i.test(authorization)
        ? 'the agent secret as a bearer is not accepted here (it would go to whatever listens on this port): sign the request (TTMA-HMAC, docs/control.md), as ttma does'
        : 'authentication failed: sign the request with the agent secret (TTMA-HMAC, docs/control.md), as ttma does';
      return { ok: false, status: 401, code: ErrorCodes.AUTH, message, nonce: null };
    }
    const { nonce, mac } = parsed;
    const expiry = this.#expiryOf(nonce);
    if (expiry === null) return { ok: false, status: 401, code: ErrorCodes.LOCAL_NONCE, message: 'unknown nonce (not issued by this gateway process): fetch a new one', nonce: null };
    const now = this.#now();
    if (expiry <= now) return this.#refuse(ErrorCodes.LOCAL_NONCE, 'nonce expired: fetch a new one', nonce);
    if (!macEquals(mac, requestMac(this.#keys, nonce, port, method, pathWithQuery, body))) {
      return this.#refuse(ErrorCodes.AUTH, 'authentication failed: the request is not signed with this deployment\'s agent secret (or was changed on the way)', nonce);
    }
    this.#forgetExpired(now);
    if (this.#spent.has(nonce)) return this.#refuse(ErrorCodes.LOCAL_NONCE, 'nonce already used: fetch a new one for each request', nonce);
    if (this.#spent.size >= this.#maxSpent) {
      return { ok: false, status: 503, code: ErrorCodes.OVERLOADED, message: `more than ${this.#maxSpent} signed requests in ${this.#ttlMs / 1000} s: try again shortly`, nonce };
    }
    this.#spent.set(nonce, expiry);
    return { ok: true, nonce };
  }

  /** The nonce of a TTMA-HMAC header when this process issued it (expired or not): to sign a refusal given before the MAC is checked. */
  issuedNonce(authorization: string): string | null {
    const parsed = parseAuthorization(authorization);
    return parsed !== null && this.#expiryOf(parsed.nonce) !== null ? parsed.nonce : null;
  }

  /** The answer's MAC for a request that named `nonce`. */
  sign(nonce: string, port: number, status: number, body: Buffer | StreamedBody): string {
    return responseMac(this.#keys, nonce, port, status, body);
  }

  /** Nonces remembered as spent (for tests and figures). */
  get spentCount(): number {
    return this.#spent.size;
  }

  #refuse(code: ErrorCode, message: string, nonce: string): LocalVerdict {
    return { ok: false, status: 401, code, message, nonce };
  }

  #tag(body: Buffer): Buffer {
    return createHmac('sha256', this.#tagKey).update(body).digest().subarray(0, TAG_BYTES);
  }

  /** The expiry of a nonce this process issued, or null. */
  #expiryOf(nonce: string): number | null {
    const bytes = Buffer.from(nonce, 'base64url');
    // One spelling per nonce (base64url leaves 2 spare bits): the spent table is keyed by the string.
    if (bytes.length !== RANDOM_BYTES + 8 + TAG_BYTES || bytes.toString('base64url') !== nonce) return null;
    const body = bytes.subarray(0, RANDOM_BYTES + 8);
    if (!timingSafeEqual(bytes.subarray(RANDOM_BYTES + 8), this.#tag(body))) return null;
    return Number(body.readBigUInt64BE(RANDOM_BYTES));
  }

  #forgetExpired(now: number): void {
    for (const [nonce, expiry] of this.#spent) {
      if (expiry > now) return;
      this.#spent.delete(nonce);
    }
  }
}
