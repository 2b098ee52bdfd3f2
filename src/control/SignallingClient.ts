/**
 * The gateway's only way to control calls: authenticated requests to the
 * platform's signalling proxy, which holds the provider key (FAQ-12).
 *
 * Requests use node:http with a keep-alive agent rather than fetch: the
 * front's thread also routes every call's media, and measured here a cold
 * fetch (undici) cost several milliseconds of that thread per answer, so
 * twenty calls arriving together stalled media for 40 to 70 ms.
 *
 * A request the platform refused the connection for (ECONNREFUSED: nothing
 * listens, as while the platform restarts) is sent again after 100 ms,
 * 200 ms, 400 ms... for up to 5 s. It never reached the platform, so sending
 * it again cannot do anything twice; a platform restart of a second or two
 * then costs a ringing caller that long, not the call. Any other failure
 * (a reset, a timeout: the request may have been acted on) is not retried.
 *
 * An answer the platform refused with 503 `TTMA_ERR_CALL_PENDING` is asked
 * again, for up to 8 s: the provider sent `call.initiated` to this gateway
 * and to the platform at once, and the platform's copy had not landed (it
 * waits for it a while itself). Nothing was done, so asking again is safe.
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ErrorCodes, TtmaError, isTtmaError, type ErrorCode } from '../errors.js';
import {
  type RecordingSetting,
  type RecordingSettingResult,
  type RecordingsDeleted,
  HEADER_DEPLOYMENT,
  PLATFORM_PATHS,
  RINGING_LISTED_WITHIN_MS,
  type AnswerCallBody,
  type DashboardLink,
  type DialCallBody,
  type DeploymentUsage,
  type DialCallResult,
  type HangupCallBody,
  type LiveCallView,
  type PlatformErrorBody,
  type SendDtmfBody,
  type StreamingStartBody,
  type TransferCallBody,
} from '../wire/platformApi.js';
import { CALL_ID_PATTERN } from '../wire/telnyx.js';
import { readAnswerBody } from '../wire/readAnswerBody.js';
import { retryAfterMsOf } from '../wire/retryAfter.js';

const REQUEST_TIMEOUT_MS = 5_000;
/**
 * The whole of a request and its answer (not a recording's). REQUEST_TIMEOUT_MS is an idle bound:
 * an answer trickled a byte every few seconds (a stuck proxy, a broken platform) passed it for
 * hours, and 32 such requests held every socket, so no call could be answered or hung up.
 */
const REQUEST_DEADLINE_MS = 15_000;
const MAX_RESPONSE_BYTES = 64 * 1024;
/** The live-call list: up to 10,000 calls of about 250 bytes each (src/platform/liveCalls.ts). */
const MAX_LIVE_LIST_BYTES = 4 * 1024 * 1024;
const MAX_SOCKETS = 32;
const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCodes));
/** A refused connection is tried again after these delays (doubling from the first) while within the window. */
const REFUSED_FIRST_RETRY_MS = 100;
const REFUSED_RETRY_WINDOW_MS = 5_000;
/** An answer refused as pending is asked again this long after, while within the window (well inside the media token's 30 s). */
const PENDING_RETRY_MS = 250;
const PENDING_RETRY_WINDOW_MS = 8_000;

export interface SignallingClientOptions {
  platformUrl: string;
  deploymentId: string;
  agentSecret: string;
  /** REQUEST_DEADLINE_MS unless given (tests shorten it). */
  requestDeadlineMs?: number;
}

/** A recording may be paused by a slow reader (backpressure), but not for longer than this. */
const RECORDING_IDLE_MS = 30_000;

/** A recording on its way from the platform. */
export interface RecordingDownload {
  /** The MP3's bytes as they arrive; destroying it ends the download. */
  body: IncomingMessage;
  /** Its length, when the platform declared one. */
  bytes: number | null;
}

interface RawResponse {
  status: number;
  text: string;
  /** The platform's Retry-After on a 429 or 503, in ms; null when it named none. */
  retryAfterMs?: number | null;
}

/** A request the platform answered with a refusal: its code and status, and the wait it asked for (Retry-After). */
export class PlatformRefusal extends TtmaError {
  readonly retryAfterMs: number | null;
  /**
   * The platform's own error message (its `error.message`), without our request path (which names the
   * call id): what may be passed on to an agent. "" when the answer was not one of the platform's errors.
   */
  readonly publicMessage: string;

  constructor(code: ErrorCode, message: string, status: number, retryAfterMs: number | null, publicMessage = '') {
    super(code, message, status);
    this.name = 'PlatformRefusal';
    this.retryAfterMs = retryAfterMs;
    this.publicMessage = publicMessage;
  }
}

export class SignallingClient {
  readonly #base: URL;
  readonly #headers: Record<string, string>;
  readonly #agent: Agent;
  readonly #request: typeof httpRequest;
  readonly #deadlineMs: number;
  /** Platform refusals by error code (metrics): TTMA_ERR_CAP_REACHED is a minute cap. Unknown codes count as HTTP_<status>. */
  readonly refusals: Record<string, number> = {};
  /** Requests sent again because the platform refused the connection (it was restarting). */
  connectRetries = 0;
  /** Answers asked again because the platform had not yet had the call's call.initiated. */
  pendingRetries = 0;

  constructor(options: SignallingClientOptions) {
    this.#base = new URL(options.platformUrl.replace(/\/+$/, ''));
    const https = this.#base.protocol === 'https:';
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }) : new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    this.#request = https ? httpsRequest : httpRequest;
    this.#deadlineMs = options.requestDeadlineMs ?? REQUEST_DEADLINE_MS;
    this.#headers = {
      authorization: `Bearer ${options.agentSecret}`,
      [HEADER_DEPLOYMENT]: options.deploymentId,
      'content-type': 'application/json',
    };
  }

  /** Ask the platform's health endpoint once at start: tells the operator early if it is unreachable. */
  async checkPlatform(): Promise<boolean> {
    try {
      return (await this.#send('GET', '/healthz')).status === 200;
    } catch {
      return false;
    }
  }

  /** Asked again while the platform answers that the call's call.initiated has not reached it yet. */
  async answer(callId: string, body: AnswerCallBody): Promise<unknown> {
    const startedAt = performance.now();
    for (;;) {
      try {
        return await this.#post(PLATFORM_PATHS.answer(callId), body);
      } catch (err) {
        if (!isTtmaError(err, ErrorCodes.CALL_PENDING) || performance.now() - startedAt + PENDING_RETRY_MS > PENDING_RETRY_WINDOW_MS) throw err;
        this.pendingRetries++;
        await new Promise((resolve) => setTimeout(resolve, PENDING_RETRY_MS));
      }
    }
  }

  /** A new media stream for a live call whose socket was lost. */
  streamingStart(callId: string, body: StreamingStartBody): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.streamingStart(callId), body);
  }

  hangup(callId: string, body: HangupCallBody = {}): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.hangup(callId), body);
  }

  transfer(callId: string, body: TransferCallBody): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.transfer(callId), body);
  }

  sendDtmf(callId: string, body: SendDtmfBody): Promise<unknown> {
    return this.#post(PLATFORM_PATHS.sendDtmf(callId), body);
  }

  /**
   * The dialled call's id, as the platform names it. An answer without one (a proxy's 200 page, a
   * broken platform) is a failure: the dial's media token is then revoked by the caller, where an
   * id of `undefined` had been taken for the call.
   */
  async dial(body: DialCallBody): Promise<DialCallResult> {
    const answer = (await this.#post(PLATFORM_PATHS.dial, body)) as Partial<Record<keyof DialCallResult, unknown>> | null;
    const callId = answer?.call_control_id;
    if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) {
      throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the dial without a well-formed call id', 502);
    }
    return answer as DialCallResult;
  }

  /** The deployment's recent calls as the platform recorded them, newest first. */
  async listCalls(limit: number): Promise<{ calls: Array<Record<string, unknown>> }> {
    let response: RawResponse;
    try {
      response = await this.#send('GET', `${PLATFORM_PATHS.dial}?limit=${limit}`);
    } catch (cause) {
      throw new TtmaError(ErrorCodes.PLATFORM, `platform unreachable: ${(cause as Error).message}`, 502, { cause });
    }
    return this.#parse(PLATFORM_PATHS.dial, response) as Promise<{ calls: Array<Record<string, unknown>> }>;
  }

  /**
   * The MP3 of one of the deployment's own calls, as the platform plays it,
   * as a stream (the gateway relays it a chunk at a time: a recording is
   * tens of megabytes beside live calls); its refusal, typed, otherwise.
   */
  async openRecording(callId: string): Promise<RecordingDownload> {
    const path = PLATFORM_PATHS.recording(callId);
    let res: IncomingMessage;
    try {
      res = await this.#open('GET', path, undefined, RECORDING_IDLE_MS);
    } catch (cause) {
      throw new TtmaError(ErrorCodes.PLATFORM, `recording not fetched: platform unreachable: ${(cause as Error).message}`, 502, { cause });
    }
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      let response: RawResponse;
      try {
        response = await readAnswer(res, MAX_RESPONSE_BYTES);
      } catch (cause) {
        throw new TtmaError(ErrorCodes.PLATFORM, `recording not fetched: ${(cause as Error).message}`, 502, { cause });
      }
      await this.#parse(path, status >= 300 ? response : { ...response, status: 502 });
      throw new TtmaError(ErrorCodes.PLATFORM, `platform answered ${path} with HTTP ${status}`, 502);
    }
    if (!String(res.headers['content-type'] ?? '').startsWith('audio/mpeg')) {
      res.destroy();
      throw new TtmaError(ErrorCodes.PLATFORM, `platform answered ${path} with something other than audio/mpeg`, 502);
    }
    const declared = res.headers['content-length'];
    return { body: res, bytes: declared !== undefined && /^\d{1,15}$/.test(declared) ? Number(declared) : null };
  }

  /**
   * The deployment's answered calls that have not ended, and its inbound
   * calls still ringing, as the platform recorded them (a starting gateway
   * takes them over). Entries that are not well formed, neither answered nor
   * ringing for under RINGING_LISTED_WITHIN_MS (a platform too old for
   * `live=1` lists recent calls of any state), are dropped: they come from
   * the network.
   */
  async liveCalls(nowMs = Date.now()): Promise<LiveCallView[]> {
    const body = (await this.#call('GET', PLATFORM_PATHS.liveCalls, undefined, MAX_LIVE_LIST_BYTES)) as { calls?: unknown };
    if (!Array.isArray(body?.calls)) throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the live call list without a calls array', 502);
    return body.calls.filter((entry): entry is LiveCallView => isLiveCallView(entry) && (entry.state === 'answered' || isRinging(entry, nowMs)));
  }

  /** This deployment's minutes against its caps, as the platform meters them. */
  usage(): Promise<DeploymentUsage> {
    return this.#call('GET', PLATFORM_PATHS.usage) as Promise<DeploymentUsage>;
  }

  /** Deletes one of the deployment's recordings, at the platform and the provider (what was deleted). */
  async deleteRecording(callId: string): Promise<Record<string, unknown>> {
    const body = await this.#call('DELETE', PLATFORM_PATHS.recording(callId));
    if (!body || typeof body !== 'object' || (body as { call_control_id?: unknown }).call_control_id !== callId) {
      throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the recording deletion with something else', 502);
    }
    return body as Record<string, unknown>;
  }

  /** One pass of deleting every recording the platform keeps for this deployment, from listing position `from` (asked again from `next_from` while `more`). */
  async deleteKeptRecordings(from = 0): Promise<RecordingsDeleted> {
    const path = from === 0 ? PLATFORM_PATHS.recordings : `${PLATFORM_PATHS.recordings}?from=${from}`;
    const body = (await this.#call('DELETE', path)) as Partial<Record<keyof RecordingsDeleted, unknown>> | null;
    const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    if (!body || typeof body !== 'object' || !count(body.deleted) || !count(body.failed) || !count(body.recording_now) || typeof body.more !== 'boolean') {
      throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the deletion of recordings with something else', 502);
    }
    const pass: RecordingsDeleted = { deleted: body.deleted, failed: body.failed, more: body.more, recording_now: body.recording_now };
    // Only a position past this pass's start moves a run of passes forward (a platform without it: from 0 again).
    if (body.more && count(body.next_from) && body.next_from > from) pass.next_from = body.next_from;
    return pass;
  }

  /** Whether the platform records this deployment's calls (its own switch, FAQ-17). */
  async recordingSetting(): Promise<RecordingSetting> {
    return checkRecordingSetting(await this.#call('GET', PLATFORM_PATHS.recordingSetting));
  }

  /** Turns this deployment's recording on or off; off also stops it on live calls (the platform says how many). */
  async switchRecording(on: boolean): Promise<RecordingSettingResult> {
    const answer = checkRecordingSetting(await this.#post(PLATFORM_PATHS.recordingSetting, { recording: on } satisfies RecordingSetting));
    const stopped = (answer as Partial<RecordingSettingResult>).stopped;
    if (answer.recording !== on || typeof stopped !== 'number' || !Number.isInteger(stopped) || stopped < 0) {
      throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the recording switch with something else', 502);
    }
    return { recording: answer.recording, stopped };
  }

  /**
   * A one-time sign-in link to this deployment's dashboard on the platform
   * (`ttma dashboard`): the platform's path joined to the URL this gateway
   * reaches it at. Works once, for a minute.
   */
  async dashboardLink(): Promise<{ url: string; expires_at: string }> {
    const body = (await this.#post(PLATFORM_PATHS.dashboardLink, {})) as Partial<DashboardLink> | null;
    const path = body?.path;
    const expires = body?.expires_at;
    if (typeof path !== 'string' || !DASHBOARD_LINK_PATH.test(path) || typeof expires !== 'string' || Number.isNaN(Date.parse(expires))) {
      throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the dashboard link request with something else', 502);
    }
    return { url: new URL(this.#base.pathname.replace(/\/$/, '') + path, this.#base).toString(), expires_at: expires };
  }

  close(): void {
    this.#agent.destroy();
  }

  #post(path: string, body: unknown): Promise<unknown> {
    return this.#call('POST', path, JSON.stringify(body));
  }

  async #call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: string, maxBytes = MAX_RESPONSE_BYTES): Promise<unknown> {
    return this.#parse(path, await this.#sendRetryingRefused(method, path, body, maxBytes));
  }

  async #sendRetryingRefused(method: string, path: string, body: string | undefined, maxBytes: number): Promise<RawResponse> {
    const startedAt = performance.now();
    for (let delayMs = REFUSED_FIRST_RETRY_MS; ; delayMs *= 2) {
      try {
        return await this.#send(method, path, body, maxBytes);
      } catch (cause) {
        const refused = (cause as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        if (!refused || performance.now() - startedAt + delayMs > REFUSED_RETRY_WINDOW_MS) {
          throw new TtmaError(ErrorCodes.PLATFORM, `platform unreachable for ${path}: ${(cause as Error).message}`, 502, { cause });
        }
        this.connectRetries++;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  async #parse(path: string, response: RawResponse): Promise<unknown> {
    let parsed: unknown = null;
    try {
      parsed = response.text ? JSON.parse(response.text) : null;
    } catch {
      parsed = null;
    }
    if (response.status < 200 || response.status >= 300) {
      const err = (parsed as PlatformErrorBody | null)?.error;
      const code = err?.code ?? `HTTP_${response.status}`;
      // A bounded label: only our own code shapes, never free text from the peer.
      const label = /^(TTMA_ERR_[A-Z_]{1,40}|HTTP_\d{3})$/.test(code) ? code : `HTTP_${response.status}`;
      this.refusals[label] = (this.refusals[label] ?? 0) + 1;
      // Keep the platform's own code when it is one of ours (TTMA_ERR_DIAL_POLICY, TTMA_ERR_CAP_REACHED...), so callers can tell refusals apart.
      const known = KNOWN_CODES.has(code) ? (code as ErrorCode) : ErrorCodes.PLATFORM;
      const status = known === ErrorCodes.PLATFORM ? 502 : response.status;
      const publicMessage = known !== ErrorCodes.PLATFORM && typeof err?.message === 'string' ? err.message.slice(0, 300) : '';
      throw new PlatformRefusal(known, `platform refused ${path}: ${code}: ${(err?.message ?? response.text).slice(0, 300)}`, status, response.retryAfterMs ?? null, publicMessage);
    }
    return parsed;
  }

  async #send(method: string, path: string, body?: string, maxBytes = MAX_RESPONSE_BYTES): Promise<RawResponse> {
    // Aborting ends the request, or the answer's body if it came (read as cut short): never acted on twice.
    const deadline = AbortSignal.timeout(this.#deadlineMs);
    return readAnswer(await this.#open(method, path, body, REQUEST_TIMEOUT_MS, deadline), maxBytes);
  }

  /** One request; resolves with the answer's head, its body still to read (an idle socket for `idleMs` ends it, as does `signal`). */
  #open(method: string, path: string, body: string | undefined, idleMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...this.#headers };
      if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
      const options = { method, headers, agent: this.#agent, timeout: idleMs, ...(signal ? { signal } : {}) };
      const req = this.#request(new URL(this.#base.pathname.replace(/\/$/, '') + path, this.#base), options, resolve);
      // After the head, a timeout or reset reaches the body's reader as an error of the answer.
      req.on('timeout', () => req.destroy(new Error(`no answer within ${idleMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}


/** An inbound call the platform saw begin within the window and not yet answered. */
function isRinging(view: LiveCallView, nowMs: number): boolean {
  const since = nowMs - Date.parse(view.started_at);
  return view.state === 'initiated' && view.direction === 'incoming' && since >= -RINGING_LISTED_WITHIN_MS && since <= RINGING_LISTED_WITHIN_MS;
}

function isLiveCallView(value: unknown): value is LiveCallView {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['call_control_id'] === 'string' &&
    CALL_ID_PATTERN.test(v['call_control_id']) &&
    (v['direction'] === 'incoming' || v['direction'] === 'outgoing') &&
    typeof v['from'] === 'string' &&
    typeof v['to'] === 'string' &&
    typeof v['state'] === 'string' &&
    typeof v['started_at'] === 'string' &&
    (v['answered_at'] === null || typeof v['answered_at'] === 'string')
  );
}

/** The only link the gateway passes on: the platform's sign-in page with a code, nothing else (no other host, no script). */
const DASHBOARD_LINK_PATH = /^\/v1\/dashboard\/login\?code=[A-Za-z0-9_-]{43}$/;

/** The platform's answer comes from the network: its shape is checked before it is believed. */
function checkRecordingSetting(body: unknown): RecordingSetting {
  if (!body || typeof body !== 'object' || typeof (body as { recording?: unknown }).recording !== 'boolean') {
    throw new TtmaError(ErrorCodes.PLATFORM, 'platform answered the recording setting without a recording flag', 502);
  }
  return body as RecordingSetting;
}

/** An answer's body as text, at most `maxBytes`. */
async function readAnswer(res: IncomingMessage, maxBytes: number): Promise<RawResponse> {
  const status = res.statusCode ?? 0;
  const retryAfterMs = status === 429 || status === 503 ? retryAfterMsOf(res.headers) : null;
  return { status, text: (await readAnswerBody(res, maxBytes)).toString('utf8'), retryAfterMs };
}
