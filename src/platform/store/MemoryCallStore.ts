/**
 * The embedded call store: the CallStore contract in one process's memory.
 * Each method runs to completion without awaiting, so on node's one thread a
 * lock is as atomic as the Redis script. Bounded by a number of calls:
 * over it, ended calls are forgotten first (oldest first), then the oldest.
 * Each change is set again in its journal table and flushed before the
 * method answers (StateJournal.ts), so a persistent journal keeps the records.
 * The unsettled index mostly follows from the records, so it is rebuilt from
 * them when the store opens (one pass over memory, no I/O). The one entry no
 * record shows, a call the platform hung up whose call.hangup has not come
 * (markHungUp), is journaled in its own small table (id to the mark's time),
 * dropped once the call is billed, dropped from the index or forgotten, so a
 * restart still finds the call to settle.
 */
import {
  BLANK_RECORDING,
  DEFAULT_MAX_CALLS,
  MAX_TIMELINE_ENTRIES,
  STATE_RANK,
  newestFirst,
  stateAfter,
  timelineEntryOf,
  type CallBilling,
  type CallEvent,
  type CallFacts,
  type CallListScope,
  type CallOwner,
  type CallRecord,
  type CallRecording,
  type CallStore,
  type EventOutcome,
  type LockOutcome,
  type TimelineEntry,
  type UnsettledCall,
} from './CallStore.js';
import { checkMaxRecords } from './retention.js';
import { StateJournal, type JournalTable } from './StateJournal.js';

export class MemoryCallStore implements CallStore {
  readonly kind = 'memory' as const;
  readonly #calls: JournalTable<CallRecord>;
  readonly #journal: StateJournal;
  readonly #maxCalls: number;
  /** Ended, owned calls not billed yet: id to when the store learned it (ms). */
  readonly #unsettled = new Map<string, number>();
  /** The marks of markHungUp: id to when (ms); a key only while its call awaits settlement. */
  readonly #hungUp: JournalTable<number>;

  constructor(options: { maxCalls?: number; journal?: StateJournal } = {}) {
    this.#maxCalls = checkMaxRecords('call retention', 'maxCalls', options.maxCalls ?? DEFAULT_MAX_CALLS);
    this.#journal = options.journal ?? StateJournal.inMemory();
    this.#calls = this.#journal.table<CallRecord>('calls');
    this.#hungUp = this.#journal.table<number>('calls.hungUp');
    // A mark comes before the call's end (or it would not have been made): its time is the entry's, as ZADD NX keeps it.
    for (const [id, sinceMs] of [...this.#hungUp]) {
      if (markable(this.#calls.get(id))) this.#unsettled.set(id, sinceMs);
      else this.#hungUp.delete(id);
    }
    for (const [id, record] of this.#calls) {
      if (awaitsSettlement(record) && !this.#unsettled.has(id)) this.#unsettled.set(id, Date.parse(record.endedAt ?? '') || Date.parse(record.firstSeenAt) || 0);
    }
  }

  async get(callControlId: string): Promise<CallRecord | undefined> {
    const record = this.#calls.get(callControlId);
    return record ? cloneRecord(record) : undefined;
  }

  async ownerOf(callControlId: string): Promise<CallOwner | undefined> {
    const record = this.#calls.get(callControlId);
    return record ? { locked: record.locked, deploymentId: record.deploymentId } : undefined;
  }

  async lock(callControlId: string, deploymentId: string | null, facts: CallFacts, nowIso: string, reservationId?: string): Promise<LockOutcome> {
    const record = this.#calls.get(callControlId) ?? this.#create(callControlId, facts, nowIso);
    if (record.locked && record.deploymentId !== deploymentId) {
      return { ok: false, deploymentId: record.deploymentId, state: record.state };
    }
    record.deploymentId = deploymentId;
    record.locked = true;
    if (reservationId !== undefined) record.reservationId = reservationId;
    this.#calls.set(callControlId, record);
    this.#markUnsettled(record, nowIso);
    const outcome: LockOutcome = { ok: true, deploymentId, state: record.state };
    await this.#journal.flush();
    return outcome;
  }

  /** A walk over the records: asked only for a dial reservation no call of this process is known to carry. */
  async callOfReservation(reservationId: string): Promise<string | null> {
    for (const record of this.#calls.values()) if (record.locked && record.reservationId === reservationId) return record.callControlId;
    return null;
  }

  async recordEvent(callControlId: string, facts: CallFacts, event: CallEvent, nowIso: string): Promise<EventOutcome> {
    const record = this.#calls.get(callControlId) ?? this.#create(callControlId, facts, nowIso);
    insertSorted(record.timeline, timelineEntryOf(event));
    if (record.timeline.length > MAX_TIMELINE_ENTRIES) record.timeline.splice(1, 1);
    const next = stateAfter(event.event_type);
    // The state only moves forward: a late call.initiated never revives a call.
    if (next && STATE_RANK[next] > STATE_RANK[record.state]) record.state = next;
    if (event.event_type === 'call.hangup' && event.hangup_cause) record.hangupCause = event.hangup_cause;
    if (event.event_type === 'call.answered' && (record.answeredAt === null || event.occurred_at < record.answeredAt)) {
      record.answeredAt = event.occurred_at;
    }
    if (event.event_type === 'call.hangup' && record.endedAt === null) record.endedAt = event.occurred_at;
    this.#calls.set(callControlId, record);
    this.#markUnsettled(record, nowIso);
    const outcome: EventOutcome = { deploymentId: record.deploymentId, locked: record.locked, state: record.state };
    await this.#journal.flush();
    return outcome;
  }

  async patch(callControlId: string, fields: { reservationId?: string | null; billing?: CallBilling | null }): Promise<boolean> {
    const record = this.#calls.get(callControlId);
    if (!record) return false;
    if (fields.reservationId !== undefined) record.reservationId = fields.reservationId;
    if (fields.billing !== undefined) record.billing = fields.billing ? { ...fields.billing } : null;
    if (record.billing) this.#dropMark(callControlId);
    this.#calls.set(callControlId, record);
    await this.#journal.flush();
    return true;
  }

  async patchRecording(callControlId: string, fields: Partial<CallRecording>): Promise<boolean> {
    const record = this.#calls.get(callControlId);
    if (!record) return false;
    record.recording = { ...(record.recording ?? BLANK_RECORDING), ...fields };
    this.#calls.set(callControlId, record);
    await this.#journal.flush();
    return true;
  }

  async list(scope: CallListScope = {}): Promise<CallRecord[]> {
    const matches: CallRecord[] = [];
    for (const record of this.#calls.values()) {
      if (scope.deploymentId === undefined || (record.locked && record.deploymentId === scope.deploymentId)) matches.push(record);
    }
    matches.sort(newestFirst);
    const from = scope.offset ?? 0;
    return matches.slice(from, from + (scope.limit ?? matches.length)).map(cloneRecord);
  }

  async unsettled(limit: number, fromMs = 0): Promise<UnsettledCall[]> {
    const out: UnsettledCall[] = [];
    for (const [callControlId, sinceMs] of this.#unsettled) if (sinceMs >= fromMs) out.push({ callControlId, sinceMs });
    out.sort((a, b) => a.sinceMs - b.sinceMs || (a.callControlId < b.callControlId ? -1 : a.callControlId > b.callControlId ? 1 : 0));
    return out.slice(0, Math.max(0, limit));
  }

  /** Journaled (no record shows it until the hang-up comes), and on disk before it answers: the reservation is released after. */
  async markHungUp(callControlId: string, nowIso: string): Promise<void> {
    if (!markable(this.#calls.get(callControlId)) || this.#unsettled.has(callControlId)) return;
    const sinceMs = Date.parse(nowIso) || Date.now();
    this.#unsettled.set(callControlId, sinceMs);
    this.#hungUp.set(callControlId, sinceMs);
    await this.#journal.flush();
  }

  async dropUnsettled(callControlId: string): Promise<void> {
    const journaled = this.#hungUp.has(callControlId);
    this.#dropMark(callControlId);
    if (journaled) await this.#journal.flush();
  }

  /** One walk over memory (no I/O): the records are kept in first-sight order, but a clock step could break it. */
  async firstSeenBetween(fromMs: number, toMs: number, limit: number): Promise<CallRecord[]> {
    const out: CallRecord[] = [];
    for (const record of this.#calls.values()) {
      const seenMs = Date.parse(record.firstSeenAt);
      if (seenMs >= fromMs && seenMs <= toMs) out.push(record);
    }
    out.sort((a, b) => Date.parse(a.firstSeenAt) - Date.parse(b.firstSeenAt));
    return out.slice(0, Math.max(0, limit)).map(cloneRecord);
  }

  async ping(): Promise<void> {
    this.#journal.check();
  }

  async close(): Promise<void> {}

  get size(): number {
    return this.#calls.size;
  }

  #create(callControlId: string, facts: CallFacts, nowIso: string): CallRecord {
    const record: CallRecord = {
      callControlId,
      deploymentId: null,
      locked: false,
      direction: facts.direction,
      from: facts.from,
      to: facts.to,
      timeline: [],
      state: 'initiated',
      hangupCause: null,
      firstSeenAt: nowIso,
      answeredAt: null,
      endedAt: null,
      reservationId: null,
      billing: null,
      recording: null,
    };
    this.#calls.set(callControlId, record);
    this.#evict();
    return record;
  }

  /** Kept at its first time, as Redis's ZADD NX. */
  #markUnsettled(record: CallRecord, nowIso: string): void {
    if (awaitsSettlement(record) && !this.#unsettled.has(record.callControlId)) this.#unsettled.set(record.callControlId, Date.parse(nowIso) || Date.now());
  }

  /** Over the bound: forget ended calls first (oldest first), then the oldest. */
  #evict(): void {
    if (this.#calls.size <= this.#maxCalls) return;
    for (const [id, record] of this.#calls) {
      if (this.#calls.size <= this.#maxCalls) return;
      if (record.state === 'ended') this.#forget(id);
    }
    for (const id of this.#calls.keys()) {
      if (this.#calls.size <= this.#maxCalls) return;
      this.#forget(id);
    }
  }

  #forget(id: string): void {
    this.#calls.delete(id);
    this.#dropMark(id);
  }

  /** Off the index, and its journaled mark with it (a line only if there was one). */
  #dropMark(id: string): void {
    this.#unsettled.delete(id);
    this.#hungUp.delete(id);
  }
}

/** What markHungUp marks: a call owned by a deployment, not billed yet (ended or not). */
function markable(record: CallRecord | undefined): boolean {
  return record !== undefined && record.locked && record.deploymentId !== null && record.billing === null;
}

/** Ended, owned by a deployment, and no settlement written on it yet. */
function awaitsSettlement(record: CallRecord): boolean {
  return record.state === 'ended' && record.locked && record.deploymentId !== null && record.billing === null;
}

function insertSorted(timeline: TimelineEntry[], entry: TimelineEntry): void {
  const at = Date.parse(entry.occurred_at);
  let index = timeline.length;
  while (index > 0) {
    const previous = timeline[index - 1];
    if (!previous || !(Date.parse(previous.occurred_at) > at)) break;
    index -= 1;
  }
  timeline.splice(index, 0, entry);
}

function cloneRecord(record: CallRecord): CallRecord {
  return {
    ...record,
    timeline: record.timeline.map((entry) => ({ ...entry })),
    billing: record.billing ? { ...record.billing } : null,
    recording: record.recording ? { ...record.recording } : null,
  };
}
