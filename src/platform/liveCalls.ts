/**
 * A deployment's answered calls that have not ended: what a gateway process
 * that starts (after a crash, or a restart with `onStop: handover`) takes
 * over, asking each for a new media stream (docs/control.md, "A gateway
 * restart"). And its inbound calls still ringing, first seen within the last
 * RINGING_LISTED_WITHIN_MS: a call that arrived while no gateway was up (the
 * provider gave up delivering its `call.initiated` to the gateway; the
 * platform, first in the list, has it) is answered by the next one.
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
import { RINGING_LISTED_WITHIN_MS } from '../wire/platformApi.js';

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

export async function liveCallsOf(deploymentId: string, sources: LiveCallSources, nowMs = Date.now()): Promise<CallRecord[]> {
  const { caps, calls, reservations } = sources;
  const ringingSince = nowMs - RINGING_LISTED_WITHIN_MS;
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
  // Records come newest first: ringing calls are all on the pages whose oldest record is in the window.
  let ringingOnNextPage = true;
  for (let page = 0; page < MAX_PAGES && (ringingOnNextPage || unnamed.size > 0); page++) {
    const records = await calls.list({ deploymentId, limit: SCAN_PAGE, offset: page * SCAN_PAGE });
    for (const record of records) {
      if (isLiveOf(record, deploymentId) || isRingingOf(record, deploymentId, ringingSince)) found.set(record.callControlId, record);
      if (record.reservationId !== null && unnamed.delete(record.reservationId)) candidates.add(record.callControlId);
    }
    if (records.length < SCAN_PAGE) break;
    ringingOnNextPage = firstSeenMs(records[records.length - 1]!) >= ringingSince;
  }
  for (const callId of found.keys()) candidates.delete(callId);
  for (const callId of candidates) {
    if (found.size >= MAX_LIVE_LISTED) break;
    const record = await calls.get(callId);
    if (record && isLiveOf(record, deploymentId)) found.set(callId, record);
  }
  // Answered calls first, oldest answer first; then ringing calls, the longest waiting first.
  return [...found.values()].sort((a, b) => (a.answeredAt ?? '\uffff').localeCompare(b.answeredAt ?? '\uffff') || a.firstSeenAt.localeCompare(b.firstSeenAt)).slice(0, MAX_LIVE_LISTED);
}

function isLiveOf(record: CallRecord, deploymentId: string): boolean {
  return record.locked && record.deploymentId === deploymentId && record.state === 'answered';
}

function isRingingOf(record: CallRecord, deploymentId: string, sinceMs: number): boolean {
  return (
    record.locked && record.deploymentId === deploymentId && record.state === 'initiated' && record.direction === 'incoming' && firstSeenMs(record) >= sinceMs
  );
}

/** An unreadable time reads as long ago: such a record is never taken for a ringing call. */
function firstSeenMs(record: CallRecord): number {
  const ms = Date.parse(record.firstSeenAt);
  return Number.isFinite(ms) ? ms : 0;
}
