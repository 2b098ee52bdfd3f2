/**
 * The signalling proxy's per-deployment rate limit over a RateLimitStore.
 *
 * With a shared (Redis) store, asking Redis for every request would add a
 * round trip to each hang-up, DTMF and usage report. Instead a process takes
 * a small lease of tokens from the shared bucket at a time and spends it
 * locally, refilling in the background once it runs low. Every token spent
 * was taken from the shared bucket first, so N processes together never
 * exceed one deployment's budget; a lease unused after `leaseMs` is dropped
 * (the budget errs on the strict side, never the generous one).
 *
 * Store unreachable: requests are limited by an in-process bucket instead
 * (so a live call can still be hung up, FAQ-14's "live calls continue"), and
 * `degraded` says so; new calls are refused anyway by the cap reservation.
 */
import { ErrorCodes, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { RateLimiter } from './RateLimiter.js';
import type { RateLimitStore } from './store/RateLimitStore.js';

export interface DeploymentRateLimiterOptions {
  store: RateLimitStore;
  log: Logger;
  /** Tokens taken from a shared store at once (default: burst/8, 1 to 10; always 1 for the embedded store). */
  lease?: number;
  /** A lease not spent within this is dropped (default 1 s). */
  leaseMs?: number;
}

interface Lease {
  tokens: number;
  expiresAt: number;
  refilling: boolean;
}

export class DeploymentRateLimiter {
  readonly #store: RateLimitStore;
  readonly #log: Logger;
  readonly #lease: number;
  readonly #leaseMs: number;
  readonly #leases = new Map<string, Lease>();
  readonly #retryAfterMs = new Map<string, number>();
  /** Used only while the store is unreachable. */
  readonly #fallback: RateLimiter;
  #degraded: string | null = null;

  constructor(options: DeploymentRateLimiterOptions) {
    this.#store = options.store;
    this.#log = options.log;
    const { burst, ratePerSec } = options.store.settings;
    this.#lease = options.store.kind === 'memory' ? 1 : Math.max(1, Math.min(options.lease ?? Math.min(10, Math.floor(burst / 8)), burst));
    this.#leaseMs = options.leaseMs ?? 1_000;
    this.#fallback = new RateLimiter({ ratePerSec, burst });
  }

  get store(): RateLimitStore {
    return this.#store;
  }

  /** Why the shared budget is not in use, or null. */
  get degraded(): string | null {
    return this.#degraded;
  }

  /** Takes one token of the deployment's budget; false when it is spent. */
  async take(key: string): Promise<boolean> {
    if (this.#spend(key)) return true;
    try {
      const { granted, retryAfterMs } = await this.#store.take(key, this.#lease);
      this.#healthy();
      if (granted === 0) {
        // Requests that missed the lease together each took one: the bucket went to the others'
        // leases (their replies came first), so this one is paid from them, not refused.
        if (this.#spend(key)) return true;
        this.#retryAfterMs.set(key, retryAfterMs);
        return false;
      }
      this.#addLease(key, granted - 1);
      return true;
    } catch (err) {
      this.#markDegraded(err);
      return this.#fallback.take(key);
    }
  }

  /** One token from this process's lease for the key, if it holds one. */
  #spend(key: string): boolean {
    const held = this.#leases.get(key);
    if (!held || held.expiresAt <= performance.now() || held.tokens < 1) return false;
    held.tokens -= 1;
    if (held.tokens < this.#lease / 2 && !held.refilling) this.#refill(key, held);
    return true;
  }

  /** Seconds until the deployment may try again, for Retry-After (at least 1). */
  retryAfterSec(key: string): number {
    return Math.max(1, Math.ceil((this.#retryAfterMs.get(key) ?? 1_000) / 1_000));
  }

  #refill(key: string, lease: Lease): void {
    lease.refilling = true;
    this.#store.take(key, this.#lease).then(
      ({ granted }) => {
        this.#healthy();
        lease.refilling = false;
        if (granted > 0) this.#addLease(key, granted);
      },
      (err: unknown) => {
        lease.refilling = false;
        this.#markDegraded(err);
      },
    );
  }

  #addLease(key: string, tokens: number): void {
    const now = performance.now();
    const held = this.#leases.get(key);
    const kept = held && held.expiresAt > now ? held.tokens : 0;
    if (held) {
      held.tokens = kept + tokens;
      held.expiresAt = now + this.#leaseMs;
    } else if (tokens > 0) {
      this.#leases.set(key, { tokens, expiresAt: now + this.#leaseMs, refilling: false });
    }
    if (this.#leases.size > 10_000) this.#prune(now);
  }

  #prune(now: number): void {
    for (const [key, lease] of this.#leases) if (lease.expiresAt <= now && !lease.refilling) this.#leases.delete(key);
  }

  #markDegraded(err: unknown): void {
    if (this.#degraded) return;
    this.#degraded = isTtmaError(err) ? err.message : 'rate-limit store error';
    this.#log.error({ code: ErrorCodes.STORE_UNAVAILABLE, reason: this.#degraded }, 'rate-limit store unreachable: limiting per process until it is back');
  }

  #healthy(): void {
    if (!this.#degraded) return;
    this.#log.info('rate-limit store reachable again: shared budget in use');
    this.#degraded = null;
  }
}
