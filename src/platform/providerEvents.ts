/**
 * What the platform takes from a verified provider event: the call's id,
 * direction and numbers, the event's type and time, and a hang-up's cause,
 * each bounded. An event without them is acknowledged and ignored.
 */
import type { CallDirection } from '../wire/telnyx.js';
import { CALL_ID_PATTERN } from './allowlists.js';
import { directionOf } from './CallRegistry.js';
import { isObject, type Json } from './httpExchange.js';

export interface CallEvent {
  callId: string;
  eventType: string;
  /** ISO 8601 UTC with milliseconds (normalised: records compare these as text), never after the event was received. */
  occurredAt: string;
  direction: CallDirection;
  from: string;
  to: string;
  hangupCause: string | undefined;
  /** A `streaming.*` event's stream (a call can have an old stream stop after its new one started). */
  streamId?: string | undefined;
}

/** The provider's form: `2018-02-02T22:25:27.521992Z`, or with an offset; nothing looser (V8's Date.parse takes "1"). */
const OCCURRED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
/** Not before this (a year 2000 answer time would bill decades from the webhooks). */
const EARLIEST_MS = Date.UTC(2020, 0, 1);

/**
 * An event's `occurred_at`, strictly parsed and normalised; a time after `nowMs` (the provider's
 * clock ahead of ours) is taken as `nowMs`. Null for anything else.
 */
export function occurredAtOf(value: unknown, nowMs: number): string | null {
  if (typeof value !== 'string' || !OCCURRED_AT.test(value)) return null;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || ms < EARLIEST_MS) return null;
  return new Date(Math.min(ms, nowMs)).toISOString();
}

function streamIdOf(payload: Record<string, unknown>): string | undefined {
  const id = payload['stream_id'];
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

/** The call facts of a verified event, or null when it carries none we can use. */
export function callEventOf(data: Json, nowMs: number): CallEvent | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = occurredAtOf(data['occurred_at'], nowMs);
  if (!isObject(payload) || typeof eventType !== 'string' || eventType.length > 64) return null;
  if (occurredAt === null) return null;
  const callId = payload['call_control_id'];
  const direction = payload['direction'];
  const from = payload['from'];
  const to = payload['to'];
  if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) return null;
  const dir = directionOf(direction);
  if (!dir || typeof from !== 'string' || typeof to !== 'string') return null;
  const cause = payload['hangup_cause'];
  return {
    callId,
    eventType,
    occurredAt,
    direction: dir,
    from: from.slice(0, 64),
    to: to.slice(0, 64),
    hangupCause: typeof cause === 'string' ? cause.slice(0, 64) : undefined,
    streamId: STREAM_EVENTS.has(eventType) ? streamIdOf(payload) : undefined,
  };
}

/** A verified `streaming.*` event's call id, type, time and stream (its payload names no numbers); null otherwise. */
export function streamEventOf(data: Json, nowMs: number): Pick<CallEvent, 'callId' | 'eventType' | 'occurredAt' | 'streamId'> | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = occurredAtOf(data['occurred_at'], nowMs);
  if (!isObject(payload) || typeof eventType !== 'string' || !STREAM_EVENTS.has(eventType)) return null;
  if (occurredAt === null) return null;
  const callId = payload['call_control_id'];
  if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) return null;
  return { callId, eventType, occurredAt, streamId: streamIdOf(payload) };
}

const STREAM_EVENTS: ReadonlySet<string> = new Set(['streaming.started', 'streaming.stopped', 'streaming.failed']);
