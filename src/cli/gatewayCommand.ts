/** `ttma gateway`: run the voice gateway on loopback, or print its effective configuration. */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { validateGatewayConfig, type GatewayConfig } from '../config.js';
import { gatewayConfigFromSettings, GATEWAY_KEYS, loadGatewaySettings, type LoadedGatewaySettings } from '../configFile/gatewaySettings.js';
import { configError } from '../configFile/readConfigFile.js';
import { printableConfig } from '../configFile/printConfig.js';
import { refuseSharedSecretFile } from '../configFile/secretFileMode.js';
import { readSecret } from '../configFile/secretFiles.js';
import { Gateway } from '../Gateway.js';
import { createLogger } from '../log.js';
import { onShutdownSignal, parseFlags, printReady } from './args.js';
import { GATEWAY_COMMAND_FLAGS } from './commandFlags.js';
import { refuseRootUnderSystemd } from './rootGuard.js';
import { spawnTunnel } from './tunnelChild.js';
import { describeTunnelExposure, tunnelExposure } from './tunnelExposure.js';
import { ingressNotice } from './ingressNotice.js';

/** This code's root (dist/src/cli/ is three below it): `<dir>/gateway` when installed. */
const CODE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Resolves with -1 while the gateway runs (until a signal), 0 after --print-config. */
export async function runGatewayCommand(argv: string[]): Promise<number> {
  const flags = parseFlags('gateway', argv, GATEWAY_COMMAND_FLAGS);
  // Flags > environment > config file > defaults; every bad key reported at once. No secret is read yet.
  const loaded = loadGatewaySettings(flags);
  // Before anything else runs or is read: never root under systemd, and a loud word elsewhere (FAQ-10).
  refuseRootUnderSystemd(createLogger('gateway', loaded.settings.logLevel));
  if (loaded.ignoredSecretEnv.length > 0) {
    createLogger('gateway').warn({ ignored: loaded.ignoredSecretEnv }, 'secret values in the environment are ignored: secrets are read only from files (the *File keys) or systemd credentials');
  }
  if (flags['print-config']) {
    const { config, secrets } = readSecretsAndBuild(loaded);
    validateGatewayConfig(config);
    process.stdout.write(printableConfig('gateway', loaded.settings, GATEWAY_KEYS, loaded.sourceOf, secrets));
    return 0;
  }
  // A log level from the file or --log-level reaches every logger, worker threads included, through the one variable they read.
  if (/^(file|flag) /.test(loaded.sourceOf('logLevel'))) process.env['TTMA_LOG_LEVEL'] = loaded.settings.logLevel;
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
  let gateway: Gateway;
  let ports: Awaited<ReturnType<Gateway['start']>>;
  let config: GatewayConfig;
  try {
    config = readSecretsAndBuild(loaded).config;
    gateway = new Gateway(config);
    ports = await gateway.start();
  } catch (err) {
    tunnel?.kill('SIGTERM');
    throw err;
  }
  if (tunnel) {
    // Same user, so the scrubbed environment is not the whole story (FAQ-11): say what the tunnel can read.
    const s = loaded.secrets;
    const exposure = tunnelExposure([s.agentSecret.path, s.webhookPublicKey.path, s.agentKey.path, s.openclawToken.path], process.env);
    createLogger('gateway', loaded.settings.logLevel).warn({ tunnelPid: tunnel.pid, readableByTunnel: exposure.files }, describeTunnelExposure(exposure, process.pid));
  }
  onShutdownSignal(async () => {
    tunnel?.kill('SIGTERM');
    await gateway.stop();
  });
  // stderr: stdout carries only the ready line a parent process waits for.
  // An installed gateway names the installer's file; a hand-run one prints the rules (ingressNotice.ts).
  process.stderr.write(ingressNotice(CODE_ROOT, config.publicHost, ports.tunnelPort, config.host));
  printReady({ component: 'gateway', ...ports, workers: config.workers, uws: gateway.status().uws, ...(tunnel ? { tunnelPid: tunnel.pid } : {}) });
  return -1;
}

/** Reads the secret files the settings name and builds the runtime config. */
function readSecretsAndBuild(loaded: LoadedGatewaySettings) {
  const s = loaded.secrets;
  if (!s.agentSecret.path) throw missingAgentSecret(loaded);
  // Secrets must be owner-only (the webhook key is public); systemd's credentials are fine as systemd makes them.
  for (const x of [s.agentSecret, s.agentKey, s.openclawToken]) if (x.path) refuseSharedSecretFile(x.key, x.path, x.origin, process.env);
  const read = (x: (typeof s)[keyof typeof s]) => (x.path ? readSecret(x.key, x) : null);
  const values = { agentSecret: read(s.agentSecret), webhookPublicKey: read(s.webhookPublicKey), agentKey: read(s.agentKey), openclawToken: read(s.openclawToken) };
  const config = gatewayConfigFromSettings(loaded, {
    // Missing key: the gateway still starts and refuses every webhook (fail closed).
    webhookPublicKey: values.webhookPublicKey,
    agentSecret: values.agentSecret ?? '',
    agentKey: values.agentKey ?? '',
    openclawToken: values.openclawToken ?? '',
  });
  const secrets = Object.fromEntries(Object.entries(s).map(([name, r]) => [name, { ...r, value: values[name as keyof typeof values] }]));
  return { config, secrets };
}

const NO_AGENT_SECRET =
  'agentSecretFile: not configured; the gateway needs its agent secret: set agentSecretFile in the config file, --agent-secret-file, TTMA_AGENT_SECRET_FILE, or pass the systemd credential "agent-secret"';

/**
 * No agent secret file: the error also lists every other setting that is missing or wrong
 * (checked without any secret), so one run names them all, not one per run.
 */
function missingAgentSecret(loaded: LoadedGatewaySettings): Error {
  const others: string[] = [];
  try {
    validateGatewayConfig(gatewayConfigFromSettings(loaded, { webhookPublicKey: null, agentSecret: '', agentKey: '', openclawToken: '' }));
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    // The secret's own line says less than NO_AGENT_SECRET does.
    others.push(...text.split('\n').filter((line) => line.length > 0 && !line.startsWith('config agentSecret:')));
  }
  return configError([NO_AGENT_SECRET, ...others].join('\n'));
}
