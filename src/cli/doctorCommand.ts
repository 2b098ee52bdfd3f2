/**
 * `ttma doctor`: checks a gateway configuration (the same flags as
 * `ttma gateway`) and, if one is running on the local port, the running
 * gateway. It never starts a gateway. One line per check, or with --json one
 * object `{ ok, checks }`; exit 0 only if every check is ok, 1 otherwise,
 * 2 on a usage error. The checks themselves are in src/control/doctorChecks.ts.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  checkConfig,
  checkControl,
  checkListeners,
  checkPlatform,
  checkSecretFiles,
  checkTunnel,
  checkUser,
  checkWebhookKey,
  controlSettling,
  controlStatusOf,
  doctorReport,
  formatDoctorReport,
  listenerPortsProblem,
  platformHealthUrl,
  type GatewayProbe,
  type HttpProbe,
} from '../control/doctorChecks.js';
import { checkInstall } from '../control/installChecks.js';
import { gatewayServiceUser } from '../control/serviceUser.js';
import { dirFlag, parseFlags } from './args.js';
import { ErrorCodes, TtmaError } from '../errors.js';
import { gatewayConfigFromSettings, loadGatewaySettings } from '../configFile/gatewaySettings.js';
import { DOCTOR_FLAGS } from './commandFlags.js';
import { describeTunnelExposure, tunnelExposure } from './tunnelExposure.js';

/** A running gateway's local listener answers at once; one second is generous. */
const GATEWAY_PROBE_TIMEOUT_MS = 1_000;
const PLATFORM_PROBE_TIMEOUT_MS = 2_000;
/** /debug/status lists live calls; enough for a few thousand, and bounded. */
const MAX_PROBE_BODY_BYTES = 4 * 1024 * 1024;

/** Where to reach the gateway's listeners for its (loopback) bind address. */
const PROBE_HOSTS: Record<string, string> = { '::1': '[::1]' };

/**
 * The flags of `ttma gateway` (one shared list, and its single-unit tunnel flags), plus --json,
 * --install-dir and --root (where --install-dir's unit check looks up systemd's directories).
 */
export { DOCTOR_FLAGS };

/** One GET with an overall deadline, no keep-alive, no redirects followed, no credentials. */
export function probeHttp(url: URL, timeoutMs: number, headers: Record<string, string> = {}): Promise<HttpProbe> {
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (probe: HttpProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(probe);
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', agent: false, headers: { ...headers, connection: 'close' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PROBE_BODY_BYTES) settle({ kind: 'error', message: 'answer too large' });
        else chunks.push(chunk);
      });
      res.on('end', () => settle({ kind: 'answered', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => settle({ kind: 'error', message: err.message }));
    });
    timer = setTimeout(() => settle({ kind: 'timeout', ms: timeoutMs }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      settle(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: err.code ?? err.message });
    });
    req.end();
  });
}

/** Ask the local port whether a gateway runs there; if one does, ask the three questions checkListeners needs. */
export async function probeGateway(bindHost: string, tunnelPort: number, localPort: number, timeoutMs = GATEWAY_PROBE_TIMEOUT_MS): Promise<GatewayProbe> {
  const host = PROBE_HOSTS[bindHost] ?? '127.0.0.1';
  const at = (port: number, path: string) => new URL(`http://${host}:${port}${path}`);
  const health = await probeHttp(at(localPort, '/healthz'), timeoutMs);
  const probe: GatewayProbe = { host, health };
  if (health.kind !== 'answered' || health.status !== 200) return probe;
  [probe.localStatus, probe.tunnelStatus, probe.localWithTunnelHeader] = await Promise.all([
    probeHttp(at(localPort, '/debug/status'), timeoutMs),
    probeHttp(at(tunnelPort, '/debug/status'), timeoutMs),
    probeHttp(at(localPort, '/debug/status'), timeoutMs, { 'cf-ray': 'x' }),
  ]);
  return probe;
}

/** A control connection still settling (dialling, or waiting for the hello) is asked again, a few times within about 2 s. */
const CONTROL_SETTLE_TRIES = 8;
const CONTROL_SETTLE_GAP_MS = 250;

export async function settleControl(probe: GatewayProbe, localPort: number, timeoutMs = GATEWAY_PROBE_TIMEOUT_MS): Promise<GatewayProbe> {
  const url = new URL(`http://${probe.host}:${localPort}/debug/status`);
  for (let i = 0; i < CONTROL_SETTLE_TRIES && controlSettling(controlStatusOf(probe.localStatus)); i++) {
    await new Promise((resolve) => setTimeout(resolve, CONTROL_SETTLE_GAP_MS));
    probe.localStatus = await probeHttp(url, timeoutMs);
  }
  return probe;
}

/** Read a file for the config check only; its findings belong to the webhook-key and secret-files checks. */
async function readQuietly(path: string | undefined): Promise<string | null> {
  if (!path) return null;
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** Runs every check and prints the report. Resolves with the exit code. */
export async function runDoctorCommand(argv: string[]): Promise<number> {
  const flags = parseFlags('doctor', argv, DOCTOR_FLAGS);
  // An offline image or chroot, as `systemctl --root`: checked before anything else runs.
  const rootFlag = dirFlag('doctor', '--root', flags.root);
  if (rootFlag && !flags['install-dir']) throw new TtmaError(ErrorCodes.CLI_USAGE, 'ttma doctor --root goes with --install-dir: it says where that check looks up systemd\'s unit directories', 2);
  // `--root /` is this system, as systemd takes it (empty_or_root in lookup_paths_init).
  const root = rootFlag === '/' ? undefined : rootFlag;
  // Same settings as `ttma gateway` loads (flags, environment, --config); a bad value is an error there too.
  const loaded = loadGatewaySettings(flags);
  const agentSecretFile = loaded.secrets.agentSecret.path ?? undefined;
  const webhookPublicKeyFile = loaded.secrets.webhookPublicKey.path ?? undefined;
  const config = gatewayConfigFromSettings(loaded, {
    webhookPublicKey: await readQuietly(webhookPublicKeyFile),
    agentSecret: (await readQuietly(agentSecretFile)) ?? '',
    agentKey: '',
    openclawToken: '',
  });

  const healthUrl = platformHealthUrl(config.platformUrl);
  const [gatewayProbe, platformProbe] = await Promise.all([
    listenerPortsProblem(config.tunnelPort, config.localPort)
      ? undefined
      : probeGateway(config.host, config.tunnelPort, config.localPort).then((probe) => settleControl(probe, config.localPort)),
    healthUrl ? probeHttp(healthUrl, PLATFORM_PROBE_TIMEOUT_MS) : undefined,
  ]);

  const report = doctorReport([
    checkWebhookKey(webhookPublicKeyFile),
    checkSecretFiles({
      agentSecretFile,
      webhookPublicKeyFile,
      agentKeyFile: loaded.secrets.agentKey.path ?? undefined,
      openclawTokenFile: loaded.secrets.openclawToken.path ?? undefined,
      credentialsDirectory: process.env['CREDENTIALS_DIRECTORY'],
    }),
    checkConfig(config),
    checkListeners({ tunnelPort: config.tunnelPort, localPort: config.localPort, probe: gatewayProbe }),
    // The installed service's user when systemd can say (systemctl show), else doctor's own; with
    // --root the running systemd is another system's, so it is not asked.
    checkUser(process.getuid?.(), root ? null : gatewayServiceUser()),
    checkPlatform(config.platformUrl, platformProbe),
    checkControl(config.platformUrl, gatewayProbe),
    // Single-unit mode: cloudflared shares the gateway's user, so FAQ-11 does not hold (a warning).
    ...(flags['spawn-tunnel'] ? [checkTunnel(describeTunnelExposure({ ...tunnelExposure([agentSecretFile, webhookPublicKeyFile, loaded.secrets.agentKey.path, loaded.secrets.openclawToken.path], process.env), uid: undefined }))] : []),
    // An installed deployment (ttma install): units hardened, secrets owner-only, bundle digests unchanged.
    ...(flags['install-dir'] ? checkInstall(flags['install-dir'], root ? { root } : {}).map((c) => ({ ...c, status: c.ok ? ('ok' as const) : ('fail' as const) })) : []),
  ]);
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}
