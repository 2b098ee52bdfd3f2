/**
 * What the platform does about minute caps beyond counting them (the
 * counting is CapEnforcer's): it tells a deployment's gateways whether its
 * new calls are refused (`cap.state`), and when a live call's top-up is
 * refused it warns each live call's gateway (`cap.reached`), waits
 * `goodbyeMs` so the agent can say goodbye, and ends the calls through the
 * provider itself, whatever the gateway does (FAQ-14). Each call's reservation
 * stays live until its hang-up is done (then released): a process killed in
 * between leaves them live, and the next refused top-up, on any process or
 * after a restart, ends them.
 * That is also why a stop (`close`) abandons the rounds' waits (the goodbye, the
 * hang-up retries) rather than sitting them out: the calls not yet hung up keep
 * their live, postponed reservations, so the next top-up a unit on (on another
 * process, or this one restarted on the same store) is refused at the cap and
 * ends them again. Sat out, they kept a stopping process alive up to ~37 s.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CapKind, CapState } from '../wire/controlChannel.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import { capError, type CapEnforcer } from './CapEnforcer.js';
import type { ControlHub } from './ControlHub.js';
import type { Deployment, DeploymentRegistry } from './DeploymentRegistry.js';
import type { ProviderClient } from './ProviderClient.js';
import type { ReservationCalls } from './ReservationCalls.js';

/** What the platform tells a gateway over its control channel. */
export interface CapNotice {
  type: 'cap.reached';
  cap: 'day' | 'month';
  call_control_id: string;
}

export interface CapActionsOptions {
  caps: CapEnforcer;
  calls: CallRegistry;
  deployments: DeploymentRegistry;
  control: ControlHub;
  provider: Pick<ProviderClient, 'hangup'>;
  reservations: ReservationCalls;
  logger: Logger;
  /** Between the warning and the hang-up. */
  goodbyeMs: number;
  /**
   * Each hang-up the provider took, before the reservation is released (HungUpCalls: settled even if
   * its hang-up event is lost). False: not marked, so the reservation is kept live (a later refusal ends it again).
   */
  onHungUp?: (deploymentId: string, callId: string) => Promise<boolean>;
  /**
   * Waits before trying again a hang-up the provider failed (its own client has retried already),
   * before the call's next refused top-up (a unit later) would try again.
   */
  hangupRetryMs?: readonly number[];
}

const HANGUP_RETRY_MS: readonly number[] = [1_000, 5_000, 30_000];
/** Records read when ending a deployment's calls (newest first): every live reservation is named without them. */
const RECORDS_SCANNED = 1_000;

export function capLimits(deployment: Deployment): { day: number; month: number } {
  return { day: deployment.caps.dayMinutes, month: deployment.caps.monthMinutes };
}

/** When a cap lifts by itself: the next UTC midnight, or the first of the next UTC month. */
function capUntil(cap: CapKind, nowMs: number): string {
  const now = new Date(nowMs);
  const until = cap === 'day'
    ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)
    : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return new Date(until).toISOString();
}

export class CapActions {
  readonly #o: CapActionsOptions;
  readonly #listeners = new Set<(deploymentId: string, notice: CapNotice) => void>();
  /** Deployments whose calls this process is ending at a cap: the other calls' refusals meanwhile are this ending's. */
  readonly #ending = new Set<string>();
  /** Aborted by close(): the rounds' waits end at once and nothing more is hung up here. */
  readonly #stop = new AbortController();

  constructor(options: CapActionsOptions) {
    this.#o = options;
  }

  /** Observers of cap notices (besides the control channel). */
  onNotice(listener: (deploymentId: string, notice: CapNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The platform stops: rounds under way are abandoned at their next wait or step (the next top-up ends their calls). */
  close(): void {
    this.#stop.abort();
  }

  /** Waits `ms`, or less if the platform stops: false then (the round is abandoned). */
  async #wait(ms: number): Promise<boolean> {
    if (ms > 0) await delay(ms, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    return !this.#stop.signal.aborted;
  }

  /** Whether the deployment's new calls are refused for a cap now. */
  async state(deploymentId: string): Promise<CapState> {
    // Store away: admission refuses anyway (fail closed); say nothing we do not know.
    return (await this.knownState(deploymentId)) ?? { capped: false };
  }

  /** The state, or null when the minutes used cannot be read now. */
  async knownState(deploymentId: string): Promise<CapState | null> {
    const deployment = await this.#o.deployments.get(deploymentId);
    if (!deployment) return { capped: false };
    let usage;
    try {
      usage = await this.#o.caps.usage(deploymentId);
    } catch {
      return null;
    }
    const cap: CapKind | null =
      usage.month >= deployment.caps.monthMinutes ? 'month' : usage.day >= deployment.caps.dayMinutes ? 'day' : null;
    if (!cap) return { capped: false };
    const limits = capLimits(deployment);
    return { capped: true, cap, until: capUntil(cap, Date.now()), message: capError({ ok: false, reason: cap, dayUsed: usage.day, monthUsed: usage.month }, limits).message };
  }

  /** Sends the deployment's connected gateways its cap state (through the control bus to those connected elsewhere). */
  async push(deploymentId: string): Promise<void> {
    const { control } = this.#o;
    // One process and no connection here: nobody to tell, so no store reads.
    if (!control.reaches(deploymentId)) return;
    control.notify(deploymentId, { type: 'cap.state', cap_state: await this.state(deploymentId) });
  }

  /** A cap was reached mid-call: tell the gateways, then end the deployment's live calls through the provider. */
  async endCalls(deploymentId: string, reason: 'day' | 'month'): Promise<void> {
    if (this.#ending.has(deploymentId)) return;
    this.#ending.add(deploymentId);
    try {
      await this.#endCalls(deploymentId, reason);
    } finally {
      this.#ending.delete(deploymentId);
    }
  }

  async #endCalls(deploymentId: string, reason: 'day' | 'month'): Promise<void> {
    const { deployments, control, logger, goodbyeMs, caps } = this.#o;
    const calls = await this.#liveCalls(deploymentId, true);
    const callIds = new Set(calls.keys());
    const deployment = await deployments.get(deploymentId);
    const message = deployment
      ? capError({ ok: false, reason, dayUsed: deployment.caps.dayMinutes, monthUsed: deployment.caps.monthMinutes }, capLimits(deployment)).message
      : 'minute cap reached';
    for (const callId of callIds) {
      for (const listener of this.#listeners) listener(deploymentId, { type: 'cap.reached', cap: reason, call_control_id: callId });
      control.notify(deploymentId, { type: 'cap.reached', cap: reason, call_control_id: callId, ending_in_ms: goodbyeMs, message });
    }
    this.push(deploymentId).catch((err: unknown) =>
      logger.error({ deployment: deploymentId, err: isTtmaError(err) ? err.code : err instanceof Error ? err.message : String(err) }, 'cap state push failed'),
    );
    // A stop during the goodbye leaves the calls to the next refused top-up (their reservations stay live).
    if (!(await this.#wait(goodbyeMs))) {
      logger.warn({ deployment: deploymentId, calls: callIds.size }, 'platform stopping: calls warned at the cap are left to the next top-up to end');
      return;
    }
    // Released once hung up (its settlement follows): until then it stays live, for whoever looks next if this process dies.
    const release = (callId: string): Promise<void> => {
      const reservation = calls.get(callId);
      return reservation ? caps.release(deploymentId, reservation) : Promise.resolve();
    };
    await this.#hangUp(deploymentId, callIds, { cap: reason, code: ErrorCodes.CAP_REACHED }, 'call ended by the platform: minute cap reached', release);
  }

  /**
   * The operator changed the deployment: where a cap is now below the minutes already used
   * (lowered to stop a runaway), its live calls end now rather than at their next top-up.
   * A cap merely reached is left to the top-ups (the minute under way is paid for).
   */
  async endIfOver(deploymentId: string): Promise<void> {
    const deployment = await this.#o.deployments.get(deploymentId);
    if (!deployment) return;
    const usage = await this.#o.caps.usage(deploymentId);
    const over = usage.month > deployment.caps.monthMinutes ? 'month' : usage.day > deployment.caps.dayMinutes ? 'day' : null;
    if (over !== null && (await this.#o.caps.liveOf(deploymentId)).length > 0) await this.endCalls(deploymentId, over);
  }

  /**
   * The operator disabled the deployment (a suspected compromise): its live calls end through the
   * provider now. Their reservations stay live until the hang-ups settle them, so a call the
   * provider would not end is still capped and audited.
   */
  async endDisabled(deploymentId: string): Promise<void> {
    const callIds = new Set((await this.#liveCalls(deploymentId, false)).keys());
    await this.#hangUp(deploymentId, callIds, { code: ErrorCodes.DEPLOYMENT_DISABLED }, 'call ended by the platform: deployment disabled');
  }

  /**
   * The calls the deployment's live reservations and its answered records name, each with its
   * reservation; `postpone`: those reservations' next top-ups wait a unit (they are being ended).
   */
  async #liveCalls(deploymentId: string, postpone: boolean): Promise<Map<string, string>> {
    const { caps, calls, reservations } = this.#o;
    const live = await caps.liveOf(deploymentId).catch(() => [] as string[]);
    const found = new Map<string, string>();
    for (const reservation of live) {
      if (postpone) await caps.postpone(deploymentId, reservation);
      const callId = reservations.callOf(reservation) ?? (await this.#callOfUnknown(reservation));
      if (callId) found.set(callId, reservation);
    }
    // Dials locked before reservation entries were written, and calls no live reservation names: the newest records.
    const records = await calls.list({ deploymentId, limit: RECORDS_SCANNED }).catch(() => [] as CallRecord[]);
    for (const record of records) {
      if (record.state !== 'ended' && record.reservationId && !found.has(record.callControlId)) found.set(record.callControlId, record.reservationId);
    }
    return found;
  }

  /**
   * A live reservation this process did not make (placed elsewhere, before a restart): an answer
   * reserves under the call's own id (its record's copy of it may be lost: signallingRoutes.ts),
   * a dial under `dial-…`, named by the store's reservation entry. Undefined when unknown.
   */
  async #callOfUnknown(reservation: string): Promise<string | undefined> {
    if (!reservation.startsWith('dial-')) return reservation;
    const callId = await this.#o.calls.callOfReservation(reservation).catch(() => null);
    if (callId === null) return undefined;
    this.#o.reservations.set(reservation, callId);
    return callId;
  }

  /**
   * Hangs each call up; one the provider fails is tried again after each of `hangupRetryMs`, unless
   * it has ended meanwhile. `release` follows each hang-up the provider took, after `onHungUp`.
   */
  async #hangUp(deploymentId: string, callIds: Set<string>, fields: Record<string, string>, message: string, release?: (callId: string) => Promise<void>): Promise<void> {
    const { provider, calls, logger } = this.#o;
    const waits = this.#o.hangupRetryMs ?? HANGUP_RETRY_MS;
    await Promise.all(
      [...callIds].map(async (callId) => {
        for (let attempt = 0; !this.#stop.signal.aborted; attempt++) {
          try {
            await provider.hangup(callId);
            logger.warn({ audit: true, deployment: deploymentId, callId, ...fields }, message);
            // Marked for settlement first: a process killed between the two, or a mark the store did not
            // take, leaves it live or marked, never neither.
            if ((await this.#o.onHungUp?.(deploymentId, callId)) !== false) await release?.(callId);
            return;
          } catch (err) {
            const wait = waits[attempt];
            logger.error(
              { deployment: deploymentId, callId, err: isTtmaError(err) ? err.code : 'error', retryInMs: wait ?? null },
              wait === undefined ? `could not end a call, giving up: ${message}` : `could not end a call, trying again: ${message}`,
            );
            if (wait === undefined || !(await this.#wait(wait))) return;
            const record = await calls.get(callId).catch(() => undefined);
            if (record?.state === 'ended') return;
          }
        }
      }),
    );
  }
}
