/**
 * Provider wire protocol (Telnyx Call Control, media streaming), shared by the
 * simulator, the gateway and the platform. DESIGN.md section 3a is the contract.
 * Types only plus header names: no behaviour lives here.
 */

export const HEADER_SIGNATURE = 'telnyx-signature-ed25519';
export const HEADER_TIMESTAMP = 'telnyx-timestamp';
export const HEADER_STREAM_TOKEN = 'x-telnyx-streaming-auth-token';

/** Webhook timestamp tolerance, either way (Telnyx SDKs use 300 s). */
export const WEBHOOK_TOLERANCE_SEC = 300;

export type CallDirection = 'incoming' | 'outgoing';

/** A call_control_id as the gateway accepts it in a path or a list (the provider's ids are letters, digits and `:_-.`). */
export const CALL_ID_PATTERN = /^[A-Za-z0-9:_\-.]{1,128}$/;

export type WebhookEventType =
  | 'call.initiated'
  | 'call.answered'
  | 'call.hangup'
  | 'call.bridged'
  | 'call.dtmf.received'
  | 'streaming.started'
  | 'streaming.stopped'
  | 'streaming.failed'
  | 'call.recording.saved';

/**
 * A webhook's payload. Not every event names the call's facts: `direction` is
 * on `call.initiated` only; `from`/`to` also on `call.answered`, `call.hangup`
 * and `call.dtmf.received`; `streaming.*` and `call.recording.saved` carry
 * neither (developers.telnyx.com/api-reference/callbacks/call-initiated,
 * .../call-hangup, .../call-recording-saved, .../call-streaming-started).
 */
export interface CallPayload {
  call_control_id: string;
  call_leg_id: string;
  call_session_id: string;
  connection_id: string;
  client_state?: string | null;
  from?: string;
  to?: string;
  direction?: CallDirection;
  state?: string;
  start_time?: string;
  end_time?: string;
  hangup_cause?: string;
  hangup_source?: string;
  digit?: string;
  stream_url?: string;
  failure_reason?: string;
  [extra: string]: unknown;
}

export interface WebhookEnvelope {
  data: {
    record_type: 'event';
    event_type: WebhookEventType | string;
    id: string;
    occurred_at: string;
    payload: CallPayload;
  };
  meta: { attempt: number; delivered_to: string };
}

export type MediaEncoding = 'PCMU' | 'PCMA' | 'G722' | 'OPUS' | 'L16' | 'audio/x-mulaw';

export interface MediaFormat {
  encoding: MediaEncoding | string;
  sample_rate: number;
  channels: number;
}

/** Frames the provider sends on the media WebSocket. Counters are strings. */
export type ProviderMediaFrame =
  | { event: 'connected'; version: string }
  | {
      event: 'start';
      sequence_number: string;
      stream_id: string;
      start: {
        call_control_id: string;
        call_session_id: string;
        from: string;
        to: string;
        client_state?: string | null;
        custom_parameters?: Record<string, string>;
        media_format: MediaFormat;
      };
    }
  | {
      event: 'media';
      sequence_number: string;
      stream_id: string;
      media: { track: 'inbound' | 'outbound'; chunk: string; timestamp: string; payload: string };
    }
  | { event: 'dtmf'; sequence_number?: string; stream_id: string; dtmf: { digit: string } }
  | { event: 'mark'; sequence_number?: string; stream_id: string; mark: { name: string } }
  | { event: 'stop'; sequence_number?: string; stream_id: string; stop: { call_control_id: string } }
  | { event: 'error'; stream_id?: string; error: { title: string; code: number; detail: string } };

/** Frames the gateway sends to the provider on the media WebSocket. */
export type GatewayMediaFrame =
  | { event: 'media'; media: { payload: string } }
  | { event: 'mark'; mark: { name: string } }
  | { event: 'clear' };

/**
 * `stream_bidirectional_sampling_rate`: the rate the provider takes the return
 * leg's RTP payloads to be at. Telnyx documents these values and a default of
 * 8000 when the field is absent ("Bidirectional Stream Sampling Rate",
 * developers.telnyx.com/api-reference/call-commands/streaming-start; the dial
 * and answer commands take the same field).
 */
export const BIDIRECTIONAL_SAMPLING_RATES = [8000, 16000, 22050, 24000, 48000] as const;
export type BidirectionalSamplingRate = (typeof BIDIRECTIONAL_SAMPLING_RATES)[number];
export const DEFAULT_BIDIRECTIONAL_SAMPLING_RATE: BidirectionalSamplingRate = 8000;

/** Body of `POST /v2/calls` (dial). */
export interface DialRequest {
  connection_id: string;
  from: string;
  to: string;
  stream_url?: string;
  stream_track?: 'inbound_track' | 'outbound_track' | 'both_tracks';
  stream_codec?: string;
  stream_bidirectional_mode?: 'rtp' | 'mp3';
  stream_bidirectional_codec?: string;
  stream_bidirectional_sampling_rate?: BidirectionalSamplingRate;
  stream_auth_token?: string;
  client_state?: string;
  command_id?: string;
  timeout_secs?: number;
  time_limit_secs?: number;
}

/** Body of `POST /v2/calls/{id}/actions/answer`. */
export interface AnswerRequest {
  stream_url?: string;
  stream_track?: 'inbound_track' | 'outbound_track' | 'both_tracks';
  stream_codec?: string;
  stream_bidirectional_mode?: 'rtp' | 'mp3';
  stream_bidirectional_codec?: string;
  stream_bidirectional_sampling_rate?: BidirectionalSamplingRate;
  stream_auth_token?: string;
  client_state?: string;
  command_id?: string;
}

/** Provider error body: `{"errors":[{"code":"90018","title":...,"detail":...}]}`. */
export interface ProviderErrorBody {
  errors: Array<{ code: string; title: string; detail?: string }>;
}

/** The provider's "call has already ended" error code. */
export const PROVIDER_CODE_CALL_ENDED = '90018';

/**
 * The simulator's own record of a call (its call reports carry it). Its REST
 * API serves it reshaped as Telnyx's detail record, once the call has ended
 * (`GET /v2/detail_records`, src/sim/detailRecords.ts).
 */
export interface CallDetailRecord {
  call_control_id: string;
  call_session_id: string;
  connection_id: string;
  direction: CallDirection;
  from: string;
  to: string;
  started_at: string;
  answered_at: string | null;
  ended_at: string | null;
  /** Whole seconds from answer to end (0 if never answered), as providers bill. */
  duration_secs: number;
  /** Milliseconds from answer to end, for reconciliation. */
  duration_ms: number;
  hangup_cause: string | null;
  hangup_source: string | null;
}
