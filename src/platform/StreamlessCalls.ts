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
 * a stream is still up: streams are told apart by the provider's `stream_id`,
 * so an old stream's stop reported after its replacement started does not
 * count. A stream the gateway stopped on purpose (`streaming_stop`) is left
 * alone: that goes on the timeline too (`streaming.stop_requested`, the
 * platform's clock), so another process, or this one after a restart, knows
 * it. After a platform
 * restart the timers are gone; the calls' minute top-ups look again
 * (`checkLater` from each top-up), so a streamless call is ended within a
 * minute of the grace at worst.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';

export const DEFAULT_STREAMLESS_GRACE_MS = 30_000;
/** The timeline entry of a stream a gateway stopped on purpose through the platform. */
export const STOP_REQUESTED = 'streaming.stop_requested';

export interface StreamlessCallsOptions {
  calls: Pick<CallRegistry, 'get' | 'recordEvent'>;
  provider: Pick<ProviderClient, 'hangup'>;
  logger: Logger;
  graceMs?: number;
  now?: () => number;
}

export class StreamlessCalls {
  readonly #o: StreamlessCallsOptions;
  readonly #graceMs: number;
  readonly #timers = new Map<string, NodeJS.Timeout>();
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
        // The record decides when the timer fires (another stream may be up, or the stop was asked for).
        if (deploymentId !== null) this.#arm(callId, this.#graceMs);
        return;
      case 'call.hangup':
        this.#disarm(callId);
        return;
      default:
        return;
    }
  }

  /**
   * A gateway stopped the call's stream itself (`streaming_stop`): its call is not streamless
   * until a stream starts again. Written to the call's timeline, where every process looks.
   */
  async stoppedOnPurpose(callId: string): Promise<void> {
    this.#disarm(callId);
    try {
      const record = await this.#o.calls.get(callId);
      if (!record) return;
      await this.#o.calls.recordEvent(callId, { direction: record.direction, from: record.from, to: record.to }, {
        event_type: STOP_REQUESTED,
        occurred_at: new Date(this.#clock()).toISOString(),
      });
    } catch (err) {
      // The stop happened; only its mark is missing: the call may be ended as streamless after the grace.
      this.#o.logger.error({ callId, code: isTtmaError(err) ? err.code : undefined }, 'stream stopped on purpose, but not marked so on the call record');
    }
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
    let record: CallRecord | undefined;
    try {
      record = await this.#o.calls.get(callId);
    } catch {
      // The store is away: look again after another grace (fail safe for the caller: the call stays up).
      this.#arm(callId, this.#graceMs);
      return false;
    }
    if (!record || record.state !== 'answered' || !record.locked || record.deploymentId === null) return false;
    const last = streamLoss(record);
    if (!last) return false;
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

/** A transfer's bridge: the call is carried by its new leg from then on, not by a stream. */
const CALL_BRIDGED = 'call.bridged';

/** A stream the provider did not name (older payloads): a stop without a name ends every stream. */
const UNNAMED = '';

/**
 * When the call lost its last stream: the stop or failure after which none is up, from its
 * timeline (sorted by occurred_at). Undefined while a stream is up, when a gateway asked for the
 * stop, when a transfer bridged it to a new leg since, or when it never streamed.
 */
export function streamLoss(record: Pick<CallRecord, 'timeline'>): { event: string; occurred_at: string } | undefined {
  const up = new Set<string>();
  let loss: { event: string; occurred_at: string } | undefined;
  let onPurpose = false;
  for (const entry of record.timeline) {
    if (entry.event === 'streaming.started') {
      up.add(entry.stream_id ?? UNNAMED);
      onPurpose = false;
    } else if (entry.event === 'streaming.stopped' || entry.event === 'streaming.failed') {
      // Unnamed, or naming a stream never seen start: it ends what is up unnamed (fail toward ending).
      if (entry.stream_id === undefined) up.clear();
      else if (!up.delete(entry.stream_id)) up.delete(UNNAMED);
      loss = entry;
    } else if (entry.event === STOP_REQUESTED || entry.event === CALL_BRIDGED) {
      // Bridged by a transfer: the caller talks to the new leg, not a gateway (transferLegs.ts).
      onPurpose = true;
    }
  }
  return up.size === 0 && !onPurpose ? loss : undefined;
}
