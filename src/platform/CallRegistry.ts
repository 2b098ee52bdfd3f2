/**
 * Call records: which deployment a call belongs to, and what the provider
 * said happened to it (FAQ-13).
 *
 * A call is locked to one deployment at first sight and never re-assigned:
 * an inbound call by the number that was dialled (`to`), an outbound call by
 * the deployment that dialled it. An inbound call to a number nobody owns is
 * locked as unowned (null), so no deployment can ever take it over.
 *
 * Outbound calls are the one case where the provider's webhook can arrive
 * before our own dial request has returned; such a record stays unlocked
 * until the dial result locks it. Only the platform's own dial path locks an
 * outgoing call, so a gateway cannot claim one.
 */
import type { CallDirection } from '../wire/telnyx.js';

export type CallState = 'initiated' | 'answered' | 'ended';

export interface TimelineEntry {
  event: string;
  occurred_at: string;
}

export interface CallRecord {
  callControlId: string;
  /** null: unowned (inbound to a number no deployment owns), or not locked yet. */
  deploymentId: string | null;
  /** True once the owner is decided (an owner or definitively unowned). */
  locked: boolean;
  direction: CallDirection;
  from: string;
  to: string;
  /** Sorted by occurred_at (events may arrive late or out of order). */
  timeline: TimelineEntry[];
  state: CallState;
  hangupCause: string | null;
  firstSeenAt: string;
  /** From the provider's events (occurred_at); the CDR's figures win at settlement. */
  answeredAt: string | null;
  endedAt: string | null;
  /** The cap reservation this call draws on (the call id, or the dial's own id). */
  reservationId: string | null;
  /** Settled from the provider's figure; null until the call ended and settled. */
  billing: CallBilling | null;
  /** Present when recording is on for the call's deployment. */
  recording: CallRecording | null;
}

export interface CallBilling {
  /** Where the duration came from: the provider's record, or its webhooks when the record was unavailable. */
  source: 'cdr' | 'webhooks';
  durationMs: number;
  billedMinutes: number;
  costMicroUsd: number;
}

export interface CallRecording {
  /** record_start accepted by the provider. */
  started: boolean;
  url: string | null;
  /** Where the MP3 is stored, relative to the recordings directory. */
  file: string | null;
  sha256: string | null;
  bytes: number | null;
  error: string | null;
}

export interface CallFacts {
  direction: CallDirection;
  from: string;
  to: string;
}

export type LockOutcome =
  | { ok: true; record: CallRecord }
  /** Already locked to another owner: never re-assigned. */
  | { ok: false; record: CallRecord };

/** DESIGN 3a says incoming|outgoing; Telnyx docs also write inbound|outbound. */
export function directionOf(value: unknown): CallDirection | null {
  if (value === 'incoming' || value === 'inbound') return 'incoming';
  if (value === 'outgoing' || value === 'outbound') return 'outgoing';
  return null;
}

const STATE_RANK: Record<CallState, number> = { initiated: 0, answered: 1, ended: 2 };
/** Bounds: a signed but chatty provider must not grow memory without end. */
const MAX_TIMELINE_ENTRIES = 256;
const DEFAULT_MAX_CALLS = 50_000;

export class CallRegistry {
  readonly #calls = new Map<string, CallRecord>();
  readonly #maxCalls: number;

  constructor(options: { maxCalls?: number } = {}) {
    this.#maxCalls = options.maxCalls ?? DEFAULT_MAX_CALLS;
  }

  get(callControlId: string): CallRecord | undefined {
    const record = this.#calls.get(callControlId);
    return record ? cloneRecord(record) : undefined;
  }

  /** Owner of a locked call; undefined when unknown or not locked yet. */
  ownerOf(callControlId: string): { locked: boolean; deploymentId: string | null } | undefined {
    const record = this.#calls.get(callControlId);
    return record ? { locked: record.locked, deploymentId: record.deploymentId } : undefined;
  }

  /**
   * Locks the call to `deploymentId` (null = unowned) unless it is already
   * locked. Re-locking to the same owner is a no-op success; to another owner
   * it fails and changes nothing.
   */
  lock(callControlId: string, deploymentId: string | null, facts: CallFacts, nowIso = new Date().toISOString()): LockOutcome {
    const existing = this.#calls.get(callControlId);
    if (existing) {
      if (existing.locked) {
        return { ok: existing.deploymentId === deploymentId, record: cloneRecord(existing) };
      }
      existing.deploymentId = deploymentId;
      existing.locked = true;
      return { ok: true, record: cloneRecord(existing) };
    }
    const record = this.#create(callControlId, facts, nowIso);
    record.deploymentId = deploymentId;
    record.locked = true;
    return { ok: true, record: cloneRecord(record) };
  }

  /** Records an event without deciding the owner (creates an unlocked record when unknown). */
  recordEvent(
    callControlId: string,
    facts: CallFacts,
    event: { event_type: string; occurred_at: string; hangup_cause?: string | undefined },
    nowIso = new Date().toISOString(),
  ): CallRecord {
    const record = this.#calls.get(callControlId) ?? this.#create(callControlId, facts, nowIso);
    insertSorted(record.timeline, { event: event.event_type, occurred_at: event.occurred_at });
    if (record.timeline.length > MAX_TIMELINE_ENTRIES) record.timeline.splice(1, 1);
    const next = stateAfter(event.event_type);
    // The state only moves forward: a late call.initiated never revives a call.
    if (next && STATE_RANK[next] > STATE_RANK[record.state]) record.state = next;
    if (event.event_type === 'call.hangup' && event.hangup_cause) record.hangupCause = event.hangup_cause;
    if (event.event_type === 'call.answered' && (record.answeredAt === null || event.occurred_at < record.answeredAt)) {
      record.answeredAt = event.occurred_at;
    }
    if (event.event_type === 'call.hangup' && record.endedAt === null) record.endedAt = event.occurred_at;
    return cloneRecord(record);
  }

  list(): CallRecord[] {
    return [...this.#calls.values()].map(cloneRecord);
  }

  /** Changes the fields of a known call that belong to accounting and recording. */
  patch(callControlId: string, fields: Partial<Pick<CallRecord, 'reservationId' | 'billing' | 'recording'>>): boolean {
    const record = this.#calls.get(callControlId);
    if (!record) return false;
    Object.assign(record, fields);
    return true;
  }

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

  /** Over the bound: forget ended calls first (oldest first), then the oldest. */
  #evict(): void {
    if (this.#calls.size <= this.#maxCalls) return;
    for (const [id, record] of this.#calls) {
      if (this.#calls.size <= this.#maxCalls) return;
      if (record.state === 'ended') this.#calls.delete(id);
    }
    for (const id of this.#calls.keys()) {
      if (this.#calls.size <= this.#maxCalls) return;
      this.#calls.delete(id);
    }
  }
}

function stateAfter(eventType: string): CallState | null {
  switch (eventType) {
    case 'call.initiated':
      return 'initiated';
    case 'call.answered':
    case 'streaming.started':
      return 'answered';
    case 'call.hangup':
      return 'ended';
    default:
      return null;
  }
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
