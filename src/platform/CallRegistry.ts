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
 *
 * The records live in a CallStore: in process (MemoryCallStore, the default)
 * or in Redis (RedisCallStore), where they survive a platform restart.
 */
import type { CallDirection } from '../wire/telnyx.js';
import { MemoryCallStore } from './store/MemoryCallStore.js';
import type {
  CallBilling,
  CallEvent,
  CallFacts,
  CallListScope,
  CallOwner,
  CallRecord,
  CallRecording,
  CallStore,
  EventOutcome,
  LockOutcome,
} from './store/CallStore.js';

export type {
  CallBilling,
  CallFacts,
  CallRecord,
  CallRecording,
  CallState,
  LockOutcome,
  TimelineEntry,
} from './store/CallStore.js';

/** DESIGN 3a says incoming|outgoing; Telnyx docs also write inbound|outbound. */
export function directionOf(value: unknown): CallDirection | null {
  if (value === 'incoming' || value === 'inbound') return 'incoming';
  if (value === 'outgoing' || value === 'outbound') return 'outgoing';
  return null;
}

/** How often a wait for a record looks at the store (a record another process wrote wakes no one here). */
const ARRIVAL_POLL_MS = 50;

export class CallRegistry {
  readonly store: CallStore;
  /** Waits for a call's record, woken when this process writes one. */
  readonly #arrivals = new Map<string, Set<() => void>>();

  constructor(options: { store?: CallStore; maxCalls?: number } = {}) {
    this.store = options.store ?? new MemoryCallStore(options.maxCalls !== undefined ? { maxCalls: options.maxCalls } : {});
  }

  get(callControlId: string): Promise<CallRecord | undefined> {
    return this.store.get(callControlId);
  }

  /** Owner of a known call (locked or not yet); undefined when unknown. */
  ownerOf(callControlId: string): Promise<CallOwner | undefined> {
    return this.store.ownerOf(callControlId);
  }

  /** The call a dial's reservation was locked with; null when none was. */
  callOfReservation(reservationId: string): Promise<string | null> {
    return this.store.callOfReservation(reservationId);
  }

  /**
   * Locks the call to `deploymentId` (null = unowned) unless it is already
   * locked. Re-locking to the same owner is a no-op success; to another owner
   * it fails and changes nothing.
   */
  async lock(callControlId: string, deploymentId: string | null, facts: CallFacts, options: { nowIso?: string; reservationId?: string } = {}): Promise<LockOutcome> {
    const outcome = await this.store.lock(callControlId, deploymentId, facts, options.nowIso ?? new Date().toISOString(), options.reservationId);
    this.#wake(callControlId);
    return outcome;
  }

  /** Records an event without deciding the owner (creates an unlocked record when unknown). */
  async recordEvent(callControlId: string, facts: CallFacts, event: CallEvent, nowIso = new Date().toISOString()): Promise<EventOutcome> {
    const outcome = await this.store.recordEvent(callControlId, facts, event, nowIso);
    this.#wake(callControlId);
    return outcome;
  }

  /**
   * The call's record, waiting up to `timeoutMs` for it to appear: the
   * provider tells the gateway and the platform of a call at the same time,
   * and delivers its events in no set order, so a request or an event about a
   * call can come before the platform has recorded its `call.initiated`.
   * Undefined when it has not appeared by then.
   */
  async waitForRecord(callControlId: string, timeoutMs: number): Promise<CallRecord | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const record = await this.store.get(callControlId);
      const leftMs = deadline - performance.now();
      if (record || leftMs <= 0) return record;
      await this.#written(callControlId, Math.min(ARRIVAL_POLL_MS, leftMs));
    }
  }

  /** Newest first; `deploymentId` narrows to the calls locked to it. */
  list(scope?: CallListScope): Promise<CallRecord[]> {
    return this.store.list(scope);
  }

  /** Changes the fields of a known call that belong to accounting. */
  patch(callControlId: string, fields: { reservationId?: string | null; billing?: CallBilling | null }): Promise<boolean> {
    return this.store.patch(callControlId, fields);
  }

  /** Merges recording fields (started, url, file...) of a known call. */
  patchRecording(callControlId: string, fields: Partial<CallRecording>): Promise<boolean> {
    return this.store.patchRecording(callControlId, fields);
  }

  /** Resolves when this process next writes the call's record, or after `ms`. */
  #written(callControlId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#arrivals.get(callControlId);
      if (!waiters) this.#arrivals.set(callControlId, (waiters = new Set()));
      const set = waiters;
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#arrivals.get(callControlId) === set) this.#arrivals.delete(callControlId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  #wake(callControlId: string): void {
    const waiters = this.#arrivals.get(callControlId);
    if (waiters) for (const done of [...waiters]) done();
  }
}
