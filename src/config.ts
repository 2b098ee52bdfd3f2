/**
 * Typed gateway configuration, validated once at start. Insecure settings
 * refuse to start (a non-loopback bind address, FAQ-03); a missing webhook
 * key does NOT refuse to start: the gateway runs and rejects every webhook
 * (fail closed, FAQ-05/06), so `ttma doctor` can say why.
 */
import { availableParallelism } from 'node:os';
import { AGENT_KINDS, DEFAULT_BARGE_IN, type AgentConfig, type BargeInConfig } from './agent/agentConfig.js';
import { ErrorCodes, TtmaError } from './errors.js';
import { LOG_LEVELS, defaultLogLevel, type LogLevel } from './log.js';
import { fetchBlockedUrlProblem } from './wire/fetchBlockedPorts.js';

export interface GatewayConfig {
  /** Bind address for both listeners. Loopback only. */
  host: string;
  /** Tunnel-facing listener: only /v1/webhooks/* and /v1/media/*. 0 = any free port. */
  tunnelPort: number;
  /** Local-only listener: diagnostics. 0 = any free port. */
  localPort: number;
  /** Media worker threads (default: one per core). */
  workers: number;
  /**
   * Who owns the media WebSockets: `worker` (the default), each worker's own
   * listener on the shared tunnel port (no thread hop), or `front`, the main
   * thread (frames cross to the workers in batches; it also isolates a worker
   * stuck inside native code, which aborts the process in the worker layout,
   * docs/threads.md).
   */
  mediaSockets: MediaSocketOwner;
  /**
   * What stopping the gateway (SIGTERM) does to live calls: `hangup` (the
   * default) ends them through the platform; `handover` leaves them up at
   * the provider for the next gateway process, which takes them over with
   * new media streams (a restart or an upgrade without dropped calls;
   * docs/control.md, "A gateway restart").
   */
  onStop: OnStop;
  /** The registered tunnel hostname the provider reaches us at (stream URLs use it). */
  publicHost: string;
  /** Provider webhook public key (base64 of 32 raw bytes), or null: fail closed. */
  webhookPublicKey: string | null;
  platformUrl: string;
  deploymentId: string;
  agentSecret: string;
  /** E.164 numbers this gateway answers. Exact match. */
  numbers: string[];
  /** The agent every call talks to (DESIGN 6); secrets in it come from files. */
  agent: AgentConfig;
  /** When the caller's voice interrupts the agent (gateway-side detection). */
  bargeIn: BargeInConfig;
  /** Admission limit for concurrent calls. */
  maxCalls: number;
  /** Measured-load admission: no new call while every media worker was busy more than this share of the last second (1: off). */
  maxWorkerLoad: number;
  /** Unused media tokens expire after this long (DESIGN 3, step 2). */
  mediaTokenTtlMs: number;
  /** Bounded media mailbox per call: frames kept before the oldest is dropped. */
  mailboxFrames: number;
  /** Caller-audio jitter buffer: the target delay adapts between these (ms). 0 passes a clean stream through undelayed. */
  jitterMinDelayMs: number;
  jitterMaxDelayMs: number;
  /** Greeting audio file (WAV; MP3/Ogg/WebM/FLAC/M4A with FFmpeg) played when a call's media starts; '' for none. */
  greetingFile: string;
  /** Hold audio file played while the agent consults (replaces the built-in cue); '' for the cue. */
  holdFile: string;
  /** Codec asked for on the bidirectional leg. */
  codec: 'PCMU' | 'PCMA' | 'G722' | 'L16' | 'OPUS';
  /** A webhook body must arrive within this long (slow-body attacks). */
  webhookReadTimeoutMs: number;
  /** Media frames a call may send per second, sustained (a call sends 50). */
  mediaFramesPerSecond: number;
  /** Frames a call may send at once above that rate (a provider catching up after a network stall). */
  mediaFrameBurst: number;
  /** Reconnect tuning of the outbound control connection (tests shorten it); absent: 500 ms doubling to 30 s. */
  controlChannel?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Call-lifecycle timers (tests shorten them): the no-media deadline (src/actors/NoMediaDeadline.ts), the waits between hang-up attempts (src/actors/hangUpRetrying.ts). */
  callTimers?: { noMediaMs?: number; hangupRetryMs?: readonly number[] };
  /** pino level of the gateway's JSON logs (stderr); default TTMA_LOG_LEVEL or info. */
  logLevel: LogLevel;
}

export const MEDIA_SOCKET_OWNERS = ['front', 'worker'] as const;
/**
 * A worker busy more than this share of a second takes no new call: past it,
 * a worker that falls behind queues frames rather than dropping them (docs/threads.md).
 */
export const DEFAULT_MAX_WORKER_LOAD = 0.9;
export type MediaSocketOwner = (typeof MEDIA_SOCKET_OWNERS)[number];
export const ON_STOP_MODES = ['hangup', 'handover'] as const;
export type OnStop = (typeof ON_STOP_MODES)[number];

export const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

const E164 = /^\+[1-9]\d{6,14}$/;
/** The realtime agent's transfer_call tool lists its targets to the model: keep the list short. */
const MAX_TRANSFER_TARGETS = 20;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const DEPLOYMENT_ID = /^[a-z0-9][a-z0-9-]{2,62}$/;

export function defaultGatewayConfig(): GatewayConfig {
  return {
    host: '127.0.0.1',
    tunnelPort: 0,
    localPort: 0,
    workers: Math.max(1, availableParallelism()),
    mediaSockets: 'worker',
    onStop: 'hangup',
    publicHost: '',
    webhookPublicKey: null,
    platformUrl: '',
    deploymentId: '',
    agentSecret: '',
    numbers: [],
    agent: { kind: 'echo' },
    bargeIn: { ...DEFAULT_BARGE_IN },
    maxCalls: 2000,
    maxWorkerLoad: DEFAULT_MAX_WORKER_LOAD,
    mediaTokenTtlMs: 30_000,
    mailboxFrames: 50,
    jitterMinDelayMs: 20,
    jitterMaxDelayMs: 200,
    greetingFile: '',
    holdFile: '',
    codec: 'PCMU',
    webhookReadTimeoutMs: 10_000,
    mediaFramesPerSecond: 100,
    mediaFrameBurst: 150,
    logLevel: defaultLogLevel(),
  };
}

/** Where a gateway setting is given (docs/configuration.md): the flag, the config file's key, the environment variable. */
function whereToSet(flag: string, key: string, env: string): string {
  return `pass ${flag} (or ${key} in the config file, or ${env})`;
}

/** Validate a full config; throws TTMA_ERR_CONFIG with one line per bad key, so a person fixes them all at once. */
export function validateGatewayConfig(config: GatewayConfig): GatewayConfig {
  const problems: string[] = [];
  const fail = (key: string, message: string): void => void problems.push(`config ${key}: ${message}`);
  if (!LOOPBACK_HOSTS.has(config.host)) {
    fail('host', `"${config.host}" is not a loopback address; the gateway listens on 127.0.0.1 only and is reached through the tunnel (FAQ-03)`);
  }
  for (const key of ['tunnelPort', 'localPort'] as const) {
    const port = config[key];
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(key, `must be an integer port 0..65535, got ${port}`);
  }
  if (config.tunnelPort !== 0 && config.tunnelPort === config.localPort) {
    fail('localPort', 'must differ from tunnelPort: diagnostics never share the tunnel-facing listener (FAQ-04)');
  }
  if (!Number.isInteger(config.workers) || config.workers < 1 || config.workers > 64) fail('workers', 'must be 1..64');
  if (!MEDIA_SOCKET_OWNERS.includes(config.mediaSockets)) fail('mediaSockets', `must be ${MEDIA_SOCKET_OWNERS.join(' or ')}, got "${config.mediaSockets}"`);
  if (!ON_STOP_MODES.includes(config.onStop)) fail('onStop', `must be ${ON_STOP_MODES.join(' or ')}, got "${config.onStop}"`);
  // A required setting left out says where to give it: `got ""` told a new operator nothing.
  if (config.publicHost === '') fail('publicHost', `not set: ${whereToSet('--public-host <host>', 'publicHost', 'TTMA_PUBLIC_HOST')}; the registered tunnel hostname`);
  else if (!HOSTNAME.test(config.publicHost)) fail('publicHost', `must be the registered tunnel hostname, got "${config.publicHost}"`);
  let platform: URL | null = null;
  if (config.platformUrl === '') {
    fail('platformUrl', `not set: ${whereToSet('--platform-url <url>', 'platformUrl', 'TTMA_PLATFORM_URL')}; https://, or http:// to a loopback platform`);
  } else {
    try {
      platform = new URL(config.platformUrl);
    } catch {
      fail('platformUrl', `not a URL: "${config.platformUrl}"`);
    }
  }
  if (platform && platform.protocol !== 'https:' && !(platform.protocol === 'http:' && LOOPBACK_HOSTS.has(platform.hostname.replace(/^\[|\]$/g, '')))) {
    fail('platformUrl', 'must be https:// (plain http only to a loopback platform)');
  }
  // Else every signalling request fails with undici's bare "bad port".
  const blocked = platform ? fetchBlockedUrlProblem(config.platformUrl) : null;
  if (blocked) fail('platformUrl', `${blocked}: the gateway could not reach the platform; run the platform on another port`);
  if (config.deploymentId === '') fail('deploymentId', `not set: ${whereToSet('--deployment-id <id>', 'deploymentId', 'TTMA_DEPLOYMENT_ID')}; this deployment's id at the platform`);
  else if (!DEPLOYMENT_ID.test(config.deploymentId)) fail('deploymentId', `invalid deployment id "${config.deploymentId}"`);
  if (config.agentSecret.length < 16) fail('agentSecret', 'missing or too short (read it from a file)');
  if (config.numbers.length === 0) {
    fail('numbers', `at least one E.164 number is required: ${whereToSet('--number +E164 (once per number)', 'numbers', 'TTMA_NUMBERS, comma-separated')}`);
  }
  for (const n of config.numbers) if (!E164.test(n)) fail('numbers', `"${n}" is not E.164 (+ and 7 to 15 digits)`);
  validateAgent(config.agent, fail);
  if (!(config.bargeIn.thresholdDbfs > -90 && config.bargeIn.thresholdDbfs < 0)) fail('bargeIn.thresholdDbfs', 'must be between -90 and 0 dBFS');
  if (!(config.bargeIn.minSpeechMs >= 20 && config.bargeIn.minSpeechMs <= 2000)) fail('bargeIn.minSpeechMs', 'must be 20..2000 ms');
  if (!Number.isInteger(config.maxCalls) || config.maxCalls < 1) fail('maxCalls', 'must be a positive integer');
  if (!(config.maxWorkerLoad > 0 && config.maxWorkerLoad <= 1)) fail('maxWorkerLoad', 'must be a share of a core above 0 and at most 1 (1 turns measured-load admission off)');
  if (!(config.mediaTokenTtlMs >= 1000 && config.mediaTokenTtlMs <= 300_000)) fail('mediaTokenTtlMs', 'must be 1000..300000');
  if (!Number.isInteger(config.mailboxFrames) || config.mailboxFrames < 2) fail('mailboxFrames', 'must be an integer >= 2');
  if (!Number.isInteger(config.jitterMinDelayMs) || config.jitterMinDelayMs < 0 || config.jitterMinDelayMs > 1000) {
    fail('jitterMinDelayMs', 'must be an integer from 0 to 1000');
  }
  if (!Number.isInteger(config.jitterMaxDelayMs) || config.jitterMaxDelayMs < Math.max(20, config.jitterMinDelayMs) || config.jitterMaxDelayMs > 1000) {
    fail('jitterMaxDelayMs', 'must be an integer from max(20, jitterMinDelayMs) to 1000');
  }
  if (!['PCMU', 'PCMA', 'G722', 'L16', 'OPUS'].includes(config.codec)) fail('codec', `must be PCMU, PCMA, G722, L16 or OPUS, got "${config.codec}"`);
  if (!Number.isInteger(config.webhookReadTimeoutMs) || config.webhookReadTimeoutMs < 100 || config.webhookReadTimeoutMs > 60_000) {
    fail('webhookReadTimeoutMs', 'must be an integer from 100 to 60000');
  }
  if (!(config.mediaFramesPerSecond >= 50 && config.mediaFramesPerSecond <= 10_000)) fail('mediaFramesPerSecond', 'must be 50..10000 (a call sends 50)');
  if (!(config.mediaFrameBurst >= 1 && config.mediaFrameBurst <= 100_000)) fail('mediaFrameBurst', 'must be 1..100000');
  if (!LOG_LEVELS.includes(config.logLevel)) fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got "${String(config.logLevel)}"`);
  if (problems.length > 0) throw new TtmaError(ErrorCodes.CONFIG, problems.join('\n'), 500);
  return config;
}

type Fail = (key: string, message: string) => void;

function checkUrl(fail: Fail, key: string, raw: string, schemes: string[]): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(key, `not a URL: "${raw}"`);
  }
  if (!schemes.includes(url.protocol)) return fail(key, `must use ${schemes.join(' or ')}`);
  // Plain text only on loopback: an agent's audio and key never cross a network unencrypted.
  if ((url.protocol === 'ws:' || url.protocol === 'http:') && !LOOPBACK_HOSTS.has(url.hostname.replace(/^\[|\]$/g, ''))) {
    fail(key, 'plain ws:// or http:// only to a loopback agent; use wss:// or https://');
  }
}

function validateAgent(agent: AgentConfig, fail: Fail): void {
  if (!AGENT_KINDS.includes(agent.kind)) return fail('agent', `unknown agent "${agent.kind}" (available: ${AGENT_KINDS.join(', ')})`);
  switch (agent.kind) {
    case 'echo':
      return;
    case 'ws':
      return checkUrl(fail, 'agent.url', agent.url, ['ws:', 'wss:']);
    case 'realtime':
      checkUrl(fail, 'agent.url', agent.url, ['ws:', 'wss:']);
      if (!agent.model) fail('agent.model', 'is required');
      if (agent.consult) checkUrl(fail, 'agent.openclawUrl', agent.consult.baseUrl, ['http:', 'https:']);
      if (agent.transferTargets.length > MAX_TRANSFER_TARGETS) fail('agent.transferTargets', `at most ${MAX_TRANSFER_TARGETS} numbers`);
      for (const n of agent.transferTargets) if (!E164.test(n)) fail('agent.transferTargets', `"${n}" is not E.164 (+ and 7 to 15 digits)`);
      return;
    case 'openclaw':
      checkUrl(fail, 'agent.openclawUrl', agent.chat.baseUrl, ['http:', 'https:']);
      checkUrl(fail, 'agent.sttUrl', agent.stt.baseUrl, ['http:', 'https:']);
      checkUrl(fail, 'agent.ttsUrl', agent.tts.baseUrl, ['http:', 'https:']);
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(agent.chat.agentId)) fail('agent.openclawAgent', 'must be 1 to 64 of A-Z a-z 0-9 _ . -');
      return;
  }
}
