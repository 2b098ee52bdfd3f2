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
 * - the deployment's records, newest first, which name those dials' calls:
 *   the newest 1,000, then further pages of 1,000 only while a live dial's
 *   call is still unnamed (a long outbound call behind many newer ones), up
 *   to the records kept.
 * Each candidate's record then decides: locked to this deployment, answered,
 * not ended. A store that cannot answer fails the whole list (the gateway
 * asks again), never a partial one presented as whole.
 */
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { ReservationCalls } from './ReservationCalls.js';

/** Records read per page to find dials' calls and answered calls (newest first). */
const SCAN_PAGE = 1_000;
/** Pages read at most: the platform keeps 50,000 records by default. */
const MAX_PAGES = 50;
/** At most this many calls in one answer; a gateway's maxCalls default is 2,000. */
export const MAX_LIVE_LISTED = 10_000;

export interface LiveCallSources {
  caps: Pick<CapEnforcer, 'liveOf'>;
  calls: Pick<CallRegistry, 'get' | 'list'>;
  reservations: Pick<ReservationCalls, 'callOf'>;
}

export async function liveCallsOf(deploymentId: string, sources: LiveCallSources): Promise<CallRecord[]> {
  const { caps, calls, reservations } = sources;
  const reserved = await caps.liveOf(deploymentId);
  const found = new Map<string, CallRecord>();
  const candidates = new Set<string>();
  /** Live dial reservations whose call this process does not know: the records name them. */
  const unnamed = new Set<string>();
  for (const reservationId of reserved) {
    const callId = reservations.callOf(reservationId) ?? (reservationId.startsWith('dial-') ? undefined : reservationId);
    if (callId !== undefined) candidates.add(callId);
    else unnamed.add(reservationId);
  }
  for (let page = 0; page < MAX_PAGES && (page === 0 || unnamed.size > 0); page++) {
    const records = await calls.list({ deploymentId, limit: SCAN_PAGE, offset: page * SCAN_PAGE });
    for (const record of records) {
      if (isLiveOf(record, deploymentId)) found.set(record.callControlId, record);
      if (record.reservationId !== null && unnamed.delete(record.reservationId)) candidates.add(record.callControlId);
    }
    if (records.length < SCAN_PAGE) break;
  }
  for (const callId of found.keys()) candidates.delete(callId);
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
