/**
 * The flags of `ttma gateway`, shared with `ttma doctor` (which checks the
 * same configuration without starting a gateway, so this file must not
 * import the gateway or uWS). Each flag overrides one key of the config
 * file (src/configFile/gatewaySettings.ts, docs/configuration.md).
 */
import { AGENT_FLAGS } from './agentFlags.js';

export const GATEWAY_FLAGS = {
  config: { type: 'string' },
  host: { type: 'string' },
  'tunnel-port': { type: 'string' },
  'local-port': { type: 'string' },
  workers: { type: 'string' },
  'media-sockets': { type: 'string' },
  'on-stop': { type: 'string' },
  'public-host': { type: 'string' },
  'webhook-public-key-file': { type: 'string' },
  'platform-url': { type: 'string' },
  'deployment-id': { type: 'string' },
  'agent-secret-file': { type: 'string' },
  number: { type: 'string', multiple: true },
  'max-calls': { type: 'string' },
  codec: { type: 'string' },
  'jitter-min-ms': { type: 'string' },
  'jitter-max-ms': { type: 'string' },
  'greeting-file': { type: 'string' },
  'hold-file': { type: 'string' },
  'log-level': { type: 'string' },
  ...AGENT_FLAGS,
} as const;

/**
 * Single-unit mode (src/cli/tunnelChild.ts): the gateway starts cloudflared
 * itself. Flags only; doctor takes them too, to say what the tunnel can
 * read in this mode (src/cli/tunnelExposure.ts).
 */
export const TUNNEL_FLAGS = {
  'spawn-tunnel': { type: 'string' },
  'tunnel-config': { type: 'string' },
  'tunnel-credentials-file': { type: 'string' },
  'tunnel-name': { type: 'string' },
} as const;
