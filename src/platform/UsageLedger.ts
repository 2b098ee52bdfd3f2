/**
 * Usage cross-check (FAQ-14): what the gateway says each call lasted, next
 * to what the provider's own record says (its detail record's `call_sec`,
 * whole seconds: the 2 s floor below covers the rounding; the webhooks'
 * figure when no record came within the settlement's window). Billing and
 * caps always use the provider's figure; this ledger only flags
 * disagreements for review:
 *
 * - `duration_mismatch`: |gateway - provider| > max(2 s, 2 % of provider)
 * - `unreported`: the provider ended the call and the gateway never reported
 *   it within the grace period
 * - `unknown_to_provider`: the gateway reported a call the provider never
 *   reported to us
 *
 * The entries live in a UsageStore (Redis when configured, so they survive a
 * restart), kept per deployment, the unknown ones apart (UsageStore.ts); this
 * front logs each flag once, when the store says it was raised.
 */
import type { Logger } from '../log.js';
import type { UnknownReportCount, UsageEntry, UsageFlag, UsageOp, UsageStore } from './store/UsageStore.js';

export { durationsDisagree, MISMATCH_FLOOR_MS, MISMATCH_FRACTION } from './store/UsageStore.js';
export type { UnknownReportCount, UsageEntry, UsageFlag } from './store/UsageStore.js';

const DEFAULT_GRACE_MS = 5 * 60_000;

export class UsageLedger {
  readonly store: UsageStore;
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #now: () => number;

  constructor(options: { store: UsageStore; logger: Logger; reportGraceMs?: number; now?: () => number }) {
    this.store = options.store;
    this.#log = options.logger;
    this.#graceMs = options.reportGraceMs ?? DEFAULT_GRACE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The gateway's report; the first one counts (a repeat cannot revise it). */
  async gatewayReport(deploymentId: string, callControlId: string, durationMs: number): Promise<UsageEntry> {
    return (await this.#apply(deploymentId, callControlId, { kind: 'gateway', durationMs })) as UsageEntry;
  }

  /** A report for a call the provider never told us about. */
  async unknownReport(deploymentId: string, callControlId: string, durationMs: number): Promise<void> {
    await this.#apply(deploymentId, callControlId, { kind: 'unknown', durationMs });
  }

  /** The provider's figure at settlement (the first one counts). */
  async providerFigure(deploymentId: string, callControlId: string, durationMs: number): Promise<void> {
    await this.#apply(deploymentId, callControlId, { kind: 'provider', durationMs });
  }

  async get(deploymentId: string, callControlId: string): Promise<UsageEntry | undefined> {
    const entry = await this.store.get(deploymentId, callControlId);
    return entry && (await this.#checkUnreported(entry));
  }

  /** Oldest first; `limit` keeps the newest. */
  async list(deploymentId?: string, limit?: number): Promise<UsageEntry[]> {
    const entries = await this.store.list({ ...(deploymentId !== undefined ? { deploymentId } : {}), ...(limit !== undefined ? { limit } : {}) });
    const out: UsageEntry[] = [];
    for (const entry of entries) out.push(await this.#checkUnreported(entry));
    return out;
  }

  /** How many reports of calls the provider never saw each deployment made (only the newest are kept as entries). */
  unknownReportCounts(deploymentId?: string): Promise<UnknownReportCount[]> {
    return this.store.unknownReportCounts(deploymentId);
  }

  /** Raised when read: a write only when the grace has passed and the flag is not there yet. */
  async #checkUnreported(entry: UsageEntry): Promise<UsageEntry> {
    if (entry.gatewayMs !== null || entry.providerAt === null || entry.flags.includes('unreported')) return entry;
    if (this.#now() - entry.providerAt <= this.#graceMs) return entry;
    return (await this.#apply(entry.deploymentId, entry.callControlId, { kind: 'unreported', graceMs: this.#graceMs })) ?? entry;
  }

  async #apply(deploymentId: string, callControlId: string, op: UsageOp): Promise<UsageEntry | undefined> {
    const outcome = await this.store.apply(deploymentId, callControlId, op, this.#now());
    for (const flag of outcome.added) this.#flagged(flag, outcome.entry);
    return outcome.entry;
  }

  #flagged(flag: UsageFlag, entry: UsageEntry | undefined): void {
    if (!entry) return;
    this.#log.warn(
      { audit: true, flag, deployment: entry.deploymentId, callId: entry.callControlId, providerMs: entry.providerMs, gatewayMs: entry.gatewayMs },
      'usage cross-check flagged a call (billing uses the provider figure)',
    );
  }
}
