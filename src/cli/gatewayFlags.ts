/**
 * The flags of `ttma gateway`, shared with `ttma doctor` (which checks the
 * same configuration without starting a gateway, so this file must not
 * import the gateway or uWS).
 */
import { defaultGatewayConfig, type GatewayConfig } from '../config.js';
import { agentConfigFromFlags, AGENT_FLAGS, type AgentFlagValues } from './agentFlags.js';
import { intFlag } from './args.js';

export const GATEWAY_FLAGS = {
  host: { type: 'string' },
  'tunnel-port': { type: 'string' },
  'local-port': { type: 'string' },
  workers: { type: 'string' },
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
  'log-level': { type: 'string' },
  ...AGENT_FLAGS,
} as const;

type GatewayFlagValues = AgentFlagValues & {
  host?: string | undefined;
  'tunnel-port'?: string | undefined;
  'local-port'?: string | undefined;
  workers?: string | undefined;
  'public-host'?: string | undefined;
  'platform-url'?: string | undefined;
  'deployment-id'?: string | undefined;
  number?: string[] | undefined;
  'max-calls'?: string | undefined;
  codec?: string | undefined;
  'jitter-min-ms'?: string | undefined;
  'jitter-max-ms'?: string | undefined;
  'log-level'?: string | undefined;
};

/**
 * The gateway configuration the flags describe. The caller reads the two
 * files (the gateway refuses to start without the agent secret; doctor only
 * reports it), so both commands build the same config the same way.
 */
export function gatewayConfigFromFlags(
  flags: GatewayFlagValues,
  files: { webhookPublicKey: string | null; agentSecret: string; agentKey?: string; openclawToken?: string },
): GatewayConfig {
  const defaults = defaultGatewayConfig();
  return {
    ...defaults,
    host: flags.host ?? defaults.host,
    tunnelPort: intFlag('--tunnel-port', flags['tunnel-port'], 8080, 0, 65535),
    localPort: intFlag('--local-port', flags['local-port'], 8081, 0, 65535),
    workers: intFlag('--workers', flags.workers, defaults.workers, 1, 64),
    publicHost: flags['public-host'] ?? '',
    webhookPublicKey: files.webhookPublicKey,
    platformUrl: flags['platform-url'] ?? '',
    deploymentId: flags['deployment-id'] ?? '',
    agentSecret: files.agentSecret,
    numbers: flags.number ?? [],
    maxCalls: intFlag('--max-calls', flags['max-calls'], defaults.maxCalls, 1),
    codec: (flags.codec ?? defaults.codec) as GatewayConfig['codec'],
    jitterMinDelayMs: intFlag('--jitter-min-ms', flags['jitter-min-ms'], defaults.jitterMinDelayMs, 0, 1000),
    jitterMaxDelayMs: intFlag('--jitter-max-ms', flags['jitter-max-ms'], defaults.jitterMaxDelayMs, 20, 1000),
    // Checked with the rest of the config (validateGatewayConfig names the key).
    logLevel: (flags['log-level'] ?? defaults.logLevel) as GatewayConfig['logLevel'],
    agent: agentConfigFromFlags(flags, { agentKey: files.agentKey ?? '', openclawToken: files.openclawToken ?? '' }),
  };
}
