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
  occurredAt: string;
  direction: CallDirection;
  from: string;
  to: string;
  hangupCause: string | undefined;
}

/** The call facts of a verified event, or null when it carries none we can use. */
export function callEventOf(data: Json): CallEvent | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = data['occurred_at'];
  if (!isObject(payload) || typeof eventType !== 'string' || eventType.length > 64) return null;
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) return null;
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
  };
}

/** A verified `streaming.*` event's call id, type and time (its payload names no numbers); null otherwise. */
export function streamEventOf(data: Json): Pick<CallEvent, 'callId' | 'eventType' | 'occurredAt'> | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = data['occurred_at'];
  if (!isObject(payload) || typeof eventType !== 'string' || !STREAM_EVENTS.has(eventType)) return null;
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt))) return null;
  const callId = payload['call_control_id'];
  if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) return null;
  return { callId, eventType, occurredAt };
}

const STREAM_EVENTS: ReadonlySet<string> = new Set(['streaming.started', 'streaming.stopped', 'streaming.failed']);
