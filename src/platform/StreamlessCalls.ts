/**
 * Answered calls that no gateway carries any more: their media stream
 * stopped or failed (the provider's `streaming.stopped` / `streaming.failed`)
 * and no new stream started within the grace (default 30 s). The gateway
 * asks for new streams for 10 s after a loss, and a restarted gateway
 * process takes its calls over within seconds (docs/control.md), so past the
 * grace nobody is coming: a gateway that crashed for good, a box that lost
 * power, a tunnel that stays down. The caller would hear silence until they
 * hang up, and the call would draw minutes until then (FAQ-14). The platform
 * ends such a call through the provider itself.
 *
 * Decided from the call record, not from this process's memory: the timer
 * of the process that saw the loss only says when to look; the record's
 * timeline (shared by every platform process through the store) says whether
 * a stream started since. A stream the gateway stopped on purpose
 * (`streaming_stop` through this process) is left alone. After a platform
 * restart the timers are gone; the calls' minute top-ups look again
 * (`checkLater` from each top-up), so a streamless call is ended within a
 * minute of the grace at worst.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';

export const DEFAULT_STREAMLESS_GRACE_MS = 30_000;
/** Calls whose stream a gateway stopped on purpose, remembered (oldest forgotten first). */
const MAX_ON_PURPOSE = 10_000;

export interface StreamlessCallsOptions {
  calls: Pick<CallRegistry, 'get'>;
  provider: Pick<ProviderClient, 'hangup'>;
  logger: Logger;
  graceMs?: number;
  now?: () => number;
}

export class StreamlessCalls {
  readonly #o: StreamlessCallsOptions;
  readonly #graceMs: number;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #onPurpose = new Set<string>();
  /** Calls this process ended for want of a stream. */
  ended = 0;

  constructor(options: StreamlessCallsOptions) {
    this.#o = options;
    this.#graceMs = options.graceMs ?? DEFAULT_STREAMLESS_GRACE_MS;
  }

  /** A verified provider event about a call locked to `deploymentId` (null: unowned or not locked). */
  onEvent(eventType: string, callId: string, deploymentId: string | null): void {
    switch (eventType) {
      case 'streaming.stopped':
      case 'streaming.failed':
        if (deploymentId !== null && !this.#onPurpose.has(callId)) this.#arm(callId, this.#graceMs);
        return;
      case 'streaming.started':
        this.#disarm(callId);
        this.#onPurpose.delete(callId);
        return;
      case 'call.hangup':
        this.#disarm(callId);
        this.#onPurpose.delete(callId);
        return;
      default:
        return;
    }
  }

  /** A gateway stopped the call's stream itself (`streaming_stop`): its call is not streamless. */
  stoppedOnPurpose(callId: string): void {
    this.#disarm(callId);
    this.#onPurpose.add(callId);
    if (this.#onPurpose.size > MAX_ON_PURPOSE) this.#onPurpose.delete(this.#onPurpose.values().next().value as string);
  }

  /** Look at the call from its record now (a minute top-up: covers losses whose timer another process, or a restart, lost). */
  checkLater(callId: string): void {
    if (!this.#timers.has(callId)) void this.check(callId);
  }

  /**
   * The record decides: answered, locked, its last stream event a stop or a
   * failure older than the grace. True when this call ended the call. Never throws.
   */
  async check(callId: string): Promise<boolean> {
    this.#disarm(callId);
    if (this.#onPurpose.has(callId)) return false;
    let record: CallRecord | undefined;
    try {
      record = await this.#o.calls.get(callId);
    } catch {
      // The store is away: look again after another grace (fail safe for the caller: the call stays up).
      this.#arm(callId, this.#graceMs);
      return false;
    }
    if (!record || record.state !== 'answered' || !record.locked || record.deploymentId === null) return false;
    const last = lastStreamEvent(record);
    if (!last || last.event === 'streaming.started') return false;
    const lostAtMs = Date.parse(last.occurred_at);
    const waitedMs = this.#clock() - lostAtMs;
    if (Number.isFinite(lostAtMs) && waitedMs < this.#graceMs) {
      this.#arm(callId, this.#graceMs - waitedMs);
      return false;
    }
    const fields = { audit: true, deployment: record.deploymentId, callId, lastStreamEvent: last.event, since: last.occurred_at };
    try {
      await this.#o.provider.hangup(callId);
    } catch (err) {
      this.#o.logger.error({ ...fields, code: isTtmaError(err) ? err.code : undefined }, 'could not end a call no gateway carries: trying again after the grace');
      this.#arm(callId, this.#graceMs);
      return false;
    }
    this.ended++;
    this.#o.logger.warn(fields, `call ended by the platform: no media stream for ${Math.round(this.#graceMs / 1000)} s (no gateway carries it)`);
    return true;
  }

  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #arm(callId: string, ms: number): void {
    this.#disarm(callId);
    const timer = setTimeout(() => {
      this.#timers.delete(callId);
      void this.check(callId);
    }, Math.max(0, ms));
    timer.unref();
    this.#timers.set(callId, timer);
  }

  #disarm(callId: string): void {
    const timer = this.#timers.get(callId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(callId);
  }

  #clock(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/** The call's latest stream event (the timeline is sorted by occurred_at). */
function lastStreamEvent(record: CallRecord): { event: string; occurred_at: string } | undefined {
  for (let i = record.timeline.length - 1; i >= 0; i--) {
    const entry = record.timeline[i]!;
    if (entry.event.startsWith('streaming.')) return entry;
  }
  return undefined;
}
