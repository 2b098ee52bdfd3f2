/**
 * Simulator constants. Provider error codes follow Telnyx's API error catalog
 * (developers.telnyx.com, "API error codes"); the call-state code is ours where
 * the catalog gives none we could confirm.
 */
import { FRAME_MS } from '../media/constants.js';

export { FRAME_MS };

/** G.711 on the phone side: 8 kHz mono (ITU-T G.711). */
export const SAMPLE_RATE = 8000;
export const SAMPLES_PER_FRAME = (SAMPLE_RATE * FRAME_MS) / 1000;

export const PROVIDER_CODES = {
  MISSING_PARAMETER: '10004',
  NOT_FOUND: '10005',
  UNEXPECTED: '10007',
  AUTH_FAILED: '10009',
  TOO_MANY_REQUESTS: '10011',
  UNSUPPORTED_MEDIA_TYPE: '10014',
  BAD_REQUEST: '10015',
  NOT_E164: '10016',
  INVALID_JSON: '10023',
  /** "Invalid enumerated value" (developers.telnyx.com, Call Control 422 examples). */
  INVALID_ENUM: '10032',
  /** "Call has already ended" (PROVIDER_CODE_CALL_ENDED in src/wire/telnyx.ts). */
  CALL_ENDED: '90018',
  /** The action is not valid in the call's current state (simulator's code). */
  INVALID_CALL_STATE: '90015',
} as const;

export const DEFAULTS = {
  host: '127.0.0.1',
  answerTimeoutMs: 10_000,
  ringMs: 200,
  outboundTalkMs: 5_000,
  /** Silence after the caller's last frame before `stop`, so in-flight echoes are still recorded. */
  tailMs: 200,
  /** Audio kept per call for the echo analysis (both directions), in seconds. */
  recordSeconds: 120,
  /** Ended calls (and their CDRs) kept for the records endpoints. */
  maxEndedCalls: 10_000,
  maxLiveCalls: 10_000,
  connectionId: 'sim-connection',
  bodyLimitBytes: 64 * 1024,
  handshakeTimeoutMs: 5_000,
  webhookTimeoutMs: 5_000,
  webhookAttempts: 3,
  /** Backoff before attempt 2 and 3 (ms). */
  webhookBackoffMs: [100, 300] as readonly number[],
  /** How long stop() waits for calls to wind down and webhooks to drain. */
  stopGraceMs: 3_000,
  /** Echo search window for bestLagCorrelation: 0.5 s at 8 kHz. */
  echoMaxLagSamples: 4000,
  /** Frames sent this late after their planned time count as late sends. */
  lateSendThresholdMs: FRAME_MS / 2,
  /** Clock ticks per frame period: calls are spread over these phases. */
  clockSlotsPerFrame: 4,
  maxPendingMarks: 1024,
  /** Largest message accepted from the gateway on the media socket. */
  maxMediaMessageBytes: 256 * 1024,
} as const;

/** The sim pretends the tunnel edge sits at this documentation address (RFC 5737). */
export const TUNNEL_EDGE_IP = '192.0.2.10';
