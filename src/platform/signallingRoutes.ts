/**
 * The gateway's signalling: what a deployment asks the platform to do with
 * its calls, with its agent secret, through its gateway (DESIGN 3 step 3,
 * FAQ-13, FAQ-14).
 *
 *   POST /v1/signal/calls                       dial out from one of its numbers (a first unit reserved)
 *   GET  /v1/signal/calls?limit=N               its recent calls as the platform recorded them
 *   GET  /v1/signal/calls?live=1                its live calls, for a starting gateway to take over (liveCalls.ts)
 *   POST /v1/signal/calls/{id}/answer           answer an incoming call with a media stream (a first unit reserved)
 *   POST /v1/signal/calls/{id}/streaming_start  a new media stream for a live call (its restart budget pays first)
 *   POST /v1/signal/calls/{id}/record_start|record_stop|streaming_stop|hangup|transfer|send_dtmf
 *                                               relayed to the provider
 *   POST /v1/signal/calls/{id}/usage            its duration report (acceptUsage; the control connection's too)
 *
 * The server authenticates and rate limits each request (SignallingRequest);
 * here the body, the allowlists (allowlists.ts), the call's ownership and the
 * caps are checked before the provider is asked anything. Another
 * deployment's call and no such call get the same answer, so ids cannot be
 * probed (FAQ-13).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AnswerCallBody, DialCallBody, DialCallResult, LiveCallView, StreamingStartBody } from '../wire/platformApi.js';
import { checkAnswerStreamUrl, checkCodec, checkDestination, checkDialStreamUrl, checkDigits, checkStreamToken } from './allowlists.js';
import { capLimits, type CapActions } from './CapActions.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { CallRecord, CallRegistry, LockOutcome } from './CallRegistry.js';
import type { CallOwner } from './store/CallStore.js';
import type { CallRecordings } from './CallRecordings.js';
import { checkDialPolicy, E164_PATTERN, type Deployment } from './DeploymentRegistry.js';
import { readJsonObject, sendJson } from './httpExchange.js';
import { liveCallsOf } from './liveCalls.js';
import { callView } from './operatorApi.js';
import { ProviderRefusedError, type ProviderClient } from './ProviderClient.js';
import type { ReservationCalls } from './ReservationCalls.js';
import { NOT_OWNED, type SelfServiceRequest } from './selfServiceRoutes.js';
import { isTransferLeg, transferReservationId } from './transferLegs.js';
import type { Settlement } from './Settlement.js';
import { DIAL_TIMEOUT_SECS, MAX_REPORTED_MS, TIME_LIMIT_SECS, bidirectionalStream, checkClientState, checkIntRange, decodeCallId, transferBounds } from './signalFields.js';
import type { StreamlessCalls } from './StreamlessCalls.js';
import type { UsageLedger } from './UsageLedger.js';

/** The gateway's requests about one call (the deployment's own recordings: selfServiceRoutes.ts). */
const ROUTE_SIGNAL_CALL = /^\/v1\/signal\/calls\/([^/]+)\/(answer|hangup|transfer|send_dtmf|usage|streaming_start|record_start|record_stop|streaming_stop)$/;
const MAX_LISTED_CALLS = 100;

/** Which bucket pays for a stream request: the deployment's, or (a restart) the call's own first. */
type Budget = 'deployment' | 'restart';

export interface SignallingContext {
  calls: Pick<CallRegistry, 'ownerOf' | 'get' | 'patch' | 'lock' | 'list' | 'waitForRecord'>;
  /** How long a request about a call the provider has but the platform has not recorded waits for its call.initiated (requireOwnership). */
  callWaitMs: number;
  provider: Pick<ProviderClient, 'answer' | 'action' | 'hangup' | 'transfer' | 'sendDtmf' | 'dial' | 'getCall'>;
  /** The provider's connection dialled calls are placed on. */
  connectionId: string;
  /** The approved tunnel domains' check (DeploymentRegistry.isApprovedTunnelHost): the list registration used. */
  approvedTunnelHost(host: string): boolean;
  caps: Pick<CapEnforcer, 'admit' | 'release' | 'withdraw' | 'liveOf'>;
  /** Tells the deployment's gateways when a new call is refused at a cap. */
  capActions: Pick<CapActions, 'push'>;
  reservations: Pick<ReservationCalls, 'set' | 'callOf' | 'forgetReservation'>;
  ledger: Pick<UsageLedger, 'unknownReport' | 'gatewayReport'>;
  settlement: Pick<Settlement, 'onHangup'>;
  recordings: Pick<CallRecordings, 'start'>;
  streamless: Pick<StreamlessCalls, 'stoppedOnPurpose'>;
  /** Work started after a response: its failure is logged, never an unhandled rejection. */
  background(what: string, work: Promise<unknown>): void;
  bodyTimeoutMs: number;
  log: Logger;
}

/** What the server hands over per request: as for the self-service routes, with the buckets a signalling request may pay from first. */
export interface SignallingRequest extends SelfServiceRequest {
  /**
   * The agent secret and the deployment header checked, then the rate limit: `restartOf`, a call
   * whose own restart budget pays first (StreamRestartBudget); `liveList`, the live-call list's
   * own budget pays first; else (or once those are spent) the deployment's bucket.
   */
  authenticate(req: IncomingMessage, restartOf?: string | null, liveList?: boolean): Promise<Deployment>;
}

/** True when the path was one of ours (answered or refused by a throw). */
export async function handleSignallingRoute(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<boolean> {
  const signal = ROUTE_SIGNAL_CALL.exec(url.pathname);
  if (signal) {
    request.allow(method, 'POST');
    const callId = decodeCallId(signal[1] ?? '');
    request.noteCall(callId);
    switch (signal[2]) {
      case 'answer':
        await answer(ctx, request, req, res, callId);
        break;
      case 'hangup':
        await hangup(ctx, request, req, res, callId);
        break;
      case 'transfer':
        await transfer(ctx, request, req, res, callId);
        break;
      case 'send_dtmf':
        await sendDtmf(ctx, request, req, res, callId);
        break;
      case 'usage':
        await usageReport(ctx, request, req, res, callId);
        break;
      case 'streaming_start':
        await streamingStart(ctx, request, req, res, callId);
        break;
      default:
        await callAction(ctx, request, req, res, callId, signal[2] as 'record_start' | 'record_stop' | 'streaming_stop');
    }
    return true;
  }
  if (url.pathname !== '/v1/signal/calls') return false;
  if (method === 'GET') {
    await listCalls(ctx, request, req, res, url);
    return true;
  }
  if (method !== 'POST') request.allow(method, 'GET, POST');
  await dial(ctx, request, req, res);
  return true;
}

/** A usage report by either route: kept for the cross-check, never billed from (FAQ-14). */
export async function acceptUsage(ctx: Pick<SignallingContext, 'calls' | 'ledger'>, deployment: Deployment, callId: string, duration: unknown): Promise<string[]> {
  if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 0 || duration > MAX_REPORTED_MS) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `duration_ms must be a whole number from 0 to ${MAX_REPORTED_MS}`, 400);
  }
  const known = await ctx.calls.ownerOf(callId);
  if (!known) {
    await ctx.ledger.unknownReport(deployment.id, callId, duration);
    throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
  }
  if (!known.locked || known.deploymentId !== deployment.id) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
  return (await ctx.ledger.gatewayReport(deployment.id, callId, duration)).flags;
}

/**
 * The stream of an answer or of a restart: authenticated, its fields checked
 * against the deployment (wss:// to exactly its tunnel host, path
 * /v1/media/<this call id>, token and codec shapes: FAQ-13), then the
 * call's ownership; the fields as the provider takes them.
 */
async function ownCallStream(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, callId: string, budget: Budget = 'deployment') {
  const deployment = await request.authenticate(req, budget === 'restart' ? callId : null);
  const body = (await readJsonObject(req, ctx.bodyTimeoutMs)) as Partial<AnswerCallBody | StreamingStartBody>;
  const streamUrl = checkAnswerStreamUrl(body.stream_url, mediaHost(ctx, deployment), callId);
  const token = checkStreamToken(body.stream_auth_token);
  const codec = checkCodec(body.codec);
  const clientState = checkClientState(body.client_state);
  await requireOwnership(ctx, deployment, callId);
  return { deployment, codec, stream: bidirectionalStream(streamUrl, token, codec, clientState) };
}

async function answer(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const { deployment, codec, stream } = await ownCallStream(ctx, request, req, callId);
  // A dialled call is answered by the callee, and reserves under its dial's own id.
  if ((await ctx.calls.get(callId))?.direction === 'outgoing') {
    throw new TtmaError(ErrorCodes.CONFLICT, 'this call was dialled by the deployment: answer is for incoming calls', 409);
  }
  // Reserve the first minute before the provider is asked anything: at a cap, no call starts.
  // Once per call (a second answer is refused here, before it could touch the first's reservation).
  await admit(ctx, deployment, callId);
  ctx.reservations.set(callId, callId);
  // Written while the provider answers (no round trip of its own); if it is lost, settlement
  // falls back to the call id, which is this reservation's id anyway.
  const marked = ctx.calls.patch(callId, { reservationId: callId }).catch((err: unknown) => {
    ctx.log.warn({ callId, code: isTtmaError(err) ? err.code : undefined }, 'reservation id not written to the call record');
  });
  try {
    await ctx.provider.answer(callId, stream);
    await marked;
  } catch (err) {
    if (err instanceof ProviderRefusedError) {
      // Not answered: stop top-ups; the provider's hang-up (answer timeout) settles the reservation at its figure.
      await ctx.caps.release(deployment.id, callId);
    } else {
      // Perhaps answered (a timeout, 5xx): the reservation stays live, so the call's minutes are still
      // reserved and capped, until its hang-up or the live-call audit settles it.
      ctx.log.warn({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'answer outcome unknown: the call stays reserved until it ends');
    }
    throw err;
  }
  ctx.log.info({ deployment: deployment.id, callId, codec }, 'call answered through the provider');
  sendJson(req, res, 200, { ok: true });
  if (deployment.recording) ctx.background('recording start', ctx.recordings.start(deployment, callId));
}

/**
 * A new stream for one of the deployment's own live calls (the gateway lost
 * its media socket), checked as an answer's. Nothing is reserved: the call
 * already holds its reservation. Paid from the call's own restart budget
 * while it lasts, so a tunnel reconnect's every-call-at-once burst does not
 * drain the deployment's bucket.
 */
async function streamingStart(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const { deployment, codec, stream } = await ownCallStream(ctx, request, req, callId, 'restart');
  await ctx.provider.action(callId, 'streaming_start', stream);
  ctx.log.info({ deployment: deployment.id, callId, codec }, 'media stream restarted through the provider');
  sendJson(req, res, 200, { ok: true });
}

/** Gateway-initiated record_start/record_stop/streaming_stop, on its own calls only. */
async function callAction(
  ctx: SignallingContext,
  request: SignallingRequest,
  req: IncomingMessage,
  res: ServerResponse,
  callId: string,
  action: 'record_start' | 'record_stop' | 'streaming_stop',
): Promise<void> {
  const deployment = await request.authenticate(req);
  await readJsonObject(req, ctx.bodyTimeoutMs);
  await requireOwnership(ctx, deployment, callId);
  if (action === 'record_start' && !deployment.recording) {
    throw new TtmaError(ErrorCodes.RECORDING, 'recording is off for this deployment: record_start refused', 403);
  }
  if (action === 'record_start') await ctx.provider.action(callId, 'record_start', { format: 'mp3', channels: 'single' });
  else await ctx.provider.action(callId, action);
  if (action === 'streaming_stop') await ctx.streamless.stoppedOnPurpose(callId);
  ctx.log.info({ deployment: deployment.id, callId, action }, 'call action relayed');
  sendJson(req, res, 200, { ok: true });
}

/** The deployment's own recent calls, newest first, as the platform recorded them (`ttma calls --source platform`). */
async function listCalls(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const live = url.searchParams.get('live');
  const deployment = await request.authenticate(req, null, live !== null);
  if (live !== null) {
    // A starting gateway takes over its deployment's answered calls and answers its ringing ones (src/platform/liveCalls.ts).
    if (live !== '1') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'live must be 1', 400);
    // A transfer's new leg is the deployment's to pay for, not a call for a gateway to take over (no stream).
    const calls = (await liveCallsOf(deployment.id, { caps: ctx.caps, calls: ctx.calls, reservations: ctx.reservations })).filter((c) => !isTransferLeg(c));
    ctx.log.info({ deployment: deployment.id, live: calls.length }, 'live calls listed for the gateway');
    return sendJson(req, res, 200, { calls: calls.map(liveCallView) });
  }
  const raw = url.searchParams.get('limit') ?? '10';
  const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= MAX_LISTED_CALLS)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `limit must be a whole number from 1 to ${MAX_LISTED_CALLS}`, 400);
  }
  const calls = (await ctx.calls.list({ deploymentId: deployment.id, limit })).map(deploymentCallView);
  sendJson(req, res, 200, { calls });
}

/** The gateway's duration report over HTTP (the control connection is the usual way). */
async function usageReport(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const deployment = await request.authenticate(req);
  const body = await readJsonObject(req, ctx.bodyTimeoutMs);
  sendJson(req, res, 200, { ok: true, flags: await acceptUsage(ctx, deployment, callId, body['duration_ms']) });
}

/** Reserve a new call's first unit; a cap refusal also tells the deployment's gateways. */
async function admit(ctx: SignallingContext, deployment: Deployment, reservationId: string, options: { withdrawIfUnanswered?: boolean } = {}): Promise<void> {
  try {
    await ctx.caps.admit(deployment.id, reservationId, capLimits(deployment), options);
  } catch (err) {
    if (isTtmaError(err, ErrorCodes.CAP_REACHED)) ctx.background('cap state push', ctx.capActions.push(deployment.id));
    throw err;
  }
}

async function hangup(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const deployment = await request.authenticate(req);
  await readJsonObject(req, ctx.bodyTimeoutMs);
  await requireOwnership(ctx, deployment, callId);
  const result = await ctx.provider.hangup(callId);
  ctx.log.info({ deployment: deployment.id, callId, alreadyEnded: result.alreadyEnded }, 'call hung up');
  sendJson(req, res, 200, { ok: true });
}

async function transfer(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const deployment = await request.authenticate(req);
  const body = await readJsonObject(req, ctx.bodyTimeoutMs);
  await requireOwnership(ctx, deployment, callId);
  // A transfer dials out too, checked as dial is: a malformed `to` is a bad request (not a policy refusal,
  // which named the wrong fault to an agent that sent "" or a national number), then the deployment's
  // dialling policy, then the premium-rate refusal.
  const to = body['to'];
  if (typeof to !== 'string' || !E164_PATTERN.test(to)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'to must be an E.164 number ("+" then 7 to 15 digits)', 400);
  }
  checkDialPolicy(deployment, to);
  checkDestination(to);
  const bounds = transferBounds(body);
  const from = deployment.numbers[0] ?? '';
  // The new leg is an outbound call the provider bills (FAQ-14): its first unit is reserved before the
  // provider is asked, so a deployment at its cap cannot keep spending through transfers (fail closed).
  // Its first webhook locks it with this reservation (transferLegs.ts), which then tops up and settles as a dial's.
  const commandId = randomUUID();
  const reservationId = transferReservationId(commandId);
  await admit(ctx, deployment, reservationId, { withdrawIfUnanswered: true });
  try {
    await ctx.provider.transfer(callId, to, from, commandId, bounds);
  } catch (err) {
    // Refused: no leg was placed, the reserved minute goes back. Otherwise (a timeout, 5xx) a leg may be
    // ringing: the reservation stays, to be locked by its webhooks or given back as an orphan dial's.
    if (err instanceof ProviderRefusedError) await ctx.caps.withdraw(deployment.id, reservationId);
    throw err;
  }
  ctx.log.info({ deployment: deployment.id, callId, reservation: reservationId }, 'call transferred');
  sendJson(req, res, 200, { ok: true });
}

async function sendDtmf(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse, callId: string): Promise<void> {
  const deployment = await request.authenticate(req);
  const body = await readJsonObject(req, ctx.bodyTimeoutMs);
  const digits = checkDigits(body['digits']);
  await requireOwnership(ctx, deployment, callId);
  await ctx.provider.sendDtmf(callId, digits);
  sendJson(req, res, 200, { ok: true });
}

/**
 * The host a stream URL must name: the registered tunnel host, while it is still below the
 * approved tunnel domains (a list narrowed since registration stops it at once).
 */
function mediaHost(ctx: SignallingContext, deployment: Deployment): string {
  if (!ctx.approvedTunnelHost(deployment.tunnelHost)) {
    throw new TtmaError(ErrorCodes.STREAM_HOST, "stream_url refused: the deployment's registered tunnel host is no longer below an approved tunnel domain", 400);
  }
  return deployment.tunnelHost;
}

async function dial(ctx: SignallingContext, request: SignallingRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const deployment = await request.authenticate(req);
  const body = (await readJsonObject(req, ctx.bodyTimeoutMs)) as Partial<DialCallBody>;
  if (typeof body.to !== 'string' || !E164_PATTERN.test(body.to)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'to must be an E.164 number ("+" then 7 to 15 digits)', 400);
  }
  checkDialPolicy(deployment, body.to);
  checkDestination(body.to);
  const from = body.from ?? deployment.numbers[0];
  if (typeof from !== 'string' || !deployment.numbers.includes(from)) {
    throw new TtmaError(ErrorCodes.NUMBER_NOT_OWNED, "from must be one of this deployment's numbers", 403);
  }
  const { streamUrl, mediaId } = checkDialStreamUrl(body.stream_url, mediaHost(ctx, deployment));
  const token = checkStreamToken(body.stream_auth_token);
  const codec = checkCodec(body.codec);
  const clientState = checkClientState(body.client_state);
  const timeoutSecs = checkIntRange(body.timeout_secs, 'timeout_secs', DIAL_TIMEOUT_SECS);
  const timeLimitSecs = checkIntRange(body.time_limit_secs, 'time_limit_secs', TIME_LIMIT_SECS);
  const to = body.to;
  // The reservation is keyed by the dial's command_id: the call id exists only after the provider answers.
  const commandId = randomUUID();
  const reservationId = `dial-${commandId}`;
  // The reservation id is this dial's alone: a reservation the store did not confirm is given back.
  await admit(ctx, deployment, reservationId, { withdrawIfUnanswered: true });
  let dialled;
  try {
    dialled = await ctx.provider.dial({
      command_id: commandId,
      connection_id: ctx.connectionId,
      from,
      to,
      ...bidirectionalStream(streamUrl, token, codec, clientState),
      ...(timeoutSecs !== undefined ? { timeout_secs: timeoutSecs } : {}),
      ...(timeLimitSecs !== undefined ? { time_limit_secs: timeLimitSecs } : {}),
    });
  } catch (err) {
    // No call was placed: the reserved minute goes back (retried should the store not answer).
    await ctx.caps.withdraw(deployment.id, reservationId);
    throw err;
  }
  const callId = dialled.call_control_id;
  request.noteCall(callId);
  ctx.reservations.set(reservationId, callId);
  let locked: LockOutcome;
  try {
    locked = await ctx.calls.lock(callId, deployment.id, { direction: 'outgoing', from, to }, { reservationId });
  } catch (err) {
    // The call is placed but nobody can be shown to own it: it must not stay up (fail closed).
    ctx.log.error({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'dialled call not locked (store unreachable): ending it');
    await endUnlockedDial(ctx, deployment.id, callId, reservationId);
    throw err;
  }
  if (!locked.ok) {
    // The provider handed us an id we already gave to someone else: never
    // re-assign; end the new call rather than let two owners share it.
    ctx.log.error({ deployment: deployment.id, callId }, 'dialled call id already locked to another owner');
    await endUnlockedDial(ctx, deployment.id, callId, reservationId);
    throw new TtmaError(ErrorCodes.PROVIDER, 'provider returned a call id that is already in use', 502);
  }
  // Events that raced ahead of the lock found the call unlocked and set nothing in motion:
  // a call.hangup still settles, a call.answered still starts the recording.
  if (locked.state === 'ended') ctx.background('settlement', ctx.settlement.onHangup(callId));
  else if (locked.state === 'answered') ctx.background('recording start', ctx.recordings.start(deployment, callId));
  ctx.log.info({ deployment: deployment.id, callId, mediaId, codec }, 'outbound call placed');
  const result: DialCallResult = { call_control_id: callId, call_session_id: dialled.call_session_id };
  sendJson(req, res, 200, result);
}

/**
 * Ends a dialled call that could not be locked. No record carries its
 * reservation, so no hang-up event would ever settle it: stop its top-ups
 * here (its first minute stays counted).
 */
async function endUnlockedDial(ctx: SignallingContext, deploymentId: string, callId: string, reservationId: string): Promise<void> {
  await ctx.provider.hangup(callId).catch((err: unknown) => {
    ctx.log.error({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined }, 'unlocked dialled call not hung up');
  });
  await ctx.caps.release(deploymentId, reservationId);
  ctx.reservations.forgetReservation(reservationId);
}

/**
 * The call must be locked to this deployment: by its verified `call.initiated`
 * (an incoming call, by the number dialled) or by our own dial. One answer for
 * "someone else's" and "no such call", so ids cannot be probed (FAQ-13).
 */
async function requireOwnership(ctx: SignallingContext, deployment: Deployment, callId: string): Promise<void> {
  const known = (await ctx.calls.ownerOf(callId)) ?? (await ownerOnceInitiated(ctx, deployment, callId));
  if (known.locked && known.deploymentId === deployment.id) return;
  throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
}

/**
 * The owner of a call the platform has no record of yet. The provider sends
 * `call.initiated` to the gateway and the platform at once, so the gateway's
 * answer can come first. Nothing but that webhook ties an incoming call to a
 * number: Telnyx's "Retrieve a call status" names no direction, from or to
 * (call_control_id, call_leg_id, call_session_id, is_alive, call_duration,
 * client_state, start_time, end_time:
 * developers.telnyx.com/api-reference/call-information/retrieve-a-call-status).
 * So: no such call at the provider (404), or one that has ended, is refused
 * as another's; a live one waits a little for its verified `call.initiated`;
 * still none, 503 `TTMA_ERR_CALL_PENDING`, which the gateway asks again.
 * Never answered without it (fail closed).
 */
async function ownerOnceInitiated(ctx: SignallingContext, deployment: Deployment, callId: string): Promise<CallOwner> {
  let alive: boolean | null;
  try {
    alive = (await ctx.provider.getCall(callId)).is_alive;
  } catch (err) {
    if (isTtmaError(err) && err.status === 404) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    throw err;
  }
  if (alive === false) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
  const record = await ctx.calls.waitForRecord(callId, ctx.callWaitMs);
  if (record) return { locked: record.locked, deploymentId: record.deploymentId };
  ctx.log.warn({ deployment: deployment.id, callId, waitedMs: ctx.callWaitMs }, "a request about a call whose call.initiated has not reached the platform: refused for now (503)");
  throw new TtmaError(ErrorCodes.CALL_PENDING, "the provider's call.initiated for this call has not reached the platform yet: ask again shortly", 503);
}

/** What a deployment sees of its own calls: the operator's view (callView) less review fields and the recording's location. */
const DEPLOYMENT_CALL_FIELDS = [
  'call_control_id', 'direction', 'from', 'to', 'state', 'started_at', 'answered_at', 'ended_at',
  'duration_ms', 'billed_minutes', 'cost_usd', 'hangup_cause',
] as const;

/** What a starting gateway needs to take a live call over (LiveCallView): few fields, as the list can hold thousands. */
const LIVE_CALL_FIELDS = ['call_control_id', 'direction', 'from', 'to', 'state', 'started_at', 'answered_at'] as const;

function pickFields(record: CallRecord, fields: readonly string[]): Record<string, unknown> {
  const full = callView(record);
  const view: Record<string, unknown> = {};
  for (const field of fields) view[field] = full[field];
  return view;
}

function liveCallView(record: CallRecord): LiveCallView {
  return pickFields(record, LIVE_CALL_FIELDS) as unknown as LiveCallView;
}

/** A call record as its own deployment may see it: the provider's figures, no review flags, no recording URL. */
function deploymentCallView(record: CallRecord): Record<string, unknown> {
  return { ...pickFields(record, DEPLOYMENT_CALL_FIELDS), recorded: Boolean(record.recording?.url) };
}
