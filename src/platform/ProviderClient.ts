/**
 * The provider's Call Control REST API (DESIGN 3a, Telnyx v2), spoken only by
 * the platform: the API key never leaves this process (FAQ-12).
 *
 * Every command carries a command_id; a network error, a timeout, a 429 or a
 * 5xx is retried with the SAME command_id, so the provider can drop the
 * duplicate if the first attempt did land. The key never appears in an
 * error message or a log line: messages are built from our own words and the
 * provider's error code, and scrubbed of the key anyway.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, TtmaError, redactSecrets, type ErrorCode } from '../errors.js';
import { directionOf } from './CallRegistry.js';
import { nodeHttpTransport, type ProviderTransport, type TransportResponse } from './providerTransport.js';
import { transferLegState, transferReservationId } from './transferLegs.js';
import type { LegBounds } from './signalFields.js';
import {
  PROVIDER_CODE_CALL_ENDED,
  type AnswerRequest,
  type CallDirection,
  type DialRequest,
} from '../wire/telnyx.js';

export interface ProviderClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Attempts per command, first one included (default 3). */
  maxAttempts?: number;
  /** Wait before retry n is backoffMs * n (default 100 ms). */
  backoffMs?: number;
  /**
   * A 429 or 503 that names its wait (Retry-After, x-ratelimit-reset) is
   * retried after that wait, up to this (default 1 s: the gateway's own
   * request gives up at 5 s). A longer one is not waited for.
   */
  maxAdvisedWaitMs?: number;
  /** Per-attempt timeout (default 5 s). */
  timeoutMs?: number;
  /** How requests go out (default node:http with keep-alive; the proxy bench passes the old fetch path to compare). */
  transport?: (baseUrl: URL, maxResponseBytes: number) => ProviderTransport;
}

export interface DialResult {
  call_control_id: string;
  call_session_id: string;
  call_leg_id: string | null;
}

/**
 * What the platform reads of `GET /v2/calls/{id}` (a field the provider omits stays null).
 * Telnyx's "Retrieve a call status" has ids, `is_alive`,
 * `call_duration`, `client_state` and times, but no direction or numbers
 * (developers.telnyx.com/api-reference/call-information/retrieve-a-call-status),
 * so it can never tie a call to a deployment.
 */
export interface ProviderCall {
  call_control_id: string;
  is_alive: boolean | null;
}

export type HangupResult = { alreadyEnded: boolean };

export type CallAction = 'record_start' | 'record_stop' | 'streaming_start' | 'streaming_stop';

/**
 * What the platform reads of the provider's record of a call leg: Telnyx's
 * Detail Records search with `filter[record_type]=call-control`
 * (developers.telnyx.com/api-reference/detail-records/search-detail-records).
 * The fields are those its records carry (the documented example,
 * developers.telnyx.com/development/webrtc/troubleshooting/detail-records):
 * `telnyx_call_control_id`, `call_sec` and `billed_sec` (numbers of seconds),
 * `started_at` and `finished_at` (ISO 8601), `direction` (inbound/outbound),
 * `cli` (from), `cld` (to). A record only exists once the call is over, and
 * may take minutes to appear.
 */
export interface CallDetailRecord {
  call_control_id: string;
  direction: CallDirection | null;
  from: string | null;
  to: string | null;
  started_at: string | null;
  /** `finished_at`: when the call ended; null when the record has none (not final). */
  ended_at: string | null;
  /** `call_sec` (the time talked: answer to end) in milliseconds; null when the record has none. */
  duration_ms: number | null;
  /** `billed_sec`: what the provider charges for, rounded up to its billing increments. */
  billed_sec: number | null;
  /** Not in the documented record; read if a provider adds it. */
  hangup_cause: string | null;
}

/** One call of the connection's active calls list. */
export interface ActiveCall {
  callControlId: string;
  /** Seconds since the call started (`call_duration`); null when the provider did not say. */
  durationSec: number | null;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 100;
const DEFAULT_MAX_ADVISED_WAIT_MS = 1_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/** Active calls asked for per page (Telnyx's largest page), and pages at most (10,000 calls). */
const ACTIVE_CALLS_PAGE = 250;
const ACTIVE_CALLS_MAX_PAGES = 40;
/** Recordings asked for per leg: a leg has one per record_start, and we send one. */
const RECORDINGS_PAGE = 20;
/** A provider's recording id as it may be put in a path (Telnyx: a UUID). */
const RECORDING_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Records asked for per call leg: a call_control_id names one leg, so one record; a few more for safety. */
const DETAIL_RECORDS_PAGE = 5;
/** Provider answers are small JSON; anything bigger is not one. */
const MAX_RESPONSE_BYTES = 256 * 1024;

interface RawResponse {
  status: number;
  body: unknown;
}

export class ProviderClient {
  readonly #baseUrl: string;
  #apiKey: string;
  /** The key before the last rotation: still scrubbed from messages (a request in flight may carry it). */
  #previousKey: string | null = null;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #maxAdvisedWaitMs: number;
  readonly #timeoutMs: number;
  readonly #transport: ProviderTransport;

  constructor(options: ProviderClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.baseUrl);
    } catch {
      throw new TtmaError(ErrorCodes.CONFIG, 'provider URL is not a valid URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new TtmaError(ErrorCodes.CONFIG, 'provider URL must be http:// or https://');
    }
    if (parsed.username || parsed.password || parsed.search || parsed.hash) {
      throw new TtmaError(ErrorCodes.CONFIG, 'provider URL must not carry credentials, a query or a fragment');
    }
    checkApiKey(options.apiKey);
    this.#baseUrl = parsed.href.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.#maxAdvisedWaitMs = options.maxAdvisedWaitMs ?? DEFAULT_MAX_ADVISED_WAIT_MS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#transport = (options.transport ?? nodeHttpTransport)(parsed, MAX_RESPONSE_BYTES);
  }

  /**
   * The longest one command can take, its retries included: every attempt to
   * its timeout, and each wait between two (its backoff, or a wait the
   * provider advised, at most `maxAdvisedWaitMs`). A dial still unanswered
   * after this has failed on the process that sent it (UnownedDials).
   */
  get commandDeadlineMs(): number {
    let waits = 0;
    for (let retry = 1; retry < this.#maxAttempts; retry += 1) waits += Math.max(this.#backoffMs * retry, this.#maxAdvisedWaitMs);
    return this.#maxAttempts * this.#timeoutMs + waits;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#transport.close();
  }

  async answer(callControlId: string, request: AnswerRequest): Promise<void> {
    const commandId = request.command_id ?? randomUUID();
    const res = await this.#send('answer', 'POST', `${callPath(callControlId)}/actions/answer`, {
      ...request,
      command_id: commandId,
    });
    if (isSuccess(res.status)) return;
    // The caller hung up while the answer was in flight: the provider says 422 code 90018
    // ("Call has already ended", https://developers.telnyx.com/development/api-fundamentals/api-errors).
    // A normal race, not a fault.
    if (res.status === 422 && providerCodes(res.body).includes(PROVIDER_CODE_CALL_ENDED)) {
      throw new CallEndedError(this.#scrub(`provider answer: the call has already ended (HTTP ${res.status}${codeSuffix(res.body)})`));
    }
    throw this.#failure('answer', res);
  }

  /** A hang-up of a call that already ended (422, code 90018) counts as success. */
  async hangup(callControlId: string, commandId: string = randomUUID()): Promise<HangupResult> {
    const res = await this.#send('hangup', 'POST', `${callPath(callControlId)}/actions/hangup`, {
      command_id: commandId,
    });
    if (isSuccess(res.status)) return { alreadyEnded: false };
    if (res.status === 422 && providerCodes(res.body).includes(PROVIDER_CODE_CALL_ENDED)) {
      return { alreadyEnded: true };
    }
    throw this.#failure('hangup', res);
  }

  /** Call Control `send_dtmf` (digits already checked by the caller). */
  async sendDtmf(callControlId: string, digits: string): Promise<void> {
    const res = await this.#send('send_dtmf', 'POST', `${callPath(callControlId)}/actions/send_dtmf`, { digits, command_id: randomUUID() });
    if (!isSuccess(res.status)) throw this.#failure('send_dtmf', res);
  }

  /**
   * Call Control `transfer` to an E.164 destination (already checked against the dialling policy).
   * The new leg carries the platform's mark, naming the call and the reservation `commandId` made for the
   * leg, so it is locked to the deployment, not taken for a dial nobody owns (transferLegs.ts). The leg's
   * ring and time limit are sent (`timeout_secs`, `time_limit_secs`), as a dial's are.
   */
  async transfer(callControlId: string, to: string, from: string, commandId: string, bounds: LegBounds): Promise<void> {
    const body = {
      to,
      from,
      target_leg_client_state: transferLegState(callControlId, transferReservationId(commandId)),
      command_id: commandId,
      timeout_secs: bounds.timeoutSecs,
      time_limit_secs: bounds.timeLimitSecs,
    };
    const res = await this.#send('transfer', 'POST', `${callPath(callControlId)}/actions/transfer`, body);
    if (!isSuccess(res.status)) throw this.#failure('transfer', res);
  }

  async dial(request: DialRequest): Promise<DialResult> {
    const commandId = request.command_id ?? randomUUID();
    const res = await this.#send('dial', 'POST', '/v2/calls', { ...request, command_id: commandId });
    if (!isSuccess(res.status)) throw this.#failure('dial', res);
    const data = dataOf(res.body);
    const callControlId = stringField(data, 'call_control_id');
    const callSessionId = stringField(data, 'call_session_id');
    if (!callControlId || !callSessionId) {
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider dial answered without call_control_id/call_session_id', 502);
    }
    return { call_control_id: callControlId, call_session_id: callSessionId, call_leg_id: stringField(data, 'call_leg_id') };
  }

  /** A plain call action (`record_start`, `record_stop`, `streaming_stop`...) with a command_id. */
  async action(callControlId: string, action: CallAction, body: Record<string, unknown> = {}, commandId: string = randomUUID()): Promise<void> {
    const res = await this.#send(action, 'POST', `${callPath(callControlId)}/actions/${action}`, { ...body, command_id: commandId });
    if (!isSuccess(res.status)) throw this.#failure(action, res);
  }

  /**
   * The provider's own record of a call leg, or null when it has none (yet):
   * `GET /v2/detail_records?filter[record_type]=call-control&filter[telnyx_call_control_id]=`
   * (Detail Records search: filter[record_type] is required, any other record
   * attribute may be filtered on as filter[<attribute>]; page[size] 1 to 50).
   */
  async callDetailRecord(callControlId: string): Promise<CallDetailRecord | null> {
    const query =
      `filter[record_type]=call-control&filter[telnyx_call_control_id]=${encodeURIComponent(callControlId)}` +
      `&page[number]=1&page[size]=${DETAIL_RECORDS_PAGE}`;
    const res = await this.#send('detail records', 'GET', `/v2/detail_records?${query}`, undefined);
    if (!isSuccess(res.status)) throw this.#failure('detail records', res);
    const data = (res.body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) return null;
    const found = (data as unknown[]).find((r) => r !== null && typeof r === 'object' && (r as Record<string, unknown>)['telnyx_call_control_id'] === callControlId) as
      | Record<string, unknown>
      | undefined;
    if (!found) return null;
    const callSec = secondsOf(found['call_sec']);
    return {
      call_control_id: callControlId,
      direction: directionOf(found['direction']),
      from: stringField(found, 'cli'),
      to: stringField(found, 'cld'),
      started_at: stringField(found, 'started_at'),
      ended_at: stringField(found, 'finished_at'),
      duration_ms: callSec === null ? null : Math.round(callSec * 1000),
      billed_sec: secondsOf(found['billed_sec']),
      hangup_cause: stringField(found, 'hangup_cause'),
    };
  }

  /**
   * A fresh download URL for the newest completed MP3 recording of a call leg,
   * or null when the provider has none. Telnyx's recording URLs expire 10
   * minutes after the call; its List recordings endpoint
   * (`GET /v2/recordings?filter[call_leg_id]=`, developers.telnyx.com,
   * "List all call recordings") hands out new ones. The URL it returns is
   * pre-signed: it is fetched without the API key.
   */
  async recordingDownloadUrl(callLegId: string): Promise<string | null> {
    const query = `filter[call_leg_id]=${encodeURIComponent(callLegId)}&page[size]=${RECORDINGS_PAGE}`;
    const res = await this.#send('list recordings', 'GET', `/v2/recordings?${query}`, undefined);
    if (!isSuccess(res.status)) throw this.#failure('list recordings', res);
    const data = (res.body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) return null;
    let best: { url: string; at: string } | null = null;
    for (const item of data as unknown[]) {
      if (!item || typeof item !== 'object') continue;
      const r = item as Record<string, unknown>;
      if (r['call_leg_id'] !== callLegId) continue;
      if (r['status'] !== undefined && r['status'] !== 'completed') continue;
      const urls = r['download_urls'];
      const mp3 = urls && typeof urls === 'object' ? (urls as Record<string, unknown>)['mp3'] : undefined;
      if (typeof mp3 !== 'string' || mp3.length === 0 || mp3.length > 2048) continue;
      const at = typeof r['recording_ended_at'] === 'string' ? r['recording_ended_at'] : typeof r['created_at'] === 'string' ? r['created_at'] : '';
      if (best === null || at > best.at) best = { url: mp3, at };
    }
    return best?.url ?? null;
  }

  /**
   * Deletes recordings at the provider, for good (`DELETE /v2/recordings/{id}`,
   * developers.telnyx.com, "Delete a call recording"): the given ids, and every
   * recording filed under the call leg. One that is already gone (404) counts
   * as deleted. Returns the ids deleted. Used when recording is off, so that a
   * recording the provider saved anyway is not kept there either (FAQ-02).
   */
  async deleteRecordings(ids: readonly string[], callLegId: string | null): Promise<string[]> {
    const all = new Set(ids.filter((id) => RECORDING_ID_PATTERN.test(id)));
    if (callLegId !== null) {
      const query = `filter[call_leg_id]=${encodeURIComponent(callLegId)}&page[size]=${RECORDINGS_PAGE}`;
      const res = await this.#send('list recordings', 'GET', `/v2/recordings?${query}`, undefined);
      if (!isSuccess(res.status)) throw this.#failure('list recordings', res);
      const data = (res.body as { data?: unknown } | null)?.data;
      for (const item of Array.isArray(data) ? (data as unknown[]) : []) {
        const r = item && typeof item === 'object' ? (item as Record<string, unknown>) : {};
        if (r['call_leg_id'] === callLegId && typeof r['id'] === 'string' && RECORDING_ID_PATTERN.test(r['id'])) all.add(r['id']);
      }
    }
    const deleted: string[] = [];
    for (const id of all) {
      const res = await this.#send('delete recording', 'DELETE', `/v2/recordings/${encodeURIComponent(id)}`, undefined);
      if (!isSuccess(res.status) && res.status !== 404) throw this.#failure('delete recording', res);
      deleted.push(id);
    }
    return deleted;
  }

  /**
   * The connection's calls not ended (ringing or answered), with their age in seconds: Telnyx's
   * "List all active calls for given connection" (GET /v2/connections/{id}/active_calls,
   * developers.telnyx.com/api-reference/call-information/list-all-active-calls-for-given-connection),
   * page by page (page[number], page[size]). A body that is not a list fails the whole answer:
   * a partial list must not pass for the whole.
   */
  async activeCalls(connectionId: string): Promise<ActiveCall[]> {
    const calls: ActiveCall[] = [];
    for (let page = 1; page <= ACTIVE_CALLS_MAX_PAGES; page += 1) {
      const query = `page[number]=${page}&page[size]=${ACTIVE_CALLS_PAGE}`;
      const res = await this.#send('list active calls', 'GET', `/v2/connections/${encodeURIComponent(connectionId)}/active_calls?${query}`, undefined);
      if (!isSuccess(res.status)) throw this.#failure('list active calls', res);
      const data = (res.body as { data?: unknown } | null)?.data;
      if (!Array.isArray(data)) throw new TtmaError(ErrorCodes.PROVIDER, 'provider list active calls answered without a list', 502);
      for (const item of data as unknown[]) {
        const r = item && typeof item === 'object' ? (item as Record<string, unknown>) : null;
        const id = stringField(r, 'call_control_id');
        if (id !== null) calls.push({ callControlId: id, durationSec: secondsOf(r?.['call_duration']) });
      }
      if (data.length < ACTIVE_CALLS_PAGE) break;
    }
    return calls;
  }

  async getCall(callControlId: string): Promise<ProviderCall> {
    const res = await this.#send('get call', 'GET', callPath(callControlId), undefined);
    if (!isSuccess(res.status)) throw this.#failure('get call', res);
    const data = dataOf(res.body);
    const isAlive = data?.['is_alive'];
    return {
      call_control_id: stringField(data, 'call_control_id') ?? callControlId,
      is_alive: typeof isAlive === 'boolean' ? isAlive : null,
    };
  }

  async #send(what: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: object | undefined): Promise<RawResponse> {
    let lastProblem = '';
    /** The provider's own rate limit answered last (and how long it asked us to wait). */
    let limited: { waitMs: number | null } | null = null;
    let waitMs = 0;
    let attempts = 0;
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
      if (attempt > 1) await sleep(waitMs);
      attempts = attempt;
      waitMs = this.#backoffMs * attempt;
      limited = null;
      let response: TransportResponse;
      try {
        response = await this.#transport.request(
          method,
          new URL(`${this.#baseUrl}${path}`),
          {
            authorization: `Bearer ${this.#apiKey}`,
            accept: 'application/json',
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          body ? JSON.stringify(body) : undefined,
          this.#timeoutMs,
        );
      } catch (err) {
        lastProblem = `network error (${this.#scrub(describe(err))})`;
        continue;
      }
      const parsed = parseJson(response.text);
      if (isRetryable(response.status)) {
        lastProblem = `HTTP ${response.status}${codeSuffix(parsed)}`;
        const advised = response.retryAfterMs ?? null;
        if (response.status === 429) limited = { waitMs: advised };
        if (advised !== null) {
          // Retrying sooner than the provider asked only spends the budget again; a wait longer
          // than we may take is not taken: the caller hears "slow down" now instead.
          if (advised > this.#maxAdvisedWaitMs) break;
          waitMs = Math.max(waitMs, advised);
        }
        continue;
      }
      return { status: response.status, body: parsed };
    }
    if (limited) {
      const after = limited.waitMs === null ? '' : ` (it asks for ${Math.ceil(limited.waitMs / 1000)} s)`;
      throw new TtmaError(ErrorCodes.RATE_LIMITED, this.#scrub(`provider ${what}: the provider's rate limit was reached${after}; retry later`), 429);
    }
    throw new TtmaError(
      ErrorCodes.PROVIDER,
      this.#scrub(`provider ${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${lastProblem}`),
      502,
    );
  }

  /** A new key (from the vault's next version) for every request from now on; requests in flight keep theirs. */
  rotateApiKey(key: string): void {
    checkApiKey(key);
    if (key === this.#apiKey) return;
    this.#previousKey = this.#apiKey;
    this.#apiKey = key;
  }

  #failure(what: string, res: RawResponse): ProviderRefusedError {
    return new ProviderRefusedError(this.#scrub(`provider ${what} refused: HTTP ${res.status}${codeSuffix(res.body)}`), res.status);
  }

  /** Belt and braces: our messages never include the key, but make sure. */
  #scrub(text: string): string {
    return redactSecrets(text, this.#previousKey ? [this.#apiKey, this.#previousKey] : [this.#apiKey]);
  }
}

function checkApiKey(key: string): void {
  if (!key || /\s/.test(key)) throw new TtmaError(ErrorCodes.CONFIG, 'provider API key is empty or contains whitespace');
}

/**
 * The provider answered, and not with success (nor a status worth retrying):
 * the command was not carried out. Unlike a timeout or a run of 5xx, where it
 * may have been.
 */
export class ProviderRefusedError extends TtmaError {
  readonly providerStatus: number;

  constructor(message: string, providerStatus: number, code: ErrorCode = ErrorCodes.PROVIDER, status = providerStatus === 404 ? 404 : 502) {
    super(code, message, status);
    this.providerStatus = providerStatus;
  }
}

/**
 * The provider refused a command because the call is over (422 code 90018):
 * the caller hung up first. Answered 409 TTMA_ERR_CALL_ENDED, logged at info;
 * the call ends through its own hang-up webhook.
 */
export class CallEndedError extends ProviderRefusedError {
  constructor(message: string) {
    super(message, 422, ErrorCodes.CALL_ENDED, 409);
  }
}

function callPath(callControlId: string): string {
  return `/v2/calls/${encodeURIComponent(callControlId)}`;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 429;
}

function parseJson(text: string): unknown {
  try {
    if (text.length === 0 || text.length > MAX_RESPONSE_BYTES) return null;
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function providerCodes(body: unknown): string[] {
  if (!body || typeof body !== 'object') return [];
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  return errors
    .map((e: unknown) => (e && typeof e === 'object' ? (e as { code?: unknown }).code : undefined))
    .filter((code): code is string | number => typeof code === 'string' || typeof code === 'number')
    .map(String);
}

/** ` code 90018 "Call has already ended"`: the provider's code and title, bounded. */
function codeSuffix(body: unknown): string {
  const codes = providerCodes(body);
  if (codes.length === 0) return '';
  const errors = (body as { errors: unknown[] }).errors;
  const first = errors[0] as { title?: unknown } | undefined;
  const title = typeof first?.title === 'string' ? ` "${first.title.slice(0, 120)}"` : '';
  return ` code ${codes.slice(0, 3).join(',')}${title}`;
}

function dataOf(body: unknown): Record<string, unknown> | null {
  if (!body || typeof body !== 'object') return null;
  const data = (body as { data?: unknown }).data;
  return data && typeof data === 'object' ? (data as Record<string, unknown>) : null;
}

function stringField(data: Record<string, unknown> | null, key: string): string | null {
  const value = data?.[key];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** A count of seconds: a number, or its digits as a string (JSON APIs send either); null otherwise. */
function secondsOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const own = (err as { code?: unknown }).code;
    if (typeof own === 'string') return `${err.name}: ${own}`;
    const cause = (err as { cause?: unknown }).cause;
    const causeCode = cause && typeof cause === 'object' ? (cause as { code?: unknown }).code : undefined;
    return typeof causeCode === 'string' ? `${err.name}: ${causeCode}` : err.name;
  }
  return 'unknown';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
