/**
 * What the platform takes from a verified provider event: the call's id, the
 * event's type and time, a hang-up's cause and a stream's id, each bounded;
 * and the call's direction and numbers when the payload names them. An event
 * without an id, a type or a time it can use is acknowledged and ignored.
 *
 * Telnyx names the direction on `call.initiated` only: `call.answered`,
 * `call.hangup` and `call.dtmf.received` carry `from`/`to` but no direction,
 * and `streaming.*` and `call.recording.saved` carry neither
 * (developers.telnyx.com/api-reference/callbacks/call-initiated,
 * .../call-hangup, .../call-recording-saved, .../call-streaming-failed).
 * So a call's facts come from its `call.initiated` (or the platform's own
 * dial), and its later events take them from its record (ProviderWebhooks).
 */
import type { CallDirection } from '../wire/telnyx.js';
import { CALL_ID_PATTERN } from './allowlists.js';
import { directionOf, type CallFacts } from './CallRegistry.js';
import { isObject, type Json } from './httpExchange.js';
import { transferredFrom, type TransferLegMark } from './transferLegs.js';

/** The event that introduces a call, and the one that must name its direction and numbers. */
export const CALL_INITIATED = 'call.initiated';

/** A verified event as read: the facts only when its payload names all three. */
export interface ProviderEvent {
  callId: string;
  eventType: string;
  /** ISO 8601 UTC with milliseconds (normalised: records compare these as text), never after the event was received. */
  occurredAt: string;
  hangupCause: string | undefined;
  /** A `streaming.*` event's stream (a call can have an old stream stop after its new one started). */
  streamId?: string | undefined;
  /** Direction and numbers as the payload names them; null when it does not name all three. */
  carried: CallFacts | null;
  /** The call this leg was transferred from, when its client_state is the platform's transfer mark (transferLegs.ts). */
  transferredFrom?: TransferLegMark | undefined;
}

/** A verified event with the call's facts (from its payload or its record). */
export interface CallEvent extends Omit<ProviderEvent, 'carried'> {
  direction: CallDirection;
  from: string;
  to: string;
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

function carriedFactsOf(payload: Record<string, unknown>): CallFacts | null {
  const direction = directionOf(payload['direction']);
  const from = payload['from'];
  const to = payload['to'];
  if (!direction || typeof from !== 'string' || typeof to !== 'string') return null;
  return { direction, from: from.slice(0, 64), to: to.slice(0, 64) };
}

/** The call event of a verified webhook, or null when it carries no call id, type or time we can use. */
export function callEventOf(data: Json, nowMs: number): ProviderEvent | null {
  const payload = data['payload'];
  const eventType = data['event_type'];
  const occurredAt = occurredAtOf(data['occurred_at'], nowMs);
  if (!isObject(payload) || typeof eventType !== 'string' || eventType.length > 64) return null;
  if (occurredAt === null) return null;
  const callId = payload['call_control_id'];
  if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) return null;
  const cause = payload['hangup_cause'];
  return {
    callId,
    eventType,
    occurredAt,
    hangupCause: typeof cause === 'string' ? cause.slice(0, 64) : undefined,
    streamId: STREAM_EVENTS.has(eventType) ? streamIdOf(payload) : undefined,
    carried: carriedFactsOf(payload),
    transferredFrom: transferredFrom(payload['client_state']) ?? undefined,
  };
}

const STREAM_EVENTS: ReadonlySet<string> = new Set(['streaming.started', 'streaming.stopped', 'streaming.failed']);
