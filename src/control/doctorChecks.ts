/**
 * The checks behind `ttma doctor`, as functions of their inputs: a config,
 * file paths, a uid, and the answers of HTTP probes made by the caller. No
 * network, no process globals, so each one is tested with good and bad inputs
 * (the file checks read only the paths they are given).
 *
 * Every message says what is wrong, with which input, and what to do
 * (docs/doctor.md explains each check). No message carries a secret.
 */
import { lstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { validateGatewayConfig, type GatewayConfig } from '../config.js';
import { inCredentialsDirectory, octalMode, sharedModeProblem } from '../configFile/secretFileMode.js';
import { isTtmaError } from '../errors.js';
import { parseEd25519PublicKey } from '../wire/webhookSignature.js';
import type { ServiceUser } from './serviceUser.js';

export const CHECK_NAMES = ['webhook-key', 'secret-files', 'config', 'listeners', 'user', 'platform', 'control'] as const;
/** Added with --install-dir (src/control/installChecks.ts). */
export const INSTALL_CHECK_NAMES = ['install-units', 'install-secrets', 'install-digests'] as const;
/** Added with --spawn-tunnel (single-unit mode). */
export const TUNNEL_CHECK_NAME = 'tunnel';
export type CheckName = (typeof CHECK_NAMES)[number] | (typeof INSTALL_CHECK_NAMES)[number] | typeof TUNNEL_CHECK_NAME;
/** `warn`: nothing is broken, but a promise holds only partly in this setup (counted as ok). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  check: CheckName;
  /** False only for a failure: a skipped check or a warning is ok. */
  ok: boolean;
  status: CheckStatus;
  message: string;
}

/** What an HTTP GET came back with (made by the caller; see doctorCommand.ts). */
export type HttpProbe =
  | { kind: 'answered'; status: number; body: string }
  | { kind: 'refused' }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; message: string };

/** Group or others may write: anyone who can write the public key can pick the key webhooks are checked with. */
const GROUP_OTHER_WRITE = 0o022;

const ok = (check: CheckName, message: string): CheckResult => ({ check, ok: true, status: 'ok', message });
const fail = (check: CheckName, message: string): CheckResult => ({ check, ok: false, status: 'fail', message });
const skip = (check: CheckName, message: string): CheckResult => ({ check, ok: true, status: 'skip', message });
const warn = (check: CheckName, message: string): CheckResult => ({ check, ok: true, status: 'warn', message });

const octal = octalMode;
const errorText = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);

/** `webhook-key`: the provider's Ed25519 public key is given, readable, and parses (FAQ-05, FAQ-06). */
export function checkWebhookKey(path: string | undefined): CheckResult {
  const check = 'webhook-key';
  if (!path) {
    return fail(check, 'no --webhook-public-key-file given: webhooks will be refused with 503 (fail closed) until you pass the file holding the provider\'s Ed25519 public key (base64 of its 32 raw bytes)');
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(check, `--webhook-public-key-file ${path}: cannot read it (${errorText(err)}): the gateway will not start with it, and without a key webhooks are refused with 503 (fail closed) until the file exists and its user can read it`);
  }
  try {
    parseEd25519PublicKey(text);
  } catch (err) {
    const why = isTtmaError(err) ? err.message : errorText(err);
    return fail(check, `--webhook-public-key-file ${path}: ${why}: the gateway will not start with it, and without a key webhooks are refused with 503 (fail closed) until the file holds the provider's public key`);
  }
  return ok(check, `--webhook-public-key-file ${path}: a valid Ed25519 public key; webhooks will be verified`);
}

export interface SecretFileInputs {
  agentSecretFile: string | undefined;
  /** Public, so it may be readable by all; but nobody else may write it. */
  webhookPublicKeyFile: string | undefined;
  /** The agent's API key or token (--agent-key-file), when one is configured. */
  agentKeyFile?: string | undefined;
  /** The OpenClaw gateway token (--openclaw-token-file), when one is configured. */
  openclawTokenFile?: string | undefined;
  /** $CREDENTIALS_DIRECTORY: files systemd put there are fine as systemd made them. */
  credentialsDirectory?: string | undefined;
}

/**
 * `secret-files`: every secret the gateway would read (the agent secret,
 * and the agent key and OpenClaw token when configured) is a regular
 * owner-only file (not a symlink, which could be pointed elsewhere),
 * readable and not empty; the public key file is not writable by group or
 * others. The gateway refuses to start on a secret that is not owner-only.
 */
export function checkSecretFiles(files: SecretFileInputs): CheckResult {
  const check = 'secret-files';
  const problems: string[] = [];
  const fine: string[] = [];
  const env = { CREDENTIALS_DIRECTORY: files.credentialsDirectory };
  const secrets: Array<[string, string | undefined, string]> = [
    ['--agent-secret-file', files.agentSecretFile, 'the agent secret'],
    ['--agent-key-file', files.agentKeyFile, 'the agent API key'],
    ['--openclaw-token-file', files.openclawTokenFile, 'the OpenClaw token'],
  ];
  for (const [flag, path, what] of secrets) {
    if (!path) {
      if (flag === '--agent-secret-file') problems.push('no --agent-secret-file given: the gateway will not start without its agent secret; pass the file the installer wrote (mode 0600)');
      continue;
    }
    const problem = secretFileProblem(path, what, env);
    if (problem) problems.push(`${flag} ${problem}`);
    else fine.push(`${flag} ${path} is owner-only`);
  }
  const key = files.webhookPublicKeyFile;
  if (key) {
    let stats: Stats | null = null;
    try {
      stats = statSync(key);
    } catch {
      // A missing or unreadable key file is the webhook-key check's finding.
    }
    if (stats && (stats.mode & GROUP_OTHER_WRITE) !== 0) {
      problems.push(`--webhook-public-key-file ${key} is writable by group or others (mode ${octal(stats.mode)}): whoever can write it can make the gateway accept webhooks they signed; run: chmod 644 ${key}`);
    } else if (stats) {
      fine.push(`--webhook-public-key-file ${key} is public and only its owner can write it`);
    }
  }
  return problems.length > 0 ? fail(check, problems.join('; ')) : ok(check, fine.join('; '));
}

/** What is wrong with a secret file at `path`, or null. Starts with the path. */
function secretFileProblem(path: string, what: string, env: NodeJS.ProcessEnv): string | null {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (err) {
    return `${path}: cannot find it (${errorText(err)}): the gateway will not start; pass the file holding ${what}`;
  }
  if (stats.isSymbolicLink()) {
    return `${path} is a symlink: a link can be re-pointed at another file; pass the real file (a regular file, mode 0600) instead`;
  }
  if (!stats.isFile()) return `${path} is not a regular file: pass the file holding ${what}`;
  const shared = inCredentialsDirectory(path, env) ? null : sharedModeProblem(stats.mode);
  if (shared) {
    return `${path} is ${shared}: other users on this machine can take ${what}, and the gateway refuses to start with it; run: chmod 600 ${path}, and replace the secret if others may have read it`;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `${path}: cannot read it (${errorText(err)}): run doctor as the gateway's service user, and make that user the file's owner`;
  }
  if (text.trim() === '') return `${path} is empty: put ${what} in it`;
  return null;
}

/** `config`: the same validation the gateway runs at start (loopback host, ports, URLs, numbers). */
export function checkConfig(config: GatewayConfig): CheckResult {
  const check = 'config';
  try {
    validateGatewayConfig(config);
  } catch (err) {
    const why = isTtmaError(err) ? err.message : errorText(err);
    return fail(check, `${why}; the gateway refuses to start with this configuration`);
  }
  const onStop = config.onStop === 'handover' ? 'a stop or restart leaves live calls to the next gateway process (onStop handover)' : 'a stop or restart hangs live calls up (onStop hangup; handover keeps them)';
  return ok(check, `binds ${config.host} only; tunnel ${config.tunnelPort}, local ${config.localPort}; public host ${config.publicHost}; deployment ${config.deploymentId}; ${config.numbers.length} number(s); ${onStop}`);
}

/** What the caller saw on a running gateway's listeners. `health` decides whether the rest was asked. */
export interface GatewayProbe {
  /** The address probed, for messages (e.g. 127.0.0.1). */
  host: string;
  /** GET /healthz on the local port. */
  health: HttpProbe;
  /** GET /debug/status on the local port: 200 JSON with webhookKey. */
  localStatus?: HttpProbe;
  /** GET /debug/status on the tunnel port: must be 404. */
  tunnelStatus?: HttpProbe;
  /** GET /debug/status on the local port carrying `cf-ray`: must be 403. */
  localWithTunnelHeader?: HttpProbe;
}

export interface ListenerInputs {
  tunnelPort: number;
  localPort: number;
  /** Absent when the ports alone already fail (nothing was probed). */
  probe?: GatewayProbe;
}

/** The ports that can be probed: both fixed and different. Null when `checkListeners` fails on the ports alone. */
export function listenerPortsProblem(tunnelPort: number, localPort: number): string | null {
  if (tunnelPort === 0 || localPort === 0) {
    return `--tunnel-port ${tunnelPort} and --local-port ${localPort}: use fixed ports (0 picks a new port at each start, so cloudflared's ingress and this check cannot find the listener)`;
  }
  if (tunnelPort === localPort) {
    return `--tunnel-port and --local-port are both ${tunnelPort}: diagnostics would share the tunnel-facing listener (FAQ-04); give the local listener its own port`;
  }
  return null;
}

const described = (probe: HttpProbe | undefined): string => {
  if (!probe) return 'was not asked';
  switch (probe.kind) {
    case 'answered':
      return `answered ${probe.status}`;
    case 'refused':
      return 'refused the connection';
    case 'timeout':
      return `did not answer within ${probe.ms} ms`;
    case 'error':
      return `failed (${probe.message})`;
  }
};

/**
 * `listeners`: the two ports differ; and if a gateway answers on the local
 * port, its diagnostics are served there (with the webhook key configured),
 * hidden on the tunnel port (404), and refused to tunnel traffic (403).
 */
export function checkListeners(input: ListenerInputs): CheckResult {
  const check = 'listeners';
  const { tunnelPort, localPort, probe } = input;
  const portsProblem = listenerPortsProblem(tunnelPort, localPort);
  if (portsProblem) return fail(check, portsProblem);
  if (!probe) return skip(check, `tunnel ${tunnelPort} and local ${localPort} differ; the running gateway was not probed`);
  const local = `${probe.host}:${localPort}`;
  const tunnel = `${probe.host}:${tunnelPort}`;
  const { health } = probe;
  if (health.kind === 'refused') {
    return skip(check, `tunnel ${tunnelPort} and local ${localPort} differ; no gateway is running on ${local} (nothing listens there), so its listeners were not checked: start it and run doctor again`);
  }
  if (health.kind !== 'answered') {
    return fail(check, `something on ${local} accepted the connection but GET /healthz ${described(health)}: is the gateway stuck? Check its log, and restart it if it stays that way`);
  }
  if (health.status !== 200) {
    return fail(check, `${local} answered GET /healthz with ${health.status}, not 200: that is not a gateway's local listener (its tunnel listener, or another program, holds --local-port ${localPort}); run doctor with the gateway's own --tunnel-port and --local-port`);
  }
  const problems: string[] = [];
  const status = probe.localStatus;
  if (status?.kind === 'answered' && status.status === 200) {
    let webhookKey: unknown;
    try {
      webhookKey = (JSON.parse(status.body) as { webhookKey?: unknown } | null)?.webhookKey;
    } catch {
      webhookKey = undefined;
    }
    if (webhookKey === 'missing') {
      problems.push('the running gateway is failing closed: it has no webhook key, so every webhook is refused with 503; restart it with --webhook-public-key-file');
    } else if (webhookKey !== 'configured') {
      problems.push(`GET /debug/status on ${local} is not a ttma gateway status (no webhookKey field): another program holds --local-port ${localPort}?`);
    }
  } else {
    problems.push(`GET /debug/status on ${local} ${described(status)}, expected 200: the local listener does not serve diagnostics; check the gateway's version and log`);
  }
  const hidden = probe.tunnelStatus;
  if (hidden?.kind === 'refused') {
    problems.push(`nothing listens on the tunnel port ${tunnel}: the running gateway was started with other ports than these; run doctor with the gateway's own flags`);
  } else if (!(hidden?.kind === 'answered' && hidden.status === 404)) {
    problems.push(`GET /debug/status on the tunnel port ${tunnel} ${described(hidden)}, expected 404: diagnostics must not be reachable through the tunnel (FAQ-04); stop this gateway and report it`);
  }
  const guarded = probe.localWithTunnelHeader;
  if (!(guarded?.kind === 'answered' && guarded.status === 403)) {
    problems.push(`GET /debug/status with a cf-ray header on ${local} ${described(guarded)}, expected 403: the local listener must refuse anything that came through the tunnel (FAQ-04); stop this gateway and report it`);
  }
  if (problems.length > 0) return fail(check, problems.join('; '));
  return ok(check, `running gateway: tunnel ${tunnelPort} hides diagnostics (404), local ${localPort} serves them (200) and refuses tunnel traffic (403); webhook key configured`);
}

/**
 * `user`: not root (FAQ-10). When systemd knows the installed gateway
 * service (`service`), that is judged: the uids of its running process, or
 * its User= when it is not running. Otherwise `uid`, doctor's own
 * (`process.getuid?.()`: undefined where there are no POSIX ids).
 */
export function checkUser(uid: number | undefined, service?: ServiceUser | null): CheckResult {
  const check = 'user';
  const self = uid === 0 ? '; doctor itself runs as root, so its file checks do not prove the service user can read the files: run it as that user' : '';
  if (service) {
    const named = service.user === '' ? 'no User= (root)' : `User=${service.user}`;
    if (service.mainPid && service.uids) {
      if (service.uids.includes(0)) {
        return fail(check, `the running ${service.unit} (pid ${service.mainPid}, ${named}) runs as root (uids ${service.uids.join(' ')}): set User= to the OpenClaw service user, never root (FAQ-10), and restart it; under systemd the gateway now refuses to start as root`);
      }
      return ok(check, `the running ${service.unit} (pid ${service.mainPid}, ${named}) runs as uid ${service.uids[0]}, not root${self}`);
    }
    if (service.user === '' || service.user === 'root' || /^0+$/.test(service.user)) {
      return fail(check, `${service.unit} is not running, and would run as root (${named}): set User= to the OpenClaw service user (FAQ-10)`);
    }
    return ok(check, `${service.unit} is not running; it runs as ${named}, not root${self}`);
  }
  if (uid === undefined) return ok(check, 'no POSIX user ids on this platform; nothing to check');
  if (uid === 0) {
    return fail(check, 'running as root (uid 0): run the gateway as its own service user, never root (FAQ-10), and run doctor as that user');
  }
  return ok(check, `running as uid ${uid}, not root`);
}

/** The platform's health URL under --platform-url (kept as the gateway joins paths), or null if it is not an http(s) URL. */
export function platformHealthUrl(platformUrl: string): URL | null {
  let base: URL;
  try {
    base = new URL(platformUrl.replace(/\/+$/, ''));
  } catch {
    return null;
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return null;
  return new URL(`${base.pathname.replace(/\/$/, '')}/healthz`, base);
}

/** `platform`: GET <platform-url>/healthz answered 200. `probe` is absent when the URL is not usable. */
export function checkPlatform(platformUrl: string, probe: HttpProbe | undefined): CheckResult {
  const check = 'platform';
  const url = platformHealthUrl(platformUrl);
  if (!platformUrl) return fail(check, 'no --platform-url given: the gateway cannot answer calls without the platform; pass its https:// URL');
  if (!url || !probe) {
    return fail(check, `--platform-url "${platformUrl}" is not an http(s) URL: the gateway cannot answer calls without the platform; pass its https:// URL`);
  }
  if (probe.kind === 'answered' && probe.status === 200) return ok(check, `${url.href} answered 200`);
  if (probe.kind === 'answered') {
    return fail(check, `${url.href} answered ${probe.status}, expected 200: is --platform-url the platform's base URL?`);
  }
  return fail(check, `${url.href} ${described(probe)}: calls cannot be answered until the platform is reachable; check --platform-url, DNS and the network`);
}

/** The `control` part of a running gateway's GET /debug/status (src/Gateway.ts). */
export interface ControlStatus {
  state: string;
  authenticated?: boolean;
  since?: string | null;
  lastError?: string | null;
  identityRefused?: boolean;
  /** What the refusal means (src/control/identityRefusal.ts); absent from older gateways. */
  refusal?: { kind?: string; message?: string } | null;
  deploymentMismatch?: string | null;
  failures?: number;
}

/** The control part of a /debug/status answer, or null when it has none. */
export function controlStatusOf(probe: HttpProbe | undefined): ControlStatus | null {
  if (probe?.kind !== 'answered' || probe.status !== 200) return null;
  try {
    const control = (JSON.parse(probe.body) as { control?: unknown } | null)?.control as ControlStatus | undefined;
    return control && typeof control === 'object' && typeof control.state === 'string' ? control : null;
  } catch {
    return null;
  }
}

/** Still settling (dialling, or open and waiting for the platform's hello): worth asking again shortly. */
export function controlSettling(control: ControlStatus | null): boolean {
  return control !== null && (control.state === 'connecting' || (control.state === 'open' && control.authenticated !== true));
}

/** Short and printable: the gateway's own text, bounded, control characters out. */
const shown = (text: string | null | undefined, max = 160): string => (text ?? 'no reason given').replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, max);

/**
 * `control`: the running gateway's outbound control connection to the
 * platform (docs/control.md) is open and the platform accepted its identity
 * (its hello arrived). Skipped when no gateway runs; read from the gateway's
 * GET /debug/status on the local listener.
 */
export function checkControl(platformUrl: string, probe: GatewayProbe | undefined): CheckResult {
  const check = 'control';
  if (!probe || probe.health.kind !== 'answered' || probe.health.status !== 200) {
    return skip(check, 'no gateway is running on the local port, so its control connection was not checked: start it and run doctor again');
  }
  const control = controlStatusOf(probe.localStatus);
  if (!control) {
    return fail(check, `the running gateway's GET /debug/status ${described(probe.localStatus)} without a control field: it does not report its control connection (an older gateway?); upgrade it`);
  }
  const since = control.since ? ` since ${control.since}` : '';
  const failures = control.failures ? ` after ${control.failures} failed attempt(s)` : '';
  if (control.state === 'open' && control.authenticated === true) {
    return ok(check, `control connection to ${platformUrl} is open and authenticated${since}`);
  }
  if (control.state === 'stopped') return fail(check, 'the gateway\'s control connection is stopped: the gateway is shutting down, or broken; restart it');
  // Checked first: a refused connection is dialled again, so it may be caught while settling.
  if (typeof control.deploymentMismatch === 'string') {
    return fail(check, `the gateway refuses the control connection: the platform at ${platformUrl} answers for deployment ${shown(control.deploymentMismatch)}, not this gateway's (${shown(control.lastError)})${failures}; --platform-url (or a proxy in between) reaches another deployment's platform: fix it and restart the gateway`);
  }
  if (controlSettling(control)) {
    return fail(check, `the control connection to ${platformUrl} is still being set up (${control.state}${since}): the platform has not confirmed the gateway's identity; run doctor again, and if this stays, check the gateway's log`);
  }
  const why = shown(control.lastError);
  if (control.identityRefused && control.refusal?.kind === 'unknown') {
    return fail(check, `the platform refuses the control connection: ${shown(control.refusal.message, 400)} (${why})${failures}`);
  }
  if (control.identityRefused) {
    const disabled = /DEPLOYMENT_DISABLED|HTTP 403/.test(why);
    return fail(check, disabled
      ? `the platform refuses the control connection: the deployment is disabled by the operator (${why})${failures}; ask the platform operator to enable it`
      : `the platform refuses the control connection: it does not accept the deployment id and agent secret (${why})${failures}; the secret was rotated or the --deployment-id is wrong: put the current secret in --agent-secret-file and restart the gateway`);
  }
  if (/could not connect|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|timed out/i.test(why)) {
    return fail(check, `the control connection is down: the platform at ${platformUrl} is unreachable (${why})${failures}; cap notices and usage reports wait until it is back: check --platform-url, DNS and the network`);
  }
  return fail(check, `the control connection to ${platformUrl} is down (${why})${failures}; the gateway retries by itself: check the platform and the gateway's log`);
}

/**
 * `tunnel` (only with --spawn-tunnel): in single-unit mode cloudflared runs
 * as the gateway's user, so FAQ-11 does not hold; `exposure` says what it
 * can read (src/cli/tunnelExposure.ts). A warning: the mode is allowed.
 */
export function checkTunnel(exposure: string): CheckResult {
  return warn(TUNNEL_CHECK_NAME, exposure);
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export function doctorReport(checks: CheckResult[]): DoctorReport {
  return { ok: checks.every((c) => c.ok), checks };
}

const STATUS_LABEL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };
const NAME_WIDTH = Math.max(...CHECK_NAMES.map((n) => n.length));

/** One line per check, then a summary a person can act on. */
export function formatDoctorReport(report: DoctorReport): string {
  // At least the basic checks' width; wider for the install-* ones, which used to push their message out of the column.
  const width = Math.max(NAME_WIDTH, ...report.checks.map((c) => c.check.length));
  const lines = report.checks.map((c) => `${STATUS_LABEL[c.status]} ${c.check.padEnd(width)}  ${c.message}`);
  const failed = report.checks.filter((c) => !c.ok).map((c) => c.check);
  const skipped = report.checks.filter((c) => c.status === 'skip').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  const notes = [...(skipped ? [`${skipped} skipped`] : []), ...(warned ? [`${warned} warning${warned > 1 ? 's' : ''}: read the WARN line`] : [])];
  lines.push(
    failed.length === 0
      ? `doctor: all ${report.checks.length} checks passed${notes.length ? ` (${notes.join(', ')})` : ''}`
      : `doctor: ${failed.length} of ${report.checks.length} checks failed (${failed.join(', ')}); fix each FAIL above (docs/doctor.md explains them) and run doctor again`,
  );
  return `${lines.join('\n')}\n`;
}
