/**
 * The usage cross-check's records (FAQ-14): per deployment and call, what the
 * gateway reported and what the provider billed, and the flags raised. The
 * contract both stores keep (MemoryUsageStore, RedisUsageStore):
 *
 * - each figure is written once (the first gateway report, the first provider
 *   figure); a repeat changes nothing;
 * - the write that completes the pair is the one comparison: it clears
 *   `unreported` / `unknown_to_provider` and decides `duration_mismatch`,
 *   so a report and a settlement racing (even from two platform processes)
 *   compare exactly once;
 * - every write answers the flags it newly raised, so each flag is logged once;
 * - retention is per deployment and per kind, so no deployment's writes evict
 *   another's entries, and reports of ids the provider never saw (anyone can
 *   make them up) never evict entries of real calls: an entry written by the
 *   gateway's report of a call the platform knows, or by the provider's
 *   figure, counts against the deployment's `maxEntries`; one written only by
 *   `unknown` reports against its `maxUnknownPerDeployment`, and it joins the
 *   real calls (newest, as if written now) at its first `gateway` or
 *   `provider` write. Each deployment's `unknown` reports of no real entry are
 *   also counted, past the ids kept.
 */
export type UsageFlag = 'duration_mismatch' | 'unreported' | 'unknown_to_provider';

export interface UsageEntry {
  callControlId: string;
  deploymentId: string;
  providerMs: number | null;
  gatewayMs: number | null;
  /** When the provider figure / the gateway report arrived (ms). */
  providerAt: number | null;
  reportedAt: number | null;
  flags: UsageFlag[];
}

/**
 * gateway: the gateway's report. unknown: a report for a call the provider
 * never told us about. provider: the billed figure at settlement.
 * unreported: the provider figure is older than the grace and no report came.
 */
export type UsageOp =
  | { kind: 'gateway' | 'unknown' | 'provider'; durationMs: number }
  | { kind: 'unreported'; graceMs: number };

export interface UsageOutcome {
  /** The entry after the write; undefined only for `unreported` on an unknown entry. */
  entry: UsageEntry | undefined;
  /** True for the one write that completed the pair and compared the figures. */
  compared: boolean;
  /** Flags this write raised (each flag is raised once per entry). */
  added: UsageFlag[];
}

export interface UsageListScope {
  deploymentId?: string;
  /** Newest entries kept in the answer (default: all retained). */
  limit?: number;
}

/** How many reports a deployment made of calls the provider never saw (those kept are the newest). */
export interface UnknownReportCount {
  deploymentId: string;
  reports: number;
}

export interface UsageStore {
  readonly kind: 'memory' | 'redis';
  apply(deploymentId: string, callControlId: string, op: UsageOp, nowMs: number): Promise<UsageOutcome>;
  get(deploymentId: string, callControlId: string): Promise<UsageEntry | undefined>;
  /** Oldest first (the newest `limit` are the last ones), entries of both kinds. */
  list(scope?: UsageListScope): Promise<UsageEntry[]>;
  /** Per deployment with any, by deployment id. */
  unknownReportCounts(deploymentId?: string): Promise<UnknownReportCount[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** DESIGN: a difference is flagged above max(2 s, 2 percent). */
export const MISMATCH_FLOOR_MS = 2_000;
export const MISMATCH_FRACTION = 0.02;
/** Real calls' entries kept per deployment (newest first). */
export const DEFAULT_MAX_USAGE_ENTRIES = 50_000;
/** Entries of unknown reports kept per deployment: enough ids to look into, never a flood. */
export const DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT = 100;

export interface UsageRetention {
  /** Real calls' entries kept per deployment. */
  maxEntries?: number;
  /** Entries of unknown reports kept per deployment. */
  maxUnknownPerDeployment?: number;
}

export function durationsDisagree(providerMs: number, gatewayMs: number): boolean {
  return Math.abs(gatewayMs - providerMs) > Math.max(MISMATCH_FLOOR_MS, MISMATCH_FRACTION * providerMs);
}

export function blankEntry(deploymentId: string, callControlId: string): UsageEntry {
  return { callControlId, deploymentId, providerMs: null, gatewayMs: null, providerAt: null, reportedAt: null, flags: [] };
}

/**
 * The one definition of a write, applied in place (the embedded store runs it
 * as is; usageScripts.ts is the same steps in Lua, and the contract suite
 * holds both to the same answers).
 */
export function applyUsage(entry: UsageEntry, op: UsageOp, nowMs: number): { compared: boolean; added: UsageFlag[] } {
  const added: UsageFlag[] = [];
  const flag = (name: UsageFlag): void => {
    if (entry.flags.includes(name)) return;
    entry.flags.push(name);
    added.push(name);
  };
  let completes = false;
  switch (op.kind) {
    case 'gateway':
      if (entry.gatewayMs === null) {
        entry.gatewayMs = op.durationMs;
        entry.reportedAt = nowMs;
        completes = entry.providerMs !== null;
      }
      break;
    case 'unknown':
      if (entry.gatewayMs === null) {
        entry.gatewayMs = op.durationMs;
        entry.reportedAt = nowMs;
        completes = entry.providerMs !== null;
      }
      if (!completes && entry.providerMs === null) flag('unknown_to_provider');
      break;
    case 'provider':
      if (entry.providerMs === null) {
        entry.providerMs = op.durationMs;
        entry.providerAt = nowMs;
        completes = entry.gatewayMs !== null;
      }
      break;
    case 'unreported':
      if (entry.gatewayMs === null && entry.providerAt !== null && nowMs - entry.providerAt > op.graceMs) flag('unreported');
      break;
  }
  if (completes && entry.providerMs !== null && entry.gatewayMs !== null) {
    entry.flags = entry.flags.filter((f) => f !== 'unreported' && f !== 'unknown_to_provider');
    if (durationsDisagree(entry.providerMs, entry.gatewayMs)) flag('duration_mismatch');
  }
  return { compared: completes, added };
}

export function copyEntry(entry: UsageEntry): UsageEntry {
  return { ...entry, flags: [...entry.flags] };
}
