/**
 * Refusals of unknown token ids (junk, used or expired) go into the audit one
 * by one only up to a budget per window; beyond it they are counted and
 * written as one summary entry (tokenId `*`, `count`, `since`). The audit
 * list is capped (MAX_AUDIT_ENTRIES), so an unbounded stream of junk
 * redemptions from many addresses would otherwise push out the entries that
 * matter (minted, redeemed, revoked).
 */
import type { InstallAuditEntry } from './InstallTokenStore.js';

export interface RefusalAuditOptions {
  append(entry: InstallAuditEntry): Promise<void>;
  now: () => number;
  /** Entries listed one by one per window (default 20). */
  perWindow?: number;
  windowMs?: number;
}

const DEFAULT_PER_WINDOW = 20;
const DEFAULT_WINDOW_MS = 60_000;

export class RefusalAudit {
  readonly #append: (entry: InstallAuditEntry) => Promise<void>;
  readonly #now: () => number;
  readonly #perWindow: number;
  readonly #windowMs: number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #listed = 0;
  #suppressed = 0;
  #since = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: RefusalAuditOptions) {
    this.#append = options.append;
    this.#now = options.now;
    this.#perWindow = options.perWindow ?? DEFAULT_PER_WINDOW;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  }

  /** Audits an unknown-id refusal, or counts it when this window's budget is spent. */
  async unknown(entry: InstallAuditEntry): Promise<void> {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      await this.flush();
      this.#windowStart = now;
      this.#listed = 0;
    }
    if (this.#listed < this.#perWindow) {
      this.#listed += 1;
      return this.#append(entry);
    }
    if (this.#suppressed === 0) this.#since = now;
    this.#suppressed += 1;
    // Written at the window's end even if nothing else comes (unref: never keeps the process up).
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      void this.flush().catch(() => undefined);
    }, Math.max(0, this.#windowStart + this.#windowMs - now)).unref();
  }

  /** Writes the pending summary, if any (before the audit is read, and at the window's end). */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#suppressed === 0) return;
    const count = this.#suppressed;
    this.#suppressed = 0;
    await this.#append({
      tokenId: '*',
      deploymentId: null,
      outcome: 'unknown-used-or-expired',
      at: this.#now(),
      mintedAt: null,
      expiresAt: null,
      address: null,
      count,
      since: this.#since,
    });
  }
}
