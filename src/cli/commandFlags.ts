/**
 * The flags every `ttma` subcommand accepts, in one module with no other
 * imports than the flag tables: each command parses with its table, and
 * test/docs/ reads them to keep README.md and docs/ in step with the CLI.
 */
import { AGENT_FLAGS } from './agentFlags.js';
import { GATEWAY_FLAGS, TUNNEL_FLAGS } from './gatewayFlags.js';

type FlagTable = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;

export const GATEWAY_COMMAND_FLAGS = { ...GATEWAY_FLAGS, ...TUNNEL_FLAGS, 'print-config': { type: 'boolean' } } as const;

export const DOCTOR_FLAGS = { ...GATEWAY_FLAGS, ...TUNNEL_FLAGS, json: { type: 'boolean' }, 'install-dir': { type: 'string' }, root: { type: 'string' } } as const;

export const DEMO_FLAGS = {
  calls: { type: 'string' },
  seconds: { type: 'string' },
  workers: { type: 'string' },
  'media-sockets': { type: 'string' },
  codec: { type: 'string' },
  json: { type: 'boolean' },
  'keep-logs': { type: 'boolean' },
  'drop-streams': { type: 'boolean' },
  'tunnel-outage': { type: 'string' },
  'kill-gateway': { type: 'boolean' },
  ...AGENT_FLAGS,
} as const;

export const INSTALL_FLAGS = {
  token: { type: 'string' },
  'token-file': { type: 'string' },
  dir: { type: 'string' },
  workspace: { type: 'string' },
  'platform-url': { type: 'string' },
  user: { type: 'string' },
  node: { type: 'string' },
  cloudflared: { type: 'string' },
  'tunnel-port': { type: 'string' },
  'local-port': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The commands that talk to the running gateway's local port (src/cli/callCommand.ts). */
const LOCAL_FLAGS = {
  'local-port': { type: 'string' },
  'agent-secret-file': { type: 'string' },
  'install-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const CALL_FLAGS = { ...LOCAL_FLAGS, to: { type: 'string' }, from: { type: 'string' } } as const;
export const CALLS_FLAGS = {
  ...LOCAL_FLAGS,
  recent: { type: 'string' },
  source: { type: 'string' },
  recording: { type: 'string' },
  out: { type: 'string' },
  'delete-recording': { type: 'string' },
} as const;
export const DASHBOARD_FLAGS = LOCAL_FLAGS;
export const RECORDING_FLAGS = { ...LOCAL_FLAGS, 'delete-existing': { type: 'boolean' } } as const;

/** `ttma deployments export|import` (src/cli/deploymentsCommand.ts): the platform's operator API. */
export const DEPLOYMENTS_FLAGS = {
  'platform-url': { type: 'string' },
  'admin-token-file': { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export const PLATFORM_FLAGS = {
  config: { type: 'string' },
  'print-config': { type: 'boolean' },
  port: { type: 'string' },
  'provider-url': { type: 'string' },
  'provider-api-key-file': { type: 'string' },
  'provider-api-key-secret': { type: 'string' },
  'secret-manager-url': { type: 'string' },
  'provider-api-key-refresh-sec': { type: 'string' },
  'webhook-public-key-file': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'connection-id': { type: 'string' },
  'deployment-file': { type: 'string' },
  'rate-limit': { type: 'string' },
  'redis-url': { type: 'string' },
  'redis-cluster': { type: 'string' },
  'state-dir': { type: 'string' },
  'recordings-dir': { type: 'string' },
  'recording-origins': { type: 'string' },
  'call-retention-days': { type: 'string' },
  'call-retention-max': { type: 'string' },
  'streamless-grace-sec': { type: 'string' },
  'gateway-bundle': { type: 'string' },
  'skill-bundle': { type: 'string' },
  'public-url': { type: 'string' },
  'install-redis-url': { type: 'string' },
  'client-address-header': { type: 'string' },
  'approved-tunnel-domains': { type: 'string' },
} as const;

export const SIM_FLAGS = {
  port: { type: 'string' },
  'api-key-file': { type: 'string' },
  'signing-key-file': { type: 'string' },
  'webhook-url': { type: 'string', multiple: true },
  tunnel: { type: 'string', multiple: true },
  'sign-with': { type: 'string' },
  'audio-source': { type: 'string' },
  'on-stream-failure': { type: 'string' },
  'recording-url-ttl': { type: 'string' },
} as const;
/** `ttma sim --write-signing-key FILE` goes alone. */
export const SIM_WRITE_KEY_FLAGS = { 'write-signing-key': { type: 'string' } } as const;

/** Every subcommand's flags, as its parser takes them (`version` and `help` take none). */
export const COMMAND_FLAGS: Readonly<Record<string, FlagTable>> = {
  demo: DEMO_FLAGS,
  gateway: GATEWAY_COMMAND_FLAGS,
  doctor: DOCTOR_FLAGS,
  platform: PLATFORM_FLAGS,
  install: INSTALL_FLAGS,
  call: CALL_FLAGS,
  calls: CALLS_FLAGS,
  dashboard: DASHBOARD_FLAGS,
  recording: RECORDING_FLAGS,
  deployments: DEPLOYMENTS_FLAGS,
  sim: { ...SIM_FLAGS, ...SIM_WRITE_KEY_FLAGS },
  version: {},
  help: {},
};
