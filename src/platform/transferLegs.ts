/**
 * A transfer's new leg, told apart from a dial nobody owns (UnownedDials).
 *
 * Telnyx's "Transfer call" dials the destination as a leg of its own: its own
 * call_control_id, a `call.initiated` with direction `outgoing`, the session
 * id of the call transferred. Nothing locks that leg to a deployment, so
 * without a mark it looked exactly like a dial whose process died before its
 * lock, and was hung up once the dial grace was past: every transfer cut
 * about 19 s in. The platform sends `target_leg_client_state` with each
 * transfer, which Telnyx puts on every webhook of the new leg
 * (developers.telnyx.com/api-reference/call-commands/transfer-call: "Use this
 * field to add state to every subsequent webhook for the new leg"). The
 * gateway never sees that leg's webhooks (only a locked call's are relayed),
 * so the mark is the platform's own. It names the call transferred, and is
 * honoured only while that call is locked to a deployment.
 */
import { CALL_ID_PATTERN } from './allowlists.js';

const MARK = 'ttma-transfer-leg:';
/** Base64 of the mark and the longest call id, with room: anything longer is not ours. */
const MAX_STATE_CHARS = 256;

/** The `target_leg_client_state` of a transfer of `callControlId` (base64, as Telnyx requires). */
export function transferLegState(callControlId: string): string {
  return Buffer.from(`${MARK}${callControlId}`, 'utf8').toString('base64');
}

/** The call a leg was transferred from, when its `client_state` is the platform's mark; null otherwise. */
export function transferredFrom(clientState: unknown): string | null {
  if (typeof clientState !== 'string' || clientState.length === 0 || clientState.length > MAX_STATE_CHARS) return null;
  const text = Buffer.from(clientState, 'base64').toString('utf8');
  if (!text.startsWith(MARK)) return null;
  const callId = text.slice(MARK.length);
  return CALL_ID_PATTERN.test(callId) ? callId : null;
}
