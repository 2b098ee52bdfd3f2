/**
 * The agent flags of `ttma gateway` (and `ttma demo`, which passes them on):
 * --agent echo|realtime|openclaw|ws and the URL options each needs. Secrets
 * (realtime API key, OpenClaw gateway token, ws agent token) come from files.
 */
import { DEFAULT_BARGE_IN, DEFAULT_CUE_AFTER_MS, OPENCLAW_DEFAULT_URL, type AgentConfig } from '../agent/agentConfig.js';
import { ErrorCodes, TtmaError } from '../errors.js';

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

/** Every agent-flag value, all strings (parseArgs' shape). */
export type AgentFlagValues = { [K in keyof typeof AGENT_FLAGS]?: string | undefined };

/** The names of the flags that hold secret files, for the caller to read. */
export const AGENT_SECRET_FLAGS = ['agent-key-file', 'openclaw-token-file'] as const;

export function agentConfigFromFlags(flags: AgentFlagValues, secrets: { agentKey: string; openclawToken: string }): AgentConfig {
  const kind = flags.agent ?? 'echo';
  const need = (flag: keyof AgentFlagValues): string => {
    const value = flags[flag];
    if (!value) throw new TtmaError(ErrorCodes.CLI_USAGE, `--agent ${kind} needs --${flag}`, 2);
    return value;
  };
  const openclaw = { baseUrl: flags['openclaw-url'] ?? OPENCLAW_DEFAULT_URL, token: secrets.openclawToken, agentId: flags['openclaw-agent'] ?? 'main' };
  switch (kind) {
    case 'echo':
      return { kind: 'echo' };
    case 'ws':
      return { kind: 'ws', url: need('agent-url'), token: secrets.agentKey, bargeIn: { ...DEFAULT_BARGE_IN } };
    case 'realtime': {
      const format = flags['agent-format'] ?? 'pcm16';
      if (format !== 'pcm16' && format !== 'g711_ulaw') throw new TtmaError(ErrorCodes.CLI_USAGE, '--agent-format must be pcm16 or g711_ulaw', 2);
      return {
        kind: 'realtime',
        url: flags['agent-url'] ?? 'wss://api.openai.com/v1/realtime',
        model: flags['agent-model'] ?? 'gpt-realtime',
        voice: flags['agent-voice'] ?? 'marin',
        apiKey: secrets.agentKey,
        format,
        instructions: 'You are a helpful voice assistant on a phone call. Keep answers short. Use consult_agent for anything about the caller.',
        consult: flags['openclaw-url'] || secrets.openclawToken ? openclaw : null,
        cueAfterMs: DEFAULT_CUE_AFTER_MS,
      };
    }
    case 'openclaw':
      return {
        kind: 'openclaw',
        chat: openclaw,
        stt: { baseUrl: need('stt-url'), token: secrets.agentKey, model: flags['stt-model'] ?? 'whisper-1' },
        tts: { baseUrl: need('tts-url'), token: secrets.agentKey, model: flags['tts-model'] ?? 'tts-1', voice: flags['tts-voice'] ?? 'alloy' },
        session: 'caller',
        greeting: '',
        bargeIn: { ...DEFAULT_BARGE_IN },
        turnEndMs: 600,
      };
    default:
      throw new TtmaError(ErrorCodes.CLI_USAGE, `--agent must be echo, realtime, openclaw or ws (got "${kind}")`, 2);
  }
}
