/**
 * Which agent a call talks to and how to reach it. Plain data: it crosses
 * to the media worker in the `call.open` message. Secrets in here (API key,
 * gateway token) are read from files by the CLI and never logged.
 */

/** Where an OpenAI-compatible HTTP service lives (OpenClaw, STT, TTS). */
export interface HttpEndpoint {
  /** Base URL, e.g. http://127.0.0.1:18789 ; paths are appended. */
  baseUrl: string;
  /** Bearer token, or '' for none. */
  token: string;
}

export interface OpenClawTarget extends HttpEndpoint {
  /** OpenClaw agent id: sent as model "openclaw/<agentId>". */
  agentId: string;
}

export interface BargeInConfig {
  /** Caller level that counts as speech, dBFS (default -35). */
  thresholdDbfs: number;
  /** Speech must last this long before it interrupts the agent (default 200 ms). */
  minSpeechMs: number;
}

export type AgentConfig =
  | { kind: 'echo' }
  | { kind: 'ws'; url: string; token: string; bargeIn: BargeInConfig }
  | {
      kind: 'realtime';
      /** wss://api.openai.com/v1/realtime or a local server speaking the protocol. */
      url: string;
      model: string;
      voice: string;
      apiKey: string;
      /** Audio both ways: PCM16 24 kHz, or G.711 u-law 8 kHz. */
      format: 'pcm16' | 'g711_ulaw';
      instructions: string;
      /** consult_agent asks this OpenClaw agent; null: the tool is not offered. */
      consult: OpenClawTarget | null;
      /** Play the "one moment" cue when a consult takes longer than this (1500 ms). */
      cueAfterMs: number;
      /**
       * E.164 numbers the model may transfer the caller to (the transfer_call
       * tool, offered only when this is not empty; any other number is refused
       * before the platform is asked).
       */
      transferTargets: string[];
      /** Offer the send_dtmf tool (key presses toward the far end, e.g. an IVR on an outbound call). */
      dtmf: boolean;
      /**
       * The server transcribes the caller with this model ('' : not at all).
       * A reopened session is then told the caller's words too, not only the agent's.
       */
      transcriptionModel: string;
    }
  | {
      kind: 'openclaw';
      chat: OpenClawTarget;
      stt: HttpEndpoint & { model: string };
      tts: HttpEndpoint & { model: string; voice: string };
      /** Stable session key per caller number, or per call. */
      session: 'caller' | 'call';
      /** Spoken when the call starts; '' for none. */
      greeting: string;
      bargeIn: BargeInConfig;
      /** Quiet that ends a caller turn (default 600 ms). */
      turnEndMs: number;
    };

export type AgentKind = AgentConfig['kind'];
export const AGENT_KINDS: readonly AgentKind[] = ['echo', 'realtime', 'openclaw', 'ws'];

export const DEFAULT_BARGE_IN: BargeInConfig = { thresholdDbfs: -35, minSpeechMs: 200 };
export const DEFAULT_CUE_AFTER_MS = 1500;
export const OPENCLAW_DEFAULT_URL = 'http://127.0.0.1:18789';
