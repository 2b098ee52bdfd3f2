/**
 * The settings of `ttma gateway` (and `ttma doctor`, which checks the same
 * configuration): the config file's schema, every key with its default,
 * meaning, environment variable and flag, and how flags, environment, file
 * and defaults combine into a GatewayConfig. docs/configuration.md is the
 * reference for these keys; a test keeps it complete.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_BARGE_IN, DEFAULT_CUE_AFTER_MS, OPENCLAW_DEFAULT_URL, type AgentConfig } from '../agent/agentConfig.js';
import { DEFAULT_MAX_WORKER_LOAD, MEDIA_SOCKET_OWNERS, ON_STOP_MODES, type GatewayConfig } from '../config.js';
import { intFlag } from '../cli/args.js';
import { configProblems, envLayer, inlineSecretEnv, parseSettings, refuseInlineSecrets, sourceOf, type KeySpec, type Layers } from './layers.js';
import { readConfigFile } from './readConfigFile.js';
import { resolveSecretPath, type ResolvedSecret } from './secretFiles.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const CODECS = ['PCMU', 'PCMA', 'G722', 'L16', 'OPUS'] as const;
const upper = (v: unknown) => (typeof v === 'string' ? v.toUpperCase() : v);

const agentSchema = z.strictObject({
  kind: z.enum(['echo', 'realtime', 'openclaw', 'ws']).default('echo'),
  url: z.string().optional(),
  model: z.string().min(1).default('gpt-realtime'),
  voice: z.string().min(1).default('marin'),
  format: z.enum(['pcm16', 'g711_ulaw']).default('pcm16'),
  keyFile: z.string().optional(),
  instructions: z.string().max(8_000).default('You are a helpful voice assistant on a phone call. Keep answers short. Use consult_agent for anything about the caller.'),
  cueAfterMs: int(0, 60_000).default(DEFAULT_CUE_AFTER_MS),
  transferTargets: z.array(z.string()).default([]),
  dtmf: z.boolean().default(false),
  transcriptionModel: z.string().max(100).regex(/^[A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only').default(''),
  openclawUrl: z.string().optional(),
  openclawTokenFile: z.string().optional(),
  openclawAgent: z.string().default('main'),
  sttUrl: z.string().optional(),
  sttModel: z.string().min(1).default('whisper-1'),
  ttsUrl: z.string().optional(),
  ttsModel: z.string().min(1).default('tts-1'),
  ttsVoice: z.string().min(1).default('alloy'),
  session: z.enum(['caller', 'call']).default('caller'),
  greeting: z.string().max(2_000).default(''),
  turnEndMs: int(100, 10_000).default(600),
});

export const gatewaySettingsSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  tunnelPort: int(0, 65_535).default(8080),
  localPort: int(0, 65_535).default(8081),
  workers: int(1, 64).optional(),
  mediaSockets: z.enum(MEDIA_SOCKET_OWNERS).default('worker'),
  onStop: z.enum(ON_STOP_MODES).default('hangup'),
  publicHost: z.string().default(''),
  platformUrl: z.string().default(''),
  deploymentId: z.string().default(''),
  numbers: z.array(z.string()).default([]),
  agentSecretFile: z.string().optional(),
  webhookPublicKeyFile: z.string().optional(),
  maxCalls: int(1, 1_000_000).default(2000),
  maxWorkerLoad: z.number().gt(0).max(1).default(DEFAULT_MAX_WORKER_LOAD),
  codec: z.preprocess(upper, z.enum(CODECS)).default('PCMU'),
  jitterMinDelayMs: int(0, 1000).default(20),
  jitterMaxDelayMs: int(20, 1000).default(200),
  greetingFile: z.string().default(''),
  holdFile: z.string().default(''),
  mediaTokenTtlMs: int(1000, 300_000).default(30_000),
  mailboxFrames: int(2, 100_000).default(50),
  webhookReadTimeoutMs: int(100, 60_000).default(10_000),
  mediaFramesPerSecond: z.number().min(50).max(10_000).default(100),
  mediaFrameBurst: z.number().min(1).max(100_000).default(150),
  bargeIn: z
    .strictObject({
      thresholdDbfs: z.number().gt(-90).lt(0).default(DEFAULT_BARGE_IN.thresholdDbfs),
      minSpeechMs: int(20, 2000).default(DEFAULT_BARGE_IN.minSpeechMs),
    })
    .prefault({}),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  agent: agentSchema.prefault({}),
});

export type GatewaySettings = z.output<typeof gatewaySettingsSchema>;

const secret = (name: string, credential: string, inline: string[], inlineEnv: string[]) => ({ name, credential, inline, inlineEnv });

/** Every key of the gateway's config file. */
export const GATEWAY_KEYS: readonly KeySpec[] = [
  { key: 'host', type: 'string', default: '127.0.0.1', flag: '--host', meaning: 'bind address of both listeners; loopback only (127.0.0.1, ::1, localhost), FAQ-03' },
  { key: 'tunnelPort', type: 'int', default: '8080', env: 'TTMA_TUNNEL_PORT', flag: '--tunnel-port', meaning: 'tunnel-facing listener (only /v1/webhooks/* and /v1/media/*); 0 picks a free port' },
  { key: 'localPort', type: 'int', default: '8081', env: 'TTMA_LOCAL_PORT', flag: '--local-port', meaning: 'local diagnostics listener (/healthz, /debug/status); never reachable through the tunnel, FAQ-04' },
  { key: 'workers', type: 'int', default: 'one per core', env: 'TTMA_WORKERS', flag: '--workers', meaning: 'media worker threads, 1 to 64' },
  { key: 'mediaSockets', type: 'string', default: 'worker', env: 'TTMA_MEDIA_SOCKETS', flag: '--media-sockets', meaning: 'who owns the media WebSockets: worker (every worker listens on the tunnel port, no thread hop; the default) or front (the main thread, frames batched to the workers; isolates a worker stuck in native code, docs/threads.md)' },
  { key: 'onStop', type: 'string', default: 'hangup', env: 'TTMA_ON_STOP', flag: '--on-stop', meaning: 'what stopping the gateway does to live calls: hangup (end them) or handover (leave them up for the next gateway process, which takes them over with new streams: a restart without dropped calls; docs/control.md)' },
  { key: 'publicHost', type: 'string', default: '(required)', env: 'TTMA_PUBLIC_HOST', flag: '--public-host', meaning: 'the registered tunnel hostname the provider reaches this gateway at (stream URLs use it)' },
  { key: 'platformUrl', type: 'string', default: '(required)', env: 'TTMA_PLATFORM_URL', flag: '--platform-url', meaning: 'the platform: https://, or http:// to a loopback platform only' },
  { key: 'deploymentId', type: 'string', default: '(required)', env: 'TTMA_DEPLOYMENT_ID', flag: '--deployment-id', meaning: 'this deployment\'s id at the platform (a-z 0-9 -, 3 to 63)' },
  { key: 'numbers', type: 'list', default: '(required)', env: 'TTMA_NUMBERS', flag: '--number (repeat)', meaning: 'E.164 numbers this gateway answers, exact match; the environment variable is comma-separated' },
  { key: 'agentSecretFile', type: 'string', default: 'systemd credential agent-secret', env: 'TTMA_AGENT_SECRET_FILE', flag: '--agent-secret-file', meaning: 'file holding the agent secret that authenticates this gateway to the platform (required)', secret: secret('agentSecret', 'agent-secret', ['agentSecret'], ['TTMA_AGENT_SECRET']) },
  { key: 'webhookPublicKeyFile', type: 'string', default: 'systemd credential webhook-public-key, else none', env: 'TTMA_WEBHOOK_PUBLIC_KEY_FILE', flag: '--webhook-public-key-file', meaning: 'file holding the provider\'s Ed25519 webhook public key (base64); without it every webhook is refused (fail closed, FAQ-05/06)', secret: secret('webhookPublicKey', 'webhook-public-key', ['webhookPublicKey'], ['TTMA_WEBHOOK_PUBLIC_KEY']) },
  { key: 'maxCalls', type: 'int', default: '2000', env: 'TTMA_MAX_CALLS', flag: '--max-calls', meaning: 'admission limit for concurrent calls' },
  { key: 'maxWorkerLoad', type: 'number', default: String(DEFAULT_MAX_WORKER_LOAD), meaning: 'measured-load admission: no new call while every media worker was busy more than this share of the last second (above 0, at most 1; 1 turns it off)' },
  { key: 'codec', type: 'string', default: 'PCMU', env: 'TTMA_CODEC', flag: '--codec', meaning: 'codec asked for on the bidirectional leg: PCMU, PCMA, G722, L16 or OPUS' },
  { key: 'jitterMinDelayMs', type: 'int', default: '20', flag: '--jitter-min-ms', meaning: 'caller-audio jitter buffer: lowest target delay, ms (0 passes a clean stream through undelayed)' },
  { key: 'jitterMaxDelayMs', type: 'int', default: '200', flag: '--jitter-max-ms', meaning: 'caller-audio jitter buffer: highest target delay, ms (at least 20 and jitterMinDelayMs)' },
  { key: 'greetingFile', type: 'string', default: '(none)', flag: '--greeting-file', meaning: 'audio played to every caller when the call\'s media starts, before the agent: WAV, or MP3/Ogg/WebM/FLAC/M4A when ffmpeg is installed (docs/media.md)' },
  { key: 'holdFile', type: 'string', default: '(the built-in cue)', flag: '--hold-file', meaning: 'audio played while the realtime agent consults (replaces the "one moment" cue); same formats as greetingFile' },
  { key: 'mediaTokenTtlMs', type: 'int', default: '30000', meaning: 'an unused one-time media token expires after this long, ms (FAQ-07)' },
  { key: 'mailboxFrames', type: 'int', default: '50', meaning: 'bounded media mailbox per call: frames kept before the oldest is dropped' },
  { key: 'webhookReadTimeoutMs', type: 'int', default: '10000', meaning: 'a webhook body must arrive within this long, ms (slow-body attacks)' },
  { key: 'mediaFramesPerSecond', type: 'number', default: '100', meaning: 'media frames a call may send per second, sustained (a call sends 50)' },
  { key: 'mediaFrameBurst', type: 'number', default: '150', meaning: 'frames a call may send at once above that rate' },
  { key: 'bargeIn', type: 'object', default: '{}', meaning: 'when the caller\'s voice interrupts the agent (gateway-side detection)' },
  { key: 'bargeIn.thresholdDbfs', type: 'number', default: '-35', meaning: 'caller level that counts as speech, dBFS (-90 to 0, exclusive)' },
  { key: 'bargeIn.minSpeechMs', type: 'int', default: '200', meaning: 'speech must last this long before it interrupts the agent, ms' },
  { key: 'logLevel', type: 'string', default: 'info', env: 'TTMA_LOG_LEVEL', flag: '--log-level', meaning: 'log level: fatal, error, warn, info, debug, trace or silent' },
  { key: 'agent', type: 'object', default: '{"kind":"echo"}', meaning: 'the agent every call talks to (docs/agents.md)' },
  { key: 'agent.kind', type: 'string', default: 'echo', env: 'TTMA_AGENT', flag: '--agent', meaning: 'echo, realtime, openclaw or ws' },
  { key: 'agent.url', type: 'string', default: 'realtime: wss://api.openai.com/v1/realtime; ws: (required)', env: 'TTMA_AGENT_URL', flag: '--agent-url', meaning: 'the agent\'s WebSocket URL (wss://, or ws:// to loopback)' },
  { key: 'agent.model', type: 'string', default: 'gpt-realtime', flag: '--agent-model', meaning: 'realtime: the model' },
  { key: 'agent.voice', type: 'string', default: 'marin', flag: '--agent-voice', meaning: 'realtime: the voice' },
  { key: 'agent.format', type: 'string', default: 'pcm16', flag: '--agent-format', meaning: 'realtime: audio both ways, pcm16 (24 kHz) or g711_ulaw' },
  { key: 'agent.keyFile', type: 'string', default: 'systemd credential agent-key, else none', env: 'TTMA_AGENT_KEY_FILE', flag: '--agent-key-file', meaning: 'file holding the realtime API key, the ws agent token, or the STT/TTS bearer token (openclaw)', secret: secret('agentKey', 'agent-key', ['agent.key', 'agent.apiKey', 'agent.token'], ['TTMA_AGENT_KEY']) },
  { key: 'agent.instructions', type: 'string', default: '(a short phone-assistant prompt)', meaning: 'realtime: the session instructions' },
  { key: 'agent.cueAfterMs', type: 'int', default: '1500', meaning: 'realtime: play the "one moment" cue when a consult takes longer than this, ms' },
  { key: 'agent.transferTargets', type: 'list', default: '[] (no transfer tool)', meaning: 'realtime: E.164 numbers the model may transfer the caller to (the transfer_call tool, offered only when set; at most 20; the platform\'s dialling policy applies too)' },
  { key: 'agent.dtmf', type: 'bool', default: 'false', meaning: 'realtime: offer the send_dtmf tool (key presses toward the far end, e.g. an IVR on an outbound call)' },
  { key: 'agent.transcriptionModel', type: 'string', default: '\'\' (off)', meaning: 'realtime: the server transcribes the caller with this model (e.g. gpt-4o-mini-transcribe); a session reopened mid-call is then told the caller\'s words as well as the agent\'s (docs/agents.md)' },
  { key: 'agent.openclawUrl', type: 'string', default: OPENCLAW_DEFAULT_URL, env: 'TTMA_OPENCLAW_URL', flag: '--openclaw-url', meaning: 'OpenClaw gateway (openclaw agent; realtime consult_agent when set)' },
  { key: 'agent.openclawTokenFile', type: 'string', default: 'systemd credential openclaw-token, else none', env: 'TTMA_OPENCLAW_TOKEN_FILE', flag: '--openclaw-token-file', meaning: 'file holding the OpenClaw gateway token', secret: secret('openclawToken', 'openclaw-token', ['agent.openclawToken'], ['TTMA_OPENCLAW_TOKEN']) },
  { key: 'agent.openclawAgent', type: 'string', default: 'main', flag: '--openclaw-agent', meaning: 'OpenClaw agent id (model "openclaw/<id>")' },
  { key: 'agent.sttUrl', type: 'string', default: '(required for openclaw)', flag: '--stt-url', meaning: 'openclaw: speech-to-text service base URL' },
  { key: 'agent.sttModel', type: 'string', default: 'whisper-1', flag: '--stt-model', meaning: 'openclaw: speech-to-text model' },
  { key: 'agent.ttsUrl', type: 'string', default: '(required for openclaw)', flag: '--tts-url', meaning: 'openclaw: text-to-speech service base URL' },
  { key: 'agent.ttsModel', type: 'string', default: 'tts-1', flag: '--tts-model', meaning: 'openclaw: text-to-speech model' },
  { key: 'agent.ttsVoice', type: 'string', default: 'alloy', flag: '--tts-voice', meaning: 'openclaw: text-to-speech voice' },
  { key: 'agent.session', type: 'string', default: 'caller', meaning: 'openclaw: one session per far party\'s number (the caller, or the callee on outbound calls; a withheld number gets one per call), or per call' },
  { key: 'agent.greeting', type: 'string', default: '(none)', meaning: 'openclaw: spoken when the call starts' },
  { key: 'agent.turnEndMs', type: 'int', default: '600', meaning: 'openclaw: quiet that ends a caller turn, ms' },
];

/** What `ttma gateway` flags parse into (parseArgs' shape). */
export type GatewayFlagInput = Record<string, string | string[] | boolean | undefined>;

const INT_FLAGS: Record<string, [number, number]> = {
  '--tunnel-port': [0, 65_535],
  '--local-port': [0, 65_535],
  '--workers': [1, 64],
  '--max-calls': [1, Number.MAX_SAFE_INTEGER],
  '--jitter-min-ms': [0, 1000],
  '--jitter-max-ms': [20, 1000],
};

/** Flags by key; numbers keep their usage errors (exit 2) from before the config file existed. */
function flagLayer(specs: readonly KeySpec[], flags: GatewayFlagInput): Layers['flags'] {
  const out: Layers['flags'] = new Map();
  for (const spec of specs) {
    if (!spec.flag) continue;
    const name = spec.flag.split(' ')[0]!;
    const raw = flags[name.slice(2)];
    if (raw === undefined) continue;
    const range = INT_FLAGS[name];
    const value = range && typeof raw === 'string' ? intFlag(name, raw, 0, range[0], range[1]) : raw;
    out.set(spec.key, { value, name });
  }
  return out;
}

export interface LoadedGatewaySettings {
  settings: GatewaySettings & { workers: number };
  layers: Layers;
  /** Secret files, resolved (paths only; nothing read yet). */
  secrets: Record<'agentSecret' | 'webhookPublicKey' | 'agentKey' | 'openclawToken', ResolvedSecret & { key: string }>;
  /** Secret-carrying environment variables that are set and ignored. */
  ignoredSecretEnv: string[];
  sourceOf(key: string): string;
}

/**
 * Flags > environment > config file (`--config`, or TTMA_CONFIG) > defaults.
 * Throws TTMA_ERR_CONFIG listing every bad key; reads no secret.
 */
export function loadGatewaySettings(flags: GatewayFlagInput, env: NodeJS.ProcessEnv = process.env): LoadedGatewaySettings {
  const filePath = (flags['config'] as string | undefined) ?? (env['TTMA_CONFIG'] || null);
  const file = filePath ? readConfigFile(filePath) : null;
  if (file && filePath) refuseInlineSecrets(file, GATEWAY_KEYS, filePath);
  const layers: Layers = { file, filePath, env: envLayer(GATEWAY_KEYS, env), flags: flagLayer(GATEWAY_KEYS, flags) };
  const parsed = parseSettings(gatewaySettingsSchema, layers, GATEWAY_KEYS);
  const settings = { ...parsed, workers: parsed.workers ?? Math.max(1, Math.min(64, availableParallelism())) };
  const resolve = (key: string, configured: string | undefined) => {
    const spec = GATEWAY_KEYS.find((s) => s.key === key)!;
    return { key, ...resolveSecretPath(key, spec.secret!, configured, sourceOf(layers, key), env) };
  };
  return {
    settings,
    layers,
    secrets: {
      agentSecret: resolve('agentSecretFile', settings.agentSecretFile),
      webhookPublicKey: resolve('webhookPublicKeyFile', settings.webhookPublicKeyFile),
      agentKey: resolve('agent.keyFile', settings.agent.keyFile),
      openclawToken: resolve('agent.openclawTokenFile', settings.agent.openclawTokenFile),
    },
    ignoredSecretEnv: inlineSecretEnv(GATEWAY_KEYS, env),
    sourceOf: (key) => sourceOf(layers, key),
  };
}

export interface GatewaySecretValues {
  webhookPublicKey: string | null;
  agentSecret: string;
  agentKey: string;
  openclawToken: string;
}

/** The runtime config from validated settings and the secrets read for them. */
export function gatewayConfigFromSettings(loaded: LoadedGatewaySettings, secrets: GatewaySecretValues): GatewayConfig {
  const s = loaded.settings;
  return {
    host: s.host,
    tunnelPort: s.tunnelPort,
    localPort: s.localPort,
    workers: s.workers,
    publicHost: s.publicHost,
    webhookPublicKey: secrets.webhookPublicKey,
    platformUrl: s.platformUrl,
    deploymentId: s.deploymentId,
    agentSecret: secrets.agentSecret,
    numbers: s.numbers,
    agent: agentFromSettings(loaded, secrets),
    bargeIn: { ...s.bargeIn },
    maxCalls: s.maxCalls,
    maxWorkerLoad: s.maxWorkerLoad,
    mediaTokenTtlMs: s.mediaTokenTtlMs,
    mailboxFrames: s.mailboxFrames,
    jitterMinDelayMs: s.jitterMinDelayMs,
    jitterMaxDelayMs: s.jitterMaxDelayMs,
    greetingFile: s.greetingFile,
    holdFile: s.holdFile,
    codec: s.codec,
    mediaSockets: s.mediaSockets,
    onStop: s.onStop,
    webhookReadTimeoutMs: s.webhookReadTimeoutMs,
    mediaFramesPerSecond: s.mediaFramesPerSecond,
    mediaFrameBurst: s.mediaFrameBurst,
    logLevel: s.logLevel,
  };
}

const REALTIME_HOSTED_URL = 'wss://api.openai.com/v1/realtime';

function hostedRealtime(url: string): boolean {
  try {
    return new URL(url).hostname.toLowerCase() === 'api.openai.com';
  } catch {
    return false;
  }
}

function agentFromSettings(loaded: LoadedGatewaySettings, secrets: GatewaySecretValues): AgentConfig {
  const a = loaded.settings.agent;
  const need = (key: 'url' | 'sttUrl' | 'ttsUrl', flag: string): string => {
    const value = a[key];
    if (!value) throw configProblems(loaded.layers.filePath, [`agent.${key}: is required for agent.kind "${a.kind}" (config key agent.${key} or ${flag}); from ${loaded.sourceOf('agent.kind')}`]);
    return value;
  };
  const openclaw = { baseUrl: a.openclawUrl ?? OPENCLAW_DEFAULT_URL, token: secrets.openclawToken, agentId: a.openclawAgent };
  const bargeIn = { ...loaded.settings.bargeIn };
  switch (a.kind) {
    case 'echo':
      return { kind: 'echo' };
    case 'ws':
      return { kind: 'ws', url: need('url', '--agent-url'), token: secrets.agentKey, bargeIn };
    case 'realtime': {
      const url = a.url ?? REALTIME_HOSTED_URL;
      // The hosted API refuses a session without a key: every call would fail as its agent opens.
      // (A configured file counts: doctor checks settings without reading the key.)
      if (!secrets.agentKey && !loaded.secrets.agentKey.path && hostedRealtime(url)) {
        throw configProblems(loaded.layers.filePath, [`agent.keyFile: is required for ${url} (config key agent.keyFile, --agent-key-file FILE or the systemd credential agent-key); from ${loaded.sourceOf('agent.kind')}`]);
      }
      return {
        kind: 'realtime',
        url,
        model: a.model,
        voice: a.voice,
        apiKey: secrets.agentKey,
        format: a.format,
        instructions: a.instructions,
        consult: a.openclawUrl || secrets.openclawToken ? openclaw : null,
        cueAfterMs: a.cueAfterMs,
        transferTargets: [...a.transferTargets],
        dtmf: a.dtmf,
        transcriptionModel: a.transcriptionModel,
      };
    }
    case 'openclaw':
      return {
        kind: 'openclaw',
        chat: openclaw,
        stt: { baseUrl: need('sttUrl', '--stt-url'), token: secrets.agentKey, model: a.sttModel },
        tts: { baseUrl: need('ttsUrl', '--tts-url'), token: secrets.agentKey, model: a.ttsModel, voice: a.ttsVoice },
        session: a.session,
        greeting: a.greeting,
        bargeIn,
        turnEndMs: a.turnEndMs,
      };
  }
}
