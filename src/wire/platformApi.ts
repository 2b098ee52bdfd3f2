/**
 * The gateway <-> platform signalling API (HTTP + JSON). The gateway never
 * holds the provider key: it asks the platform, which checks identity and
 * allowlists and relays to the provider (FAQ-12, FAQ-13).
 *
 * Authentication on every request:
 *   authorization: Bearer <agent secret>
 *   x-ttma-deployment: <deployment id>
 */
export const HEADER_DEPLOYMENT = 'x-ttma-deployment';

export const PLATFORM_PATHS = {
  /** POST, body AnswerCallBody */
  answer: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/answer`,
  /** POST, body HangupCallBody */
  hangup: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/hangup`,
  /** POST, body TransferCallBody: bridge the call to another number (dialling policy applies). */
  transfer: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/transfer`,
  /** POST, body SendDtmfBody */
  sendDtmf: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/send_dtmf`,
  /** POST, body StreamingStartBody: a new media stream for a live call whose stream was lost. */
  streamingStart: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/streaming_start`,
  /** GET -> audio/mpeg (a single byte range may be asked for): the recording of one of the deployment's own calls. */
  recording: (callId: string) => `/v1/signal/calls/${encodeURIComponent(callId)}/recording.mp3`,
  /** POST, body DialCallBody -> DialCallResult */
  dial: '/v1/signal/calls',
  /** GET -> { calls: LiveCallView[] }: the deployment's answered calls that have not ended, and its inbound calls still ringing (a starting gateway takes them over). */
  liveCalls: '/v1/signal/calls?live=1',
  /** GET -> DeploymentUsage: this deployment's minutes against its caps (the gateway's dashboard). */
  usage: '/v1/signal/usage',
  /**
   * GET -> RecordingSetting; POST, body RecordingSetting -> RecordingSettingResult: the
   * deployment's own recording switch (FAQ-02, FAQ-17: "you can turn recording off at any time").
   */
  recordingSetting: '/v1/signal/recording',
  /** POST -> DashboardLink: a one-time sign-in link to the deployment's own dashboard (`ttma dashboard`). */
  dashboardLink: '/v1/signal/dashboard-link',
  /**
   * DELETE [?from=N] -> RecordingsDeleted: one pass over the deployment's kept recordings,
   * deleting at most RECORDINGS_DELETED_PER_PASS here and at the provider; asked again with
   * `from` set to the answer's `next_from` while `more` (FAQ-02: "when it's off, no audio is kept").
   */
  recordings: '/v1/signal/recordings',
} as const;

/** Recordings one DELETE of PLATFORM_PATHS.recordings deletes at most: each is a provider request, and the answer must come in seconds. */
export const RECORDINGS_DELETED_PER_PASS = 50;
/** The largest `from` a pass takes: past any listing the platform keeps (its call records are bounded well below). */
export const RECORDINGS_FROM_MAX = 10_000_000;
/** The refusal (400) for a `from` that recordingsFromOf rejects, the same on every route that takes one. */
export const RECORDINGS_FROM_REFUSAL = `from must be a whole number from 0 to ${RECORDINGS_FROM_MAX}`;

/** A pass's `from` as written in a query (absent: 0); null when it is not a whole number from 0 to RECORDINGS_FROM_MAX. */
export function recordingsFromOf(raw: string | null): number | null {
  if (raw === null) return 0;
  if (!/^\d{1,8}$/.test(raw)) return null;
  const from = Number(raw);
  return from <= RECORDINGS_FROM_MAX ? from : null;
}

export interface RecordingsDeleted {
  /** Recordings deleted by this pass, at the platform (its stored copy) and the provider. */
  deleted: number;
  /** Recordings this pass could not delete (the provider or the storage failed): still kept, tried again by the next pass. */
  failed: number;
  /** More kept recordings than this pass deletes: ask again, from `next_from`. */
  more: boolean;
  /**
   * With `more`: the listing position of the first recording this pass did not try. Passing it as
   * the next pass's `from` moves past this pass's failures, so a run of passes tries each recording
   * once; a pass from 0 tries the failures again.
   */
  next_from?: number;
  /** Calls being recorded right now: their recordings exist once they end (turn recording off to stop them). */
  recording_now: number;
}

export interface DashboardLink {
  /** Path and query on the platform's origin; works once, until expires_at. */
  path: string;
  expires_at: string;
}

export interface RecordingSetting {
  recording: boolean;
}

export interface RecordingSettingResult extends RecordingSetting {
  /** Live calls whose recording was stopped because recording was turned off (0 when turned on). */
  stopped: number;
}

export interface AnswerCallBody {
  stream_url: string;
  stream_auth_token: string;
  /** Codec the gateway wants on the bidirectional leg (PCMU by default). */
  codec?: string;
  client_state?: string;
}

/**
 * A new stream for a call the gateway already answered or dialled (its media
 * socket was lost, for example in a tunnel reconnect): the same checks as an
 * answer's stream, the URL exactly `wss://<tunnel>/v1/media/<call id>`.
 */
export type StreamingStartBody = AnswerCallBody;

export interface HangupCallBody {
  reason?: string;
}

export interface TransferCallBody {
  to: string;
  /** The new leg's ring, 5 to 120 s (default 30, as a dial's). */
  timeout_secs?: number;
  /** The new leg's longest talk, 30 to 14 400 s (default 14 400, as a dial's). */
  time_limit_secs?: number;
}

export interface SendDtmfBody {
  /** 1 to 64 of 0-9, *, #, A-D. */
  digits: string;
}

export interface DialCallBody {
  to: string;
  from?: string;
  stream_url: string;
  stream_auth_token: string;
  codec?: string;
  client_state?: string;
  timeout_secs?: number;
  time_limit_secs?: number;
}

export interface DialCallResult {
  call_control_id: string;
  call_session_id: string;
}

/** Billed minutes (every started minute counts) in the current UTC day and month, and the caps. */
export interface DeploymentUsage {
  caps: { day_minutes: number; month_minutes: number };
  used: { day_minutes: number; month_minutes: number };
}

/** Every refusal: a stable code the gateway logs and the docs explain. */
/** One of the deployment's live calls as the platform recorded it (the provider's times, ISO 8601). */
/**
 * The live list's ringing inbound calls were first seen at most this long
 * ago: an older one's caller has given up, or its hang-up event was lost.
 * Answering such a record is harmless (the provider refuses to answer an
 * ended call) but wasted. Callers rarely wait two minutes; a gateway restart
 * takes about one second (docs/control.md).
 */
export const RINGING_LISTED_WITHIN_MS = 120_000;

export interface LiveCallView {
  call_control_id: string;
  direction: 'incoming' | 'outgoing';
  from: string;
  to: string;
  /**
   * `answered`, or `initiated` for an inbound call still ringing, from a
   * platform that knows `live=1`; an older one ignores it and lists recent
   * calls of any state.
   */
  state: string;
  started_at: string;
  answered_at: string | null;
}

export interface PlatformErrorBody {
  error: { code: string; message: string };
}

export type PlatformOk = { ok: true };
