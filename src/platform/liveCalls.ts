/**
 * A deployment's answered calls that have not ended: what a gateway process
 * that starts (after a crash, or a restart with `onStop: handover`) takes
 * over, asking each for a new media stream (docs/control.md, "A gateway
 * restart").
 *
 * Two sources, because neither alone is complete:
 * - the deployment's live cap reservations: every answered call draws on
 *   one until it settles, however old the call is. An answered call
 *   reserves under its own id; a dial under `dial-…`, which this process
 *   may not know (placed by another process, or before a restart);
 * - the deployment's newest records, which name those dials' calls.
 * Each candidate's record then decides: locked to this deployment, answered,
 * not ended. A store that cannot answer fails the whole list (the gateway
 * asks again), never a partial one presented as whole.
 */
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { ReservationCalls } from './ReservationCalls.js';

/** Records read to find dials' calls and answered calls (newest first). */
const SCAN_LIMIT = 1_000;
/** At most this many calls in one answer; a gateway's maxCalls default is 2,000. */
export const MAX_LIVE_LISTED = 10_000;

export interface LiveCallSources {
  caps: Pick<CapEnforcer, 'liveOf'>;
  calls: Pick<CallRegistry, 'get' | 'list'>;
  reservations: Pick<ReservationCalls, 'callOf'>;
}

export async function liveCallsOf(deploymentId: string, sources: LiveCallSources): Promise<CallRecord[]> {
  const { caps, calls, reservations } = sources;
  const [reserved, newest] = await Promise.all([caps.liveOf(deploymentId), calls.list({ deploymentId, limit: SCAN_LIMIT })]);
  const byReservation = new Map<string, string>();
  for (const record of newest) if (record.reservationId) byReservation.set(record.reservationId, record.callControlId);
  const found = new Map<string, CallRecord>();
  const candidates = new Set<string>();
  for (const record of newest) if (isLiveOf(record, deploymentId)) found.set(record.callControlId, record);
  for (const reservationId of reserved) {
    const callId = reservations.callOf(reservationId) ?? byReservation.get(reservationId) ?? (reservationId.startsWith('dial-') ? undefined : reservationId);
    if (callId !== undefined && !found.has(callId)) candidates.add(callId);
  }
  for (const callId of candidates) {
    if (found.size >= MAX_LIVE_LISTED) break;
    const record = await calls.get(callId);
    if (record && isLiveOf(record, deploymentId)) found.set(callId, record);
  }
  return [...found.values()].sort((a, b) => (a.answeredAt ?? '').localeCompare(b.answeredAt ?? '')).slice(0, MAX_LIVE_LISTED);
}

function isLiveOf(record: CallRecord, deploymentId: string): boolean {
  return record.locked && record.deploymentId === deploymentId && record.state === 'answered';
}
