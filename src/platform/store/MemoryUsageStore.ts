/** The usage cross-check's records in process (single box, `ttma demo`); kept across restarts by a persistent state journal. */
import {
  applyUsage,
  blankEntry,
  copyEntry,
  DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT,
  DEFAULT_MAX_USAGE_ENTRIES,
  type UnknownReportCount,
  type UsageEntry,
  type UsageListScope,
  type UsageOp,
  type UsageOutcome,
  type UsageRetention,
  type UsageStore,
} from './UsageStore.js';
import { checkMaxRecords } from './retention.js';
import { StateJournal, type JournalTable } from './StateJournal.js';

/** One deployment's keys, oldest first, per kind: each kind is evicted only by its own newer entries. */
interface DeploymentKeys {
  real: Set<string>;
  unknown: Set<string>;
}

export class MemoryUsageStore implements UsageStore {
  readonly kind = 'memory' as const;
  /** Every entry; insertion order is the listing order (a joining unknown entry is set again, as newest). */
  readonly #entries: JournalTable<UsageEntry>;
  /** Keys of entries written only by unknown reports (journaled: the kind survives a restart). */
  readonly #unknown: JournalTable<true>;
  readonly #unknownCounts: JournalTable<number>;
  readonly #byDeployment = new Map<string, DeploymentKeys>();
  readonly #journal: StateJournal;
  readonly #max: number;
  readonly #maxUnknown: number;

  constructor(options: UsageRetention & { journal?: StateJournal } = {}) {
    this.#max = checkMaxRecords('usage retention', 'maxEntries', options.maxEntries ?? DEFAULT_MAX_USAGE_ENTRIES);
    this.#maxUnknown = checkMaxRecords('usage retention', 'maxUnknownPerDeployment', options.maxUnknownPerDeployment ?? DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT);
    this.#journal = options.journal ?? StateJournal.inMemory();
    this.#entries = this.#journal.table<UsageEntry>('usage');
    this.#unknown = this.#journal.table<true>('usage.unknown');
    this.#unknownCounts = this.#journal.table<number>('usage.unknownCounts');
    for (const [key, entry] of this.#entries) this.#keysOf(entry.deploymentId)[this.#unknown.has(key) ? 'unknown' : 'real'].add(key);
  }

  async apply(deploymentId: string, callControlId: string, op: UsageOp, nowMs: number): Promise<UsageOutcome> {
    const key = `${deploymentId}|${callControlId}`;
    const keys = this.#keysOf(deploymentId);
    let entry = this.#entries.get(key);
    const held = entry !== undefined && this.#unknown.has(key);
    // Counted: every unknown report that is not about one of the deployment's real calls.
    if (op.kind === 'unknown' && (held || !entry)) this.#unknownCounts.set(deploymentId, (this.#unknownCounts.get(deploymentId) ?? 0) + 1);
    if (!entry) {
      if (op.kind === 'unreported') return { entry: undefined, compared: false, added: [] };
      entry = blankEntry(deploymentId, callControlId);
      this.#entries.set(key, entry);
      if (op.kind === 'unknown') this.#unknown.set(key, true);
      this.#add(keys, op.kind === 'unknown' ? 'unknown' : 'real', key);
    } else if (held && (op.kind === 'gateway' || op.kind === 'provider')) {
      // A known call's report or the provider's figure: a real call's entry from now on.
      this.#unknown.delete(key);
      keys.unknown.delete(key);
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      this.#add(keys, 'real', key);
    }
    const { compared, added } = applyUsage(entry, op, nowMs);
    this.#entries.set(key, entry);
    const outcome = { entry: copyEntry(entry), compared, added };
    await this.#journal.flush();
    return outcome;
  }

  async get(deploymentId: string, callControlId: string): Promise<UsageEntry | undefined> {
    const entry = this.#entries.get(`${deploymentId}|${callControlId}`);
    return entry ? copyEntry(entry) : undefined;
  }

  async list(scope: UsageListScope = {}): Promise<UsageEntry[]> {
    const out: UsageEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (scope.deploymentId === undefined || entry.deploymentId === scope.deploymentId) out.push(copyEntry(entry));
    }
    return scope.limit === undefined ? out : out.slice(-scope.limit);
  }

  async unknownReportCounts(deploymentId?: string): Promise<UnknownReportCount[]> {
    const out: UnknownReportCount[] = [];
    for (const [id, reports] of this.#unknownCounts) if (deploymentId === undefined || id === deploymentId) out.push({ deploymentId: id, reports });
    return out.sort((a, b) => (a.deploymentId < b.deploymentId ? -1 : a.deploymentId > b.deploymentId ? 1 : 0));
  }

  async ping(): Promise<void> {
    this.#journal.check();
  }

  async close(): Promise<void> {}

  #keysOf(deploymentId: string): DeploymentKeys {
    let keys = this.#byDeployment.get(deploymentId);
    if (!keys) this.#byDeployment.set(deploymentId, (keys = { real: new Set(), unknown: new Set() }));
    return keys;
  }

  /** Adds `key` as the newest of its kind and drops that kind's oldest over the bound (never `key`: max >= 1). */
  #add(keys: DeploymentKeys, kind: keyof DeploymentKeys, key: string): void {
    const set = keys[kind];
    set.add(key);
    if (set.size <= (kind === 'real' ? this.#max : this.#maxUnknown)) return;
    const oldest = set.values().next().value as string;
    set.delete(oldest);
    this.#entries.delete(oldest);
    this.#unknown.delete(oldest);
  }
}
