/**
 * Which of a call's facts each webhook names, as Telnyx sends them (the
 * simulator must not be kinder than the provider, or tests cannot notice a
 * receiver that relies on a field it never gets):
 * - `direction`: on `call.initiated` only;
 * - `from`/`to`: on `call.initiated`, `call.answered`, `call.hangup` and
 *   `call.dtmf.received`; not on `streaming.*` or `call.recording.saved`;
 * - `state`/`start_time`: on `call.initiated`, `call.answered` and `call.hangup`.
 * developers.telnyx.com/api-reference/callbacks/call-initiated, .../call-answered,
 * .../call-hangup, .../call-dtmf-received, .../call-streaming-started,
 * .../call-recording-saved (the SDKs' payload models say the same).
 */
import type { CallDirection, CallPayload, WebhookEventType } from '../wire/telnyx.js';

export interface CallFactsNow {
  direction: CallDirection;
  from: string;
  to: string;
  /** The provider's word for the call's state now (parked, bridging, answered, hangup). */
  state: string;
  startTime: string;
}

// call.bridged names the leg's numbers and state too (developers.telnyx.com/api-reference/callbacks/call-bridged).
const NUMBERED: ReadonlySet<WebhookEventType> = new Set(['call.initiated', 'call.answered', 'call.hangup', 'call.bridged', 'call.dtmf.received']);
const WITH_STATE: ReadonlySet<WebhookEventType> = new Set(['call.initiated', 'call.answered', 'call.hangup', 'call.bridged']);

/** The payload fields of `event` that describe the call. */
export function webhookFacts(event: WebhookEventType, call: CallFactsNow): Partial<CallPayload> {
  const facts: Partial<CallPayload> = {};
  if (event === 'call.initiated') facts.direction = call.direction;
  if (NUMBERED.has(event)) {
    facts.from = call.from;
    facts.to = call.to;
  }
  if (WITH_STATE.has(event)) {
    facts.state = call.state;
    facts.start_time = call.startTime;
  }
  return facts;
}
