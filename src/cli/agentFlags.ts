/**
 * The agent flags of `ttma gateway` (and `ttma demo`, which passes them on):
 * --agent echo|realtime|openclaw|ws and the URL options each needs. Secrets
 * (realtime API key, OpenClaw gateway token, ws agent token) come from files.
 * Each maps to an `agent.*` key of the config file (src/configFile/gatewaySettings.ts).
 */
export const AGENT_FLAGS = {
  agent: { type: 'string' },
  'agent-url': { type: 'string' },
  'agent-model': { type: 'string' },
  'agent-voice': { type: 'string' },
  'agent-key-file': { type: 'string' },
  'agent-format': { type: 'string' },
  'openclaw-url': { type: 'string' },
  'openclaw-token-file': { type: 'string' },
  'openclaw-agent': { type: 'string' },
  'stt-url': { type: 'string' },
  'stt-model': { type: 'string' },
  'tts-url': { type: 'string' },
  'tts-model': { type: 'string' },
  'tts-voice': { type: 'string' },
} as const;
