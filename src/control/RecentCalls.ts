/**
 * The gateway's own record of its recent calls, for `ttma calls` and the
 * local dashboard: live ones (kept by the ControlActor with each call), then
 * ended and refused ones, the last MAX_RECORDS. Metadata only, as the
 * gateway saw it; the platform's records carry the provider's figures.
 */

/** One call as the gateway saw it (`ttma calls`); times are ISO strings (UTC). */
export interface GatewayCallRecord {
  call_control_id: string;
  direction: 'incoming' | 'outgoing';
  from: string;
  to: string;
  state: 'live' | 'ended' | 'refused';
  started_at: string;
  answered_at: string | null;
  ended_at: string | null;
  /** Answer to end as the gateway measured it (what it reports to the platform). */
  duration_ms: number | null;
  end_reason: string | null;
  /** New media streams asked for after the socket was lost or a stream did not connect (docs/control.md). */
  stream_restarts: number;
  /** Taken over from an earlier gateway process (a crash, or onStop handover; docs/control.md). */
  taken_over: boolean;
}

const MAX_RECORDS = 1_000;
/** End reasons are free text from many places: bounded in the record. */
const MAX_REASON = 200;

export class RecentCalls {
  /** Ended and refused calls, oldest first. */
  readonly #done: GatewayCallRecord[] = [];

  /** The record of a call starting now. */
  static open(callId: string, direction: 'incoming' | 'outgoing', from: string, to: string): GatewayCallRecord {
    return { call_control_id: callId, direction, from, to, state: 'live', started_at: new Date().toISOString(), answered_at: null, ended_at: null, duration_ms: null, end_reason: null, stream_restarts: 0, taken_over: false };
  }

  /** A call refused at admission. */
  refused(callId: string, direction: 'incoming' | 'outgoing', from: string, to: string, reason: string): void {
    this.#keep({ ...RecentCalls.open(callId, direction, from, to), state: 'refused', ended_at: new Date().toISOString(), end_reason: reason.slice(0, MAX_REASON) });
  }

  /** A live call's record, closed and kept. */
  ended(record: GatewayCallRecord, durationMs: number, reason: string): void {
    Object.assign(record, { state: 'ended', ended_at: new Date().toISOString(), duration_ms: durationMs, end_reason: reason.slice(0, MAX_REASON) });
    this.#keep(record);
  }

  /** The most recent calls, newest first, `live` ones included; copies. */
  recent(live: Iterable<GatewayCallRecord>, limit: number): GatewayCallRecord[] {
    const all = [...[...live].map((r) => ({ ...r })), ...this.#done.map((r) => ({ ...r }))];
    all.sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0));
    return all.slice(0, Math.max(0, limit));
  }

  #keep(record: GatewayCallRecord): void {
    this.#done.push(record);
    if (this.#done.length > MAX_RECORDS) this.#done.shift();
  }
}
