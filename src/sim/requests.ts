/**
 * Validation of Call Control request bodies at the edge (once): inner code
 * gets typed values. Refusals are 422 with Telnyx-style codes.
 */
import { BIDIRECTIONAL_SAMPLING_RATES, DEFAULT_BIDIRECTIONAL_SAMPLING_RATE } from '../wire/telnyx.js';
import { isSimCodec, type SimCodec } from './codecs.js';
import { PROVIDER_CODES } from './constants.js';
import { ProviderApiError } from './ProviderApiError.js';
import { rateFitsCodec, ratesFor } from './returnLeg.js';
import type { DtmfEvent, StreamRequest, TransferRequest } from './SimCall.js';

/** E.164: a plus, then up to 15 digits, the first not zero (ITU-T E.164). */
const E164_PATTERN = /^\+[1-9]\d{1,14}$/;
const DTMF_PATTERN = /^[0-9*#A-D]$/;
const MAX_STRING = 4096;
const MAX_DTMF_EVENTS = 256;
/** Longest simulated call: an hour. */
export const MAX_CALL_SECONDS = 3600;

export type Body = Record<string, unknown>;

export interface DialParams {
  connectionId: string;
  from: string;
  to: string;
  stream: StreamRequest | undefined;
  clientState: string | null;
  commandId: string | undefined;
  noAnswerTimeoutMs: number | undefined;
  timeLimitMs: number | undefined;
}

export interface StreamParams {
  stream: StreamRequest | undefined;
  clientState: string | undefined;
  commandId: string | undefined;
}

export interface CommandParams {
  clientState: string | undefined;
  commandId: string | undefined;
}

export interface InboundParams {
  from: string;
  to: string;
  durationMs: number;
  codec: SimCodec;
  seed: number | undefined;
  dtmf: DtmfEvent[];
  /** How long this call rings unanswered before the caller gives up; default: the simulator's. */
  answerTimeoutMs?: number;
}

/** A caller waits at most this long for an answer: long enough for a slow gateway start, still bounded. */
export const MAX_ANSWER_TIMEOUT_SECONDS = 120;

export function invalidParam(field: string, detail: string, code: string = PROVIDER_CODES.BAD_REQUEST): ProviderApiError {
  return new ProviderApiError(422, code, 'Invalid parameter', `${field}: ${detail}`);
}

export function asBody(value: unknown): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProviderApiError(422, PROVIDER_CODES.BAD_REQUEST, 'Bad Request', 'the request body must be a JSON object');
  }
  return value as Body;
}

export function e164(body: Body, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) {
    throw new ProviderApiError(422, PROVIDER_CODES.MISSING_PARAMETER, 'Missing required parameter', `${field} is required`);
  }
  if (typeof value !== 'string' || !E164_PATTERN.test(value)) {
    throw invalidParam(field, 'must be a phone number in +E.164 format, like +15551234567', PROVIDER_CODES.NOT_E164);
  }
  return value;
}

function optionalString(body: Body, field: string, maxLength = MAX_STRING): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParam(field, 'must be a string');
  if (value.length > maxLength) throw invalidParam(field, `must be at most ${maxLength} characters`);
  return value;
}

function optionalInteger(body: Body, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParam(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function streamCodec(body: Body, field: string): SimCodec | undefined {
  const value = optionalString(body, field, 32);
  if (value === undefined || value === 'default') return undefined;
  if (isSimCodec(value)) return value;
  // The provider streams in the call's codec when it can't honour the request:
  // the gateway must decode by the start frame's media_format.
  return undefined;
}

function bidirectionalCodec(body: Body): SimCodec | undefined {
  const value = optionalString(body, 'stream_bidirectional_codec', 32);
  if (value === undefined) return undefined;
  if (isSimCodec(value)) return value;
  throw invalidParam('stream_bidirectional_codec', `the simulator decodes PCMU, PCMA, G722, L16 and OPUS only, not ${JSON.stringify(value)}`);
}

/** `stream_bidirectional_sampling_rate`: one of the documented values (src/sim/returnLeg.ts). */
function bidirectionalRate(body: Body): number | undefined {
  const value = body['stream_bidirectional_sampling_rate'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !(BIDIRECTIONAL_SAMPLING_RATES as readonly number[]).includes(value)) {
    throw invalidParam('stream_bidirectional_sampling_rate', `must be one of ${BIDIRECTIONAL_SAMPLING_RATES.join(', ')}`, PROVIDER_CODES.INVALID_ENUM);
  }
  return value;
}

/**
 * The return leg's codec and rate. A declared rate the codec cannot be played at
 * is refused when the request names the codec (src/sim/returnLeg.ts says why);
 * without a rate, the documented default applies.
 */
function returnLeg(body: Body, streamCodecAsked: SimCodec | undefined): { codec: SimCodec | undefined; rate: number } {
  const codec = bidirectionalCodec(body);
  const declared = bidirectionalRate(body);
  const known = codec ?? streamCodecAsked;
  if (declared !== undefined && known !== undefined && !rateFitsCodec(known, declared)) {
    throw invalidParam('stream_bidirectional_sampling_rate', `${declared} does not fit ${known} (it takes ${ratesFor(known).join(', ')})`);
  }
  return { codec, rate: declared ?? DEFAULT_BIDIRECTIONAL_SAMPLING_RATE };
}

function streamRequest(body: Body, required: boolean): StreamRequest | undefined {
  const url = optionalString(body, 'stream_url', 2000);
  if (url === undefined) {
    if (required) throw new ProviderApiError(422, PROVIDER_CODES.MISSING_PARAMETER, 'Missing required parameter', 'stream_url is required');
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidParam('stream_url', 'must be a wss:// URL', '10003');
  }
  if (parsed.protocol !== 'wss:' && parsed.protocol !== 'ws:') throw invalidParam('stream_url', 'must be a wss:// URL', '10003');
  const mode = optionalString(body, 'stream_bidirectional_mode', 16);
  if (mode !== undefined && mode !== 'rtp') {
    throw invalidParam('stream_bidirectional_mode', `the simulator supports "rtp" only, not ${JSON.stringify(mode)}`);
  }
  const track = optionalString(body, 'stream_track', 32);
  if (track !== undefined && !['inbound_track', 'outbound_track', 'both_tracks'].includes(track)) {
    throw invalidParam('stream_track', 'must be inbound_track, outbound_track or both_tracks');
  }
  const codec = streamCodec(body, 'stream_codec');
  const back = returnLeg(body, codec);
  return {
    url,
    token: optionalString(body, 'stream_auth_token'),
    codec,
    returnCodec: back.codec,
    returnSampleRate: back.rate,
  };
}

export function commandId(body: Body): string | undefined {
  return optionalString(body, 'command_id', 256);
}

export function parseDial(value: unknown): DialParams {
  const body = asBody(value);
  const connectionId = optionalString(body, 'connection_id', 256);
  if (!connectionId) {
    throw new ProviderApiError(422, PROVIDER_CODES.MISSING_PARAMETER, 'Missing required parameter', 'connection_id is required');
  }
  const timeoutSecs = optionalInteger(body, 'timeout_secs', 1, 600);
  const timeLimitSecs = optionalInteger(body, 'time_limit_secs', 1, 14_400);
  return {
    connectionId,
    to: e164(body, 'to'),
    from: e164(body, 'from'),
    stream: streamRequest(body, false),
    clientState: optionalString(body, 'client_state') ?? null,
    commandId: commandId(body),
    noAnswerTimeoutMs: timeoutSecs === undefined ? undefined : timeoutSecs * 1000,
    timeLimitMs: timeLimitSecs === undefined ? undefined : timeLimitSecs * 1000,
  };
}

/** Telnyx's default `timeout_secs` for a transfer (developers.telnyx.com/api/v1/mission-control/call-control-transfer: "Default value: 30"). */
const TRANSFER_TIMEOUT_SECS = 30;

/** `transfer`: timeout_secs 5..120 and time_limit_secs up to 4 h, as Telnyx documents them. */
export function parseTransfer(value: unknown): TransferRequest {
  const body = asBody(value);
  const timeoutSecs = optionalInteger(body, 'timeout_secs', 5, 120) ?? TRANSFER_TIMEOUT_SECS;
  const timeLimitSecs = optionalInteger(body, 'time_limit_secs', 1, 14_400);
  const from = optionalString(body, 'from');
  return {
    to: e164(body, 'to'),
    from: from === undefined ? undefined : e164(body, 'from'),
    targetLegClientState: optionalString(body, 'target_leg_client_state') ?? null,
    noAnswerTimeoutMs: timeoutSecs * 1000,
    timeLimitMs: timeLimitSecs === undefined ? undefined : timeLimitSecs * 1000,
  };
}

export function parseStreamCommand(value: unknown, streamRequired: boolean): StreamParams {
  const body = asBody(value);
  return { stream: streamRequest(body, streamRequired), clientState: optionalString(body, 'client_state'), commandId: commandId(body) };
}

export function parseCommand(value: unknown): CommandParams {
  const body = asBody(value);
  return { clientState: optionalString(body, 'client_state'), commandId: commandId(body) };
}

export function parseInbound(value: unknown): InboundParams {
  const body = asBody(value);
  const seconds = body.seconds;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_CALL_SECONDS) {
    throw invalidParam('seconds', `must be a number of seconds above 0 and at most ${MAX_CALL_SECONDS}`);
  }
  const codec = body.codec ?? 'PCMU';
  if (!isSimCodec(codec)) throw invalidParam('codec', 'must be PCMU, PCMA, G722, L16 or OPUS');
  const seed = body.seed;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    throw invalidParam('seed', 'must be an integer from 0 to 4294967295');
  }
  const answerTimeout = body.answerTimeoutSeconds;
  if (answerTimeout !== undefined && (typeof answerTimeout !== 'number' || !Number.isFinite(answerTimeout) || answerTimeout <= 0 || answerTimeout > MAX_ANSWER_TIMEOUT_SECONDS)) {
    throw invalidParam('answerTimeoutSeconds', `must be a number of seconds above 0 and at most ${MAX_ANSWER_TIMEOUT_SECONDS}`);
  }
  return {
    from: e164(body, 'from'),
    to: e164(body, 'to'),
    durationMs: Math.round(seconds * 1000),
    codec,
    seed,
    dtmf: parseDtmf(body.dtmf, seconds * 1000),
    ...(answerTimeout === undefined ? {} : { answerTimeoutMs: Math.round(answerTimeout * 1000) }),
  };
}

export function parseDtmf(value: unknown, durationMs: number): DtmfEvent[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_DTMF_EVENTS) {
    throw invalidParam('dtmf', `must be an array of at most ${MAX_DTMF_EVENTS} {atMs, digit} objects`);
  }
  const events = value.map((item, i): DtmfEvent => {
    const entry = item as Record<string, unknown> | null;
    const atMs = entry?.atMs;
    const digit = entry?.digit;
    if (typeof atMs !== 'number' || !Number.isFinite(atMs) || atMs < 0 || atMs > durationMs) {
      throw invalidParam(`dtmf[${i}].atMs`, `must be a time in ms within the call (0 to ${durationMs})`);
    }
    if (typeof digit !== 'string' || !DTMF_PATTERN.test(digit)) {
      throw invalidParam(`dtmf[${i}].digit`, 'must be one of 0-9, *, #, A-D');
    }
    return { atMs, digit };
  });
  return events.sort((a, b) => a.atMs - b.atMs);
}

/** send_dtmf's `digits`: 1 to 64 of 0-9, *, #, A-D (w/W pauses are not modelled). */
export function parseDigits(value: unknown): string {
  const digits = asBody(value)['digits'];
  if (typeof digits !== 'string' || !/^[0-9*#A-D]{1,64}$/.test(digits)) {
    throw invalidParam('digits', 'must be 1 to 64 of 0-9, *, #, A-D');
  }
  return digits;
}

/** `page[number]` / `page[size]`: a decimal integer from 1 to max, or the default when absent. */
export function pageParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= max)) throw invalidParam(name, `must be an integer from 1 to ${max}`);
  return value;
}
