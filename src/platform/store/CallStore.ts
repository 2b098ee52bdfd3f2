/**
 * Call records (FAQ-13, the dashboard's history): what a store must do,
 * whatever holds them. Two implementations keep this contract:
 * MemoryCallStore (in-process, the default) and RedisCallStore (REDIS_URL);
 * test/platform/callStore.test.ts runs one behavioural suite against both.
 *
 * The one security rule: a call's owner is set once and never re-assigned,
 * even under concurrent writers (`lock` is one atomic step in either store).
 */
import type { CallDirection } from '../../wire/telnyx.js';
import type { StoreKind } from './CapStore.js';

export type CallState = 'initiated' | 'answered' | 'ended';

export interface TimelineEntry {
  event: string;
  occurred_at: string;
  /** The stream a `streaming.*` entry is about, when the provider names it. */
  stream_id?: string;
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
  /**
   * The call leg the provider filed the recording under: its URL expires (10
   * minutes at Telnyx), and the recordings API gives a fresh one by this id.
   */
  legId: string | null;
  /**
   * Why the call's audio is not kept although recording started: recording
   * was turned off during the call (record_stop sent, the provider's copy
   * deleted once saved). Null while the recording is kept.
   */
  discarded: string | null;
}

export const BLANK_RECORDING: Readonly<CallRecording> = Object.freeze({
  started: false, url: null, file: null, sha256: null, bytes: null, error: null, legId: null, discarded: null,
});

export interface CallFacts {
  direction: CallDirection;
  from: string;
  to: string;
}

export interface CallOwner {
  locked: boolean;
  deploymentId: string | null;
}

/** ok false: already locked to another owner, nothing changed. `deploymentId` is the owner the call is locked to. */
export interface LockOutcome {
  ok: boolean;
  deploymentId: string | null;
  state: CallState;
}

/** Where a call stands after an event was recorded. */
export interface EventOutcome extends CallOwner {
  state: CallState;
}

export interface CallEvent {
  event_type: string;
  occurred_at: string;
  hangup_cause?: string | undefined;
  stream_id?: string;
}

/** The timeline entry an event makes. */
export function timelineEntryOf(event: CallEvent): TimelineEntry {
  return { event: event.event_type, occurred_at: event.occurred_at, ...(event.stream_id !== undefined ? { stream_id: event.stream_id } : {}) };
}

/**
 * An ended call of a deployment whose settlement has not been written yet
 * (no billing on its record): the index a platform start resumes from, so a
 * settlement cut short by a stop is not lost (Settlement.ts, SettlementSweep.ts).
 */
export interface UnsettledCall {
  callControlId: string;
  /** When the store learned the call ended (its hang-up recorded, or its owner locked after it), ms. */
  sinceMs: number;
}

/** Which records to list, newest first (by first sight). */
export interface CallListScope {
  /** Only calls locked to this deployment. */
  deploymentId?: string;
  limit?: number;
  /** Skip this many of the newest first (paging). */
  offset?: number;
}

export interface CallStore {
  readonly kind: StoreKind;
  get(callControlId: string): Promise<CallRecord | undefined>;
  /** Owner of a known call; undefined when unknown. */
  ownerOf(callControlId: string): Promise<CallOwner | undefined>;
  /**
   * Locks the call to `deploymentId` (null = unowned) unless it is already
   * locked, creating the record when unknown. Re-locking to the same owner is
   * a success that changes nothing; to another owner it fails. `reservationId`
   * is set with a successful lock (the dial's cap reservation).
   */
  lock(callControlId: string, deploymentId: string | null, facts: CallFacts, nowIso: string, reservationId?: string): Promise<LockOutcome>;
  /**
   * The call a dial's reservation was locked with (`lock`'s `reservationId`); null when no
   * call was (the process placing the dial stopped before the lock: LiveCallAudit gives such
   * a reservation back).
   */
  callOfReservation(reservationId: string): Promise<string | null>;
  /** Records an event without deciding the owner (creates an unlocked record when unknown). */
  recordEvent(callControlId: string, facts: CallFacts, event: CallEvent, nowIso: string): Promise<EventOutcome>;
  /** Accounting fields of a known call; false when unknown. */
  patch(callControlId: string, fields: { reservationId?: string | null; billing?: CallBilling | null }): Promise<boolean>;
  /** Merges recording fields of a known call, field by field (concurrent patches do not lose each other's fields). */
  patchRecording(callControlId: string, fields: Partial<CallRecording>): Promise<boolean>;
  list(scope?: CallListScope): Promise<CallRecord[]>;
  /**
   * Ended calls of a deployment not settled yet, oldest first (by `sinceMs`, then id): at most
   * `limit`, from `fromMs` on (inclusive). A call joins when its hang-up is recorded while it is
   * locked to a deployment (or it is locked to one after its hang-up, or `markHungUp`) and leaves when billing is
   * patched onto its record, or by `dropUnsettled`; evicting the record drops it too.
   */
  unsettled(limit: number, fromMs?: number): Promise<UnsettledCall[]>;
  /**
   * The platform hung the call up itself (a cap, a disabled deployment): it joins the unsettled
   * index now, ended or not, so a call whose hang-up event never comes is still settled, by this
   * process or the next (Settlement then ends it from the provider's record). Only an owned, unbilled
   * call joins; kept at its first time.
   */
  markHungUp(callControlId: string, nowIso: string): Promise<void>;
  /** Takes a call off the unsettled index (nothing to settle: its record is gone, or it has no owner). */
  dropUnsettled(callControlId: string): Promise<void>;
  /**
   * Records first seen from `fromMs` to `toMs` (inclusive), oldest first, at most `limit`: the
   * history read by time (Redis: the `index` sorted set; embedded: a walk over memory). Read by the
   * unowned-dials pass only, never on a call's path.
   */
  firstSeenBetween(fromMs: number, toMs: number, limit: number): Promise<CallRecord[]>;
  /** Rejects (TTMA_ERR_STORE_UNAVAILABLE) when the store does not answer. */
  ping(): Promise<void>;
  ready?(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Bounds: a signed but chatty provider must not grow a record without end. */
export const MAX_TIMELINE_ENTRIES = 256;
/** Default retention: the newest 50 000 calls, each for at most 90 days after its last change. */
export const DEFAULT_MAX_CALLS = 50_000;
export const DEFAULT_RETENTION_DAYS = 90;

export const STATE_RANK: Record<CallState, number> = { initiated: 0, answered: 1, ended: 2 };

/** The state an event moves a call to, or null when it does not move it. */
export function stateAfter(eventType: string): CallState | null {
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

export function newestFirst(a: CallRecord, b: CallRecord): number {
  return a.firstSeenAt < b.firstSeenAt ? 1 : a.firstSeenAt > b.firstSeenAt ? -1 : 0;
}
