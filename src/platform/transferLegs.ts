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
 *
 * The new leg is an outbound call the provider bills (FAQ-14): the transfer
 * reserves a first unit for it before the provider is asked, under
 * `dial-transfer-<command_id>`, and the mark names that reservation too, so
 * the leg's first webhook locks it to the deployment with it. From then on it
 * is topped up, capped and settled as a dial is (a `dial-` reservation, so a
 * leg whose webhooks never come is given back as an orphan dial's is).
 */
import { CALL_ID_PATTERN } from './allowlists.js';

const MARK = 'ttma-transfer-leg:';
/** Base64 of the mark, the longest call id and a reservation id, with room: anything longer is not ours. */
const MAX_STATE_CHARS = 320;
const RESERVATION_PREFIX = 'dial-transfer-';
const RESERVATION_PATTERN = /^dial-transfer-[0-9a-f-]{36}$/;

/** What the mark on a transfer's new leg names. */
export interface TransferLegMark {
  /** The call transferred. */
  callId: string;
  /** The cap reservation the transfer made for the new leg. */
  reservationId: string;
}

/** The reservation a transfer with `commandId` makes for its new leg (a `dial-` one: see above). */
export function transferReservationId(commandId: string): string {
  return `${RESERVATION_PREFIX}${commandId}`;
}

/** Whether a call record is a transfer's new leg (locked on a transfer's reservation): no gateway carries it. */
export function isTransferLeg(record: { reservationId: string | null }): boolean {
  return record.reservationId?.startsWith(RESERVATION_PREFIX) === true;
}

/** The `target_leg_client_state` of a transfer of `callControlId` (base64, as Telnyx requires). */
export function transferLegState(callControlId: string, reservationId: string): string {
  // A space: in neither a call id (CALL_ID_PATTERN) nor a reservation id.
  return Buffer.from(`${MARK}${callControlId} ${reservationId}`, 'utf8').toString('base64');
}

/** Whether `clientState` carries the platform's mark at all (well formed or not): never a gateway's to set. */
export function isTransferMark(clientState: unknown): boolean {
  return typeof clientState === 'string' && Buffer.from(clientState, 'base64').toString('utf8').startsWith(MARK);
}

/** What a leg's mark names, when its `client_state` is the platform's mark; null otherwise. */
export function transferredFrom(clientState: unknown): TransferLegMark | null {
  if (typeof clientState !== 'string' || clientState.length === 0 || clientState.length > MAX_STATE_CHARS) return null;
  const text = Buffer.from(clientState, 'base64').toString('utf8');
  if (!text.startsWith(MARK)) return null;
  const [callId, reservationId, ...rest] = text.slice(MARK.length).split(' ');
  if (rest.length > 0 || callId === undefined || reservationId === undefined) return null;
  return CALL_ID_PATTERN.test(callId) && RESERVATION_PATTERN.test(reservationId) ? { callId, reservationId } : null;
}
