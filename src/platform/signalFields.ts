/**
 * The shapes of a signalling request's own fields (the ones the allowlists in
 * allowlists.ts do not judge): the call id in the path, client_state, the
 * dial's timers, and the stream part the provider is sent.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import type { BidirectionalSamplingRate } from '../wire/telnyx.js';
import { CALL_ID_PATTERN, type AllowedCodec } from './allowlists.js';
import { isTransferMark } from './transferLegs.js';

/** Telnyx client_state is base64; keep it bounded. */
const CLIENT_STATE_PATTERN = /^[A-Za-z0-9+/=_-]{1,4096}$/;
/** Telnyx Call Control ranges for dial's timeout_secs and time_limit_secs. */
export const DIAL_TIMEOUT_SECS = { min: 5, max: 600 } as const;
const TIME_LIMIT_SECS_MAX = 14_400;
export const TIME_LIMIT_SECS = { min: 30, max: TIME_LIMIT_SECS_MAX } as const;
/**
 * A transfer's new leg is bounded as a dial is, not left to the provider's account defaults: it
 * rings for the dial's default (Telnyx's 30 s) and lasts at most the dial's longest time limit,
 * unless the gateway asks for less. Transfer's own range for the ring is narrower, 5 to 120 s
 * (https://developers.telnyx.com/api-reference/call-commands/transfer-call, timeout_secs).
 */
export const TRANSFER_TIMEOUT_SECS = { min: 5, max: 120 } as const;
export const DEFAULT_RING_SECS = 30;

export interface LegBounds {
  timeoutSecs: number;
  timeLimitSecs: number;
}

/** The bounds a transfer sends: the body's `timeout_secs`/`time_limit_secs` when given, else the dial's. */
export function transferBounds(body: Record<string, unknown>): LegBounds {
  return {
    timeoutSecs: checkIntRange(body['timeout_secs'], 'timeout_secs', TRANSFER_TIMEOUT_SECS) ?? DEFAULT_RING_SECS,
    timeLimitSecs: checkIntRange(body['time_limit_secs'], 'time_limit_secs', TIME_LIMIT_SECS) ?? TIME_LIMIT_SECS.max,
  };
}

/** Longest call a usage report may claim (the provider's time_limit maximum). */
export const MAX_REPORTED_MS = TIME_LIMIT_SECS_MAX * 1000;

export function decodeCallId(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    decoded = '';
  }
  if (!CALL_ID_PATTERN.test(decoded)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'call id in the path is malformed', 400);
  }
  return decoded;
}

export function checkClientState(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || !CLIENT_STATE_PATTERN.test(raw)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'client_state must be base64, at most 4096 characters', 400);
  }
  // The platform's own mark of a transfer's new leg: a call carrying it would not be hung up as a dial nobody owns.
  if (isTransferMark(raw)) throw new TtmaError(ErrorCodes.BAD_REQUEST, 'client_state must not be the platform\'s transfer-leg mark', 400);
  return raw;
}

export function checkIntRange(raw: unknown, name: string, range: { min: number; max: number }): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < range.min || raw > range.max) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `${name} must be a whole number from ${range.min} to ${range.max}`, 400);
  }
  return raw;
}

/**
 * The rate the gateway's audio back is at, for `stream_bidirectional_sampling_rate`.
 * The gateway encodes its return leg at the start frame's rate (src/media/codecs.ts):
 * 8 kHz for G.711, 16 kHz for the wideband codecs (what the provider is asked to
 * stream them at). Telnyx assumes 8000 when the field is absent
 * (developers.telnyx.com/api-reference/call-commands/streaming-start), so a 16 kHz
 * L16 leg sent without it plays at half speed.
 */
export const RETURN_SAMPLING_RATE: Readonly<Record<AllowedCodec, BidirectionalSamplingRate>> = {
  PCMU: 8000,
  PCMA: 8000,
  G722: 16000,
  L16: 16000,
  OPUS: 16000,
};

/** The stream part of an answer or dial: the caller's audio to the gateway and the gateway's back, one codec both ways. */
export function bidirectionalStream(streamUrl: string, token: string, codec: AllowedCodec, clientState: string | undefined) {
  return {
    stream_url: streamUrl,
    stream_auth_token: token,
    stream_track: 'inbound_track' as const,
    stream_codec: codec,
    stream_bidirectional_mode: 'rtp' as const,
    stream_bidirectional_codec: codec,
    stream_bidirectional_sampling_rate: RETURN_SAMPLING_RATE[codec],
    ...(clientState ? { client_state: clientState } : {}),
  };
}

/** The body of a recording switch: exactly `{"recording": true|false}`. */
export function parseRecordingSwitch(body: Record<string, unknown>): boolean {
  const keys = Object.keys(body);
  const extra = keys.find((key) => key !== 'recording');
  if (extra !== undefined) throw new TtmaError(ErrorCodes.BAD_REQUEST, `unknown field "${extra.slice(0, 40)}": the body is {"recording": true|false}`, 400);
  if (typeof body['recording'] !== 'boolean') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'recording must be true or false', 400);
  return body['recording'];
}
