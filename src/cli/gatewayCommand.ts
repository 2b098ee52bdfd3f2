/** `ttma gateway`: run the voice gateway on loopback. */
import type { ChildProcess } from 'node:child_process';
import { Gateway } from '../Gateway.js';
import { onShutdownSignal, parseFlags, printReady, readSecretFile } from './args.js';
import { GATEWAY_FLAGS, gatewayConfigFromFlags } from './gatewayFlags.js';
import { spawnTunnel } from './tunnelChild.js';
import { cloudflaredIngress } from './tunnelIngress.js';

/** Single-unit mode (src/cli/tunnelChild.ts): the gateway starts cloudflared itself. */
const TUNNEL_FLAGS = {
  'spawn-tunnel': { type: 'string' },
  'tunnel-config': { type: 'string' },
  'tunnel-credentials-file': { type: 'string' },
  'tunnel-name': { type: 'string' },
} as const;

export async function runGatewayCommand(argv: string[]): Promise<void> {
  const flags = parseFlags('gateway', argv, { ...GATEWAY_FLAGS, ...TUNNEL_FLAGS });
  // The tunnel first, before any secret is read (FAQ-11), with an environment built from nothing.
  let tunnel: ChildProcess | null = null;
  if (flags['spawn-tunnel']) {
    tunnel = spawnTunnel({
      program: flags['spawn-tunnel'],
      configFile: flags['tunnel-config'] ?? '',
      credentialsFile: flags['tunnel-credentials-file'] ?? '',
      tunnelName: flags['tunnel-name'] ?? '',
    });
  }
  const config = gatewayConfigFromFlags(flags, {
    // Missing key: the gateway still starts and refuses every webhook (fail closed).
    webhookPublicKey: flags['webhook-public-key-file'] ? readSecretFile('--webhook-public-key-file', flags['webhook-public-key-file']) : null,
    agentSecret: readSecretFile('--agent-secret-file', flags['agent-secret-file']),
    agentKey: flags['agent-key-file'] ? readSecretFile('--agent-key-file', flags['agent-key-file']) : '',
    openclawToken: flags['openclaw-token-file'] ? readSecretFile('--openclaw-token-file', flags['openclaw-token-file']) : '',
  });
  const gateway = new Gateway(config);
  const ports = await gateway.start();
  onShutdownSignal(async () => {
    tunnel?.kill('SIGTERM');
    await gateway.stop();
  });
  // stderr: stdout carries only the ready line a parent process waits for.
  process.stderr.write(`# put these ingress rules in your cloudflared config (only the public paths reach the gateway):\n${cloudflaredIngress(config.publicHost, ports.tunnelPort, config.host)}`);
  printReady({ component: 'gateway', ...ports, workers: config.workers, uws: gateway.status().uws, ...(tunnel ? { tunnelPid: tunnel.pid } : {}) });
}
