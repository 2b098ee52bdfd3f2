/**
 * Usage cross-check (FAQ-14): what the gateway says each call lasted, next
 * to what the provider's own record says. Billing and caps always use the
 * provider's figure; this ledger only flags disagreements for review:
 *
 * - `duration_mismatch`: |gateway - provider| > max(2 s, 2 % of provider)
 * - `unreported`: the provider ended the call and the gateway never reported
 *   it within the grace period
 * - `unknown_to_provider`: the gateway reported a call the provider never
 *   reported to us
 */
import type { Logger } from '../log.js';

export type UsageFlag = 'duration_mismatch' | 'unreported' | 'unknown_to_provider';

export interface UsageEntry {
  callControlId: string;
  deploymentId: string;
  providerMs: number | null;
  gatewayMs: number | null;
  providerAt: number | null;
  reportedAt: number | null;
  flags: UsageFlag[];
}

/** DESIGN: a difference is flagged above max(2 s, 2 percent). */
export const MISMATCH_FLOOR_MS = 2_000;
export const MISMATCH_FRACTION = 0.02;
const DEFAULT_GRACE_MS = 5 * 60_000;
const MAX_ENTRIES = 100_000;

export function durationsDisagree(providerMs: number, gatewayMs: number): boolean {
  return Math.abs(gatewayMs - providerMs) > Math.max(MISMATCH_FLOOR_MS, MISMATCH_FRACTION * providerMs);
}

export class UsageLedger {
  readonly #entries = new Map<string, UsageEntry>();
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #now: () => number;

  constructor(options: { logger: Logger; reportGraceMs?: number; now?: () => number }) {
    this.#log = options.logger;
    this.#graceMs = options.reportGraceMs ?? DEFAULT_GRACE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The gateway's report; the first one counts (a repeat cannot revise it). */
  gatewayReport(deploymentId: string, callControlId: string, durationMs: number): UsageEntry {
    const entry = this.#entry(deploymentId, callControlId);
    if (entry.gatewayMs === null) {
      entry.gatewayMs = durationMs;
      entry.reportedAt = this.#now();
    }
    this.#check(entry);
    return { ...entry, flags: [...entry.flags] };
  }

  /** A report for a call the provider never told us about. */
  unknownReport(deploymentId: string, callControlId: string, durationMs: number): void {
    const entry = this.#entry(deploymentId, callControlId);
    entry.gatewayMs ??= durationMs;
    entry.reportedAt ??= this.#now();
    this.#flag(entry, 'unknown_to_provider');
  }

  /** The provider's figure at settlement. */
  providerFigure(deploymentId: string, callControlId: string, durationMs: number): void {
    const entry = this.#entry(deploymentId, callControlId);
    entry.providerMs = durationMs;
    entry.providerAt = this.#now();
    this.#check(entry);
  }

  get(callControlId: string): UsageEntry | undefined {
    const entry = this.#entry0(callControlId);
    if (!entry) return undefined;
    this.#checkUnreported(entry);
    return { ...entry, flags: [...entry.flags] };
  }

  list(deploymentId?: string): UsageEntry[] {
    const out: UsageEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (deploymentId !== undefined && entry.deploymentId !== deploymentId) continue;
      this.#checkUnreported(entry);
      out.push({ ...entry, flags: [...entry.flags] });
    }
    return out;
  }

  #entry0(callControlId: string): UsageEntry | undefined {
    for (const entry of this.#entries.values()) if (entry.callControlId === callControlId) return entry;
    return undefined;
  }

  #entry(deploymentId: string, callControlId: string): UsageEntry {
    const key = `${deploymentId}|${callControlId}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { callControlId, deploymentId, providerMs: null, gatewayMs: null, providerAt: null, reportedAt: null, flags: [] };
      this.#entries.set(key, entry);
      if (this.#entries.size > MAX_ENTRIES) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    return entry;
  }

  #check(entry: UsageEntry): void {
    if (entry.providerMs !== null && entry.gatewayMs !== null) {
      entry.flags = entry.flags.filter((f) => f !== 'unreported' && f !== 'unknown_to_provider');
      if (durationsDisagree(entry.providerMs, entry.gatewayMs)) this.#flag(entry, 'duration_mismatch');
    }
  }

  #checkUnreported(entry: UsageEntry): void {
    if (entry.gatewayMs === null && entry.providerAt !== null && this.#now() - entry.providerAt > this.#graceMs) {
      this.#flag(entry, 'unreported');
    }
  }

  #flag(entry: UsageEntry, flag: UsageFlag): void {
    if (entry.flags.includes(flag)) return;
    entry.flags.push(flag);
    this.#log.warn(
      { audit: true, flag, deployment: entry.deploymentId, callId: entry.callControlId, providerMs: entry.providerMs, gatewayMs: entry.gatewayMs },
      'usage cross-check flagged a call (billing uses the provider figure)',
    );
  }
}
