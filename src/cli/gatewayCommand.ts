/** `ttma gateway`: run the voice gateway on loopback. */
import { defaultGatewayConfig, type GatewayConfig } from '../config.js';
import { Gateway } from '../Gateway.js';
import { intFlag, onShutdownSignal, parseFlags, printReady, readSecretFile } from './args.js';
import { GATEWAY_FLAGS } from './gatewayFlags.js';
import { cloudflaredIngress } from './tunnelIngress.js';

export async function runGatewayCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('gateway', argv, GATEWAY_FLAGS);
  const defaults = defaultGatewayConfig();
  const config: GatewayConfig = {
    ...defaults,
    host: flags.host ?? defaults.host,
    tunnelPort: intFlag('--tunnel-port', flags['tunnel-port'], 8080, 0, 65535),
    localPort: intFlag('--local-port', flags['local-port'], 8081, 0, 65535),
    workers: intFlag('--workers', flags.workers, defaults.workers, 1, 64),
    publicHost: flags['public-host'] ?? '',
    // Missing key: the gateway still starts and refuses every webhook (fail closed).
    webhookPublicKey: flags['webhook-public-key-file'] ? readSecretFile('--webhook-public-key-file', flags['webhook-public-key-file']) : null,
    platformUrl: flags['platform-url'] ?? '',
    deploymentId: flags['deployment-id'] ?? '',
    agentSecret: readSecretFile('--agent-secret-file', flags['agent-secret-file']),
    numbers: flags.number ?? [],
    maxCalls: intFlag('--max-calls', flags['max-calls'], defaults.maxCalls, 1),
    codec: (flags.codec ?? defaults.codec) as GatewayConfig['codec'],
  };
  const gateway = new Gateway(config);
  const ports = await gateway.start();
  onShutdownSignal(() => gateway.stop());
  // stderr: stdout carries only the ready line a parent process waits for.
  process.stderr.write(`# put these ingress rules in your cloudflared config (only the public paths reach the gateway):\n${cloudflaredIngress(config.publicHost, ports.tunnelPort, config.host)}`);
  printReady({ component: 'gateway', ...ports, workers: config.workers, uws: gateway.status().uws });
}
