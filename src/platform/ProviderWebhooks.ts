/**
 * The provider's signed webhooks to the platform (FAQ-05 and FAQ-06 on this
 * side): verified before parsing (Ed25519 over timestamp|body, 300 s window,
 * the same code as the gateway's), each event id taken once, then each call's
 * timeline recorded, an inbound call locked by the number dialled (FAQ-13),
 * and what the event sets in motion: settlement, recording, the watch for
 * calls no gateway carries. Nothing unverified is recorded or acted on.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../wire/telnyx.js';
import { notBeforeSecOf, verifyWebhookSignature } from '../wire/webhookSignature.js';
import { WallClockStep } from '../wire/wallClockStep.js';
import type { CallRecordings } from './CallRecordings.js';
import type { CallRegistry } from './CallRegistry.js';
import type { DeploymentRegistry } from './DeploymentRegistry.js';
import { isObject, parseJsonObject, readBody, sendJson, singleHeader, type Json } from './httpExchange.js';
import { CALL_INITIATED, callEventOf, type CallEvent, type ProviderEvent } from './providerEvents.js';
import type { ReservationCalls } from './ReservationCalls.js';
import type { Settlement } from './Settlement.js';
import type { StreamlessCalls } from './StreamlessCalls.js';
import type { TransferLegMark } from './transferLegs.js';
import type { UnownedDials } from './UnownedDials.js';
import type { ReplayStore } from './store/ReplayStore.js';

const WEBHOOK_ID_MAX = 256;

/** What the request's audit line names (filled in as the event is read). */
export interface WebhookContext {
  deploymentId?: string;
  callId?: string;
}

export interface ProviderWebhooksOptions {
  /** Null: every webhook is refused with 503 (fail closed, FAQ-05). */
  publicKey: KeyObject | null;
  bodyTimeoutMs: number;
  now: () => number;
  replay: ReplayStore;
  /**
   * Set when `replay` forgets at a restart (the embedded store): signatures made before then are
   * refused (503). Kept in the frame of the wall clock as it is now (WallClockStep): a clock stepped
   * after the start moves it along, as the gateway's WebhookGate does.
   */
  notBeforeMs: number | null;
  /** Wall clock minus monotonic clock now; tests step it. */
  clockOffsetMs?: () => number;
  calls: CallRegistry;
  deployments: DeploymentRegistry;
  streamless: StreamlessCalls;
  settlement: Settlement;
  recordings: CallRecordings;
  reservations: ReservationCalls;
  log: Logger;
  /**
   * How long an event about a call the platform has not recorded waits for
   * the call's `call.initiated` (or the platform's own dial) to land first
   * (default WEBHOOK_CALL_WAIT_MS).
   */
  callWaitMs?: number;
  /**
   * Passes a verified, recorded event on to its deployment's gateway, with the provider's own
   * signature headers (ControlHub.relayWebhook): the provider sends each event to one URL.
   */
  relay?: (deploymentId: string, signed: SignedBody) => void;
  /** Outgoing calls no deployment owns: each event of one still unlocked is watched, and the call hung up after the grace. */
  unownedDials?: Pick<UnownedDials, 'watch'>;
}

/** A webhook as the provider signed it: what a gateway needs to verify it again. */
export interface SignedBody {
  signature: string;
  timestamp: string;
  body: Buffer;
}

/**
 * Long enough for an event that overtook its call's `call.initiated` (both in
 * flight at once), short of the provider's patience with a webhook: a
 * delivery answered late is sent again, and the retry is then a duplicate.
 */
export const WEBHOOK_CALL_WAIT_MS = 1_500;

export class ProviderWebhooks {
  readonly #o: ProviderWebhooksOptions;
  /** How far the wall clock was stepped since notBeforeMs was read. */
  readonly #clockStep: WallClockStep;

  constructor(options: ProviderWebhooksOptions) {
    this.#o = options;
    this.#clockStep = new WallClockStep(options.clockOffsetMs);
  }

  async handle(req: IncomingMessage, res: ServerResponse, ctx: WebhookContext): Promise<void> {
    if (!this.#o.publicKey) {
      throw new TtmaError(
        ErrorCodes.WEBHOOK_NO_KEY,
        'no webhook signing key configured: provider webhooks are refused (start the platform with --webhook-public-key-file)',
        503,
      );
    }
    const rawBody = await readBody(req, this.#o.bodyTimeoutMs);
    const nowMs = this.#o.now();
    const signatureHeader = singleHeader(req, HEADER_SIGNATURE);
    const timestampHeader = singleHeader(req, HEADER_TIMESTAMP);
    const verdict = verifyWebhookSignature({
      publicKey: this.#o.publicKey,
      signatureHeader,
      timestampHeader,
      rawBody,
      nowSec: Math.floor(nowMs / 1000),
      ...(this.#o.notBeforeMs === null ? {} : { notBeforeSec: notBeforeSecOf(this.#o.notBeforeMs + this.#clockStep.sinceStart()) }),
    });
    if (!verdict.ok) {
      if (verdict.reason === 'signed_before_start') {
        // 503: the provider signs its retry afresh, so a genuine delivery held up by clock skew still lands.
        throw new TtmaError(ErrorCodes.WEBHOOK_REPLAY, 'webhook signed before this platform process started: its replay memory cannot vouch for it', 503);
      }
      if (verdict.reason === 'stale') {
        throw new TtmaError(ErrorCodes.WEBHOOK_STALE, 'webhook timestamp outside the 300 s window', 401);
      }
      throw new TtmaError(ErrorCodes.WEBHOOK_SIGNATURE, `webhook signature refused (${verdict.reason})`, 401);
    }
    const envelope = parseJsonObject(rawBody, ErrorCodes.WEBHOOK_MALFORMED);
    const data = envelope['data'];
    const eventId = isObject(data) ? data['id'] : undefined;
    if (!isObject(data) || typeof eventId !== 'string' || eventId.length === 0 || eventId.length > WEBHOOK_ID_MAX) {
      throw new TtmaError(ErrorCodes.WEBHOOK_MALFORMED, 'webhook has no data.id', 400);
    }
    const replayKey = `event:${eventId}`;
    // Unreachable store: TTMA_ERR_STORE_UNAVAILABLE (503), nothing remembered, the provider retries.
    if (await this.#o.replay.checkAndRemember(replayKey, nowMs)) {
      this.#o.log.info({ eventId }, 'duplicate webhook ignored');
      return sendJson(req, res, 200, { ok: true, duplicate: true });
    }
    try {
      // Verified, so both headers are there.
      await this.#record(req, res, ctx, eventId, data, { signature: signatureHeader ?? '', timestamp: timestampHeader ?? '', body: rawBody });
    } catch (err) {
      // Not recorded (the store was away): the provider's retry of this event must not be taken for a replay.
      await this.#o.replay.forget(replayKey).catch(() => {
        this.#o.log.warn({ eventId, code: ErrorCodes.STORE_UNAVAILABLE }, 'event id could not be forgotten: a retry within the window will be taken for a replay');
      });
      throw err;
    }
  }

  async #record(req: IncomingMessage, res: ServerResponse, ctx: WebhookContext, eventId: string, data: Json, signed: SignedBody): Promise<void> {
    const read = callEventOf(data, this.#o.now());
    if (!read) {
      this.#o.log.info({ eventId, eventType: data['event_type'] }, 'verified webhook without a call payload ignored');
      return sendJson(req, res, 200, { ok: true, ignored: true });
    }
    const leg = read.transferredFrom === undefined ? null : await this.#transferLeg(read.callId, read.transferredFrom);
    const event = await this.#withFacts(read);
    if (!event) {
      // Acknowledged (200), as before: a retry would find the platform no wiser. No gateway can have
      // answered a call the platform never recorded, and a dialled call is recorded when its dial
      // returns, so nothing of it is reserved here or waits to be settled.
      const why = read.eventType === CALL_INITIATED ? 'verified call.initiated without direction and numbers ignored' : 'verified webhook about a call the platform never saw begin: ignored';
      this.#o.log.warn({ eventId, callId: read.callId, eventType: read.eventType }, why);
      return sendJson(req, res, 200, { ok: true, ignored: true });
    }
    ctx.callId = event.callId;
    const facts = { direction: event.direction, from: event.from, to: event.to };
    const known = await this.#o.calls.ownerOf(event.callId);
    if (!known?.locked && event.direction === 'incoming') {
      const owner = await this.#o.deployments.findByNumber(event.to);
      const locked = await this.#o.calls.lock(event.callId, owner?.id ?? null, facts);
      if (!owner) {
        this.#o.log.warn({ eventId, callId: event.callId }, 'incoming call to a number no deployment owns: recorded as unowned');
      }
      else if (locked.ok) ctx.deploymentId = owner.id;
    } else if (!known?.locked && leg) {
      // A transfer's new leg: the deployment's, on the reservation its transfer made (transferLegs.ts).
      const locked = await this.#o.calls.lock(event.callId, leg.deploymentId, facts, { reservationId: leg.reservationId });
      if (locked.ok) {
        this.#o.reservations.set(leg.reservationId, event.callId);
        ctx.deploymentId = leg.deploymentId;
        this.#o.log.info({ eventId, callId: event.callId, transferredFrom: read.transferredFrom?.callId, deployment: leg.deploymentId }, 'transfer leg locked to the deployment of the call transferred');
      }
    }
    const record = await this.#o.calls.recordEvent(event.callId, facts, {
      event_type: event.eventType,
      occurred_at: event.occurredAt,
      hangup_cause: event.hangupCause,
      ...(event.streamId !== undefined ? { stream_id: event.streamId } : {}),
    });
    this.#o.log.info({ eventId, callId: event.callId, eventType: event.eventType }, 'webhook recorded');
    sendJson(req, res, 200, { ok: true });
    // A transfer leg is no call of the gateway's: it carries no stream, the bridge does.
    if (record.locked && record.deploymentId && !leg) this.#o.relay?.(record.deploymentId, signed);
    // A dial's events can come before its lock; one never locked is a call nobody owns (UnownedDials).
    else if (!record.locked && event.direction === 'outgoing' && record.state !== 'ended') this.#o.unownedDials?.watch(event.callId);
    this.#o.streamless.onEvent(event.eventType, event.callId, record.locked && !leg ? record.deploymentId : null);
    void this.#afterEvent(event, record.deploymentId, record.locked, data, leg !== null).catch((err: unknown) =>
      this.#o.log.error({ callId: event.callId, err: err instanceof Error ? err.message : String(err) }, 'event follow-up failed'),
    );
  }

  /**
   * The new leg of a transfer the platform made (transferLegs.ts): its mark names another call, locked
   * to a deployment, and the leg itself is either not locked yet or locked to that deployment on the
   * mark's reservation (a call locked otherwise is its own, whatever its client_state says).
   */
  async #transferLeg(callId: string, mark: TransferLegMark): Promise<{ deploymentId: string; reservationId: string } | null> {
    if (mark.callId === callId) return null;
    const transferred = await this.#o.calls.ownerOf(mark.callId);
    if (transferred?.locked !== true || transferred.deploymentId === null) return null;
    const own = await this.#o.calls.get(callId);
    if (own?.locked && (own.deploymentId !== transferred.deploymentId || own.reservationId !== mark.reservationId)) return null;
    return { deploymentId: transferred.deploymentId, reservationId: mark.reservationId };
  }

  /**
   * The event with its call's direction and numbers. A `call.initiated` must
   * name them (it is how the platform learns of an incoming call, and locks it
   * by the number dialled). Every later event takes them from the call's
   * record: Telnyx sends no direction after `call.initiated`, and no numbers
   * on `streaming.*` or `call.recording.saved` (providerEvents.ts). An event
   * that overtook its call's `call.initiated` waits for it a little; one for a
   * call still unknown uses the facts its payload names, if it names them all.
   */
  async #withFacts(read: ProviderEvent): Promise<CallEvent | null> {
    const { carried, ...event } = read;
    if (read.eventType === CALL_INITIATED) return carried ? { ...event, ...carried } : null;
    const record = carried
      ? await this.#o.calls.get(read.callId)
      : await this.#o.calls.waitForRecord(read.callId, this.#o.callWaitMs ?? WEBHOOK_CALL_WAIT_MS);
    if (record) return { ...event, direction: record.direction, from: record.from, to: record.to };
    return carried ? { ...event, ...carried } : null;
  }

  /** What a verified event sets in motion: recording of answered outbound calls, settlement, recording download. */
  async #afterEvent(event: CallEvent, deploymentId: string | null, locked: boolean, data: Json, transferLeg: boolean): Promise<void> {
    if (!locked || !deploymentId) return;
    if (event.eventType === 'call.hangup') {
      await this.#o.settlement.onHangup(event.callId);
      this.#o.recordings.forget(event.callId);
      this.#o.reservations.forgetCall(event.callId);
      return;
    }
    const deployment = await this.#o.deployments.get(deploymentId);
    if (!deployment) return;
    // A transfer leg is not recorded: the deployment records the calls its gateway carries.
    if (event.eventType === 'call.answered' && event.direction === 'outgoing' && !transferLeg) {
      await this.#o.recordings.start(deployment, event.callId);
    } else if (event.eventType === 'call.recording.saved') {
      await this.#o.recordings.saved(deployment, event.callId, data);
    }
  }
}
