/** The usage cross-check's records in process (single box, `ttma demo`); kept across restarts by a persistent state journal. */
import {
  applyUsage,
  blankEntry,
  copyEntry,
  DEFAULT_MAX_USAGE_ENTRIES,
  type UsageEntry,
  type UsageListScope,
  type UsageOp,
  type UsageOutcome,
  type UsageStore,
} from './UsageStore.js';
import { checkMaxRecords } from './retention.js';
import { StateJournal, type JournalTable } from './StateJournal.js';

export class MemoryUsageStore implements UsageStore {
  readonly kind = 'memory' as const;
  /** Insertion order is age order: the oldest entry goes first when over the bound. */
  readonly #entries: JournalTable<UsageEntry>;
  readonly #journal: StateJournal;
  readonly #max: number;

  constructor(options: { maxEntries?: number; journal?: StateJournal } = {}) {
    this.#max = checkMaxRecords('usage retention', 'maxEntries', options.maxEntries ?? DEFAULT_MAX_USAGE_ENTRIES);
    this.#journal = options.journal ?? StateJournal.inMemory();
    this.#entries = this.#journal.table<UsageEntry>('usage');
  }

  async apply(deploymentId: string, callControlId: string, op: UsageOp, nowMs: number): Promise<UsageOutcome> {
    const key = `${deploymentId}|${callControlId}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      if (op.kind === 'unreported') return { entry: undefined, compared: false, added: [] };
      entry = blankEntry(deploymentId, callControlId);
      this.#entries.set(key, entry);
      if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
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

  async ping(): Promise<void> {
    this.#journal.check();
  }

  async close(): Promise<void> {}
}
