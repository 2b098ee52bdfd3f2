/**
 * `ttma install`: redeem a one-time token, check everything, then write
 * (FAQ-08, FAQ-15, FAQ-16, FAQ-18).
 *
 * Order: every check comes before the first write. The target paths are
 * checked first (targets.ts), so a problem on this machine leaves the
 * one-time token unused; then the token is parsed, the envelope redeemed
 * (with this machine's target, so a gateway bundle built for another is
 * refused by the platform before it takes the token)
 * and opened, every payload
 * field matched against its allowlist, both bundles downloaded and
 * SHA-256-verified, both archives scanned whole, SKILL.md read. Only then is
 * anything written: into staging directories inside the install directory
 * and the workspace, renamed into place at the end; on any failure all of
 * it is removed again, and the error says whether the token is spent
 * (failure.ts).
 *
 * Writes only under the install directory and the workspace; spawns no
 * program; creates no users, keys, firewall rules, cron jobs, services or
 * telemetry (the unit files are written into the install directory for the
 * operator to copy, with the commands printed).
 */
import { chmod, lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';
import { openInstallEnvelope, parseInstallToken } from '../wire/installToken.js';
import { GATEWAY_LIMITS, SKILL_LIMITS, type ScannedArchive } from './archiveScan.js';
import { currentTarget, type GatewayBundleManifest } from './bundleManifest.js';
import { downloadVerified } from './download.js';
import { redeem } from './redeem.js';
import { extractInto, stagingBeside, unpackScanned } from './extractArchive.js';
import { installFailure, type TokenState } from './failure.js';
import { PATTERNS, checkInstallPayload, checkListenerPorts, checkPath, checkString, checkUrl, type InstallPayload } from './fields.js';
import { gatewaySettingFlags, installedTtma, renderCloudflaredConfig, renderGatewayUnit, renderTunnelUnit, type UnitInputs } from './renderUnits.js';
import { clockWarnings } from './clockSkew.js';
import { type SkillManifest } from './skillManifest.js';
import { checkSkillBundle } from './skillBundle.js';
import { checkGatewayBundleBytes } from './gatewayBundle.js';
import { checkSkillTarget, checkTargets, prepareTargets } from './targets.js';

export interface InstallOptions {
  token: string;
  /** Where the token is redeemed. */
  platformUrl: string;
  dir: string;
  workspace: string;
  /** User= of the gateway unit (the OpenClaw service user). */
  user: string;
  nodePath: string;
  cloudflaredPath: string;
  tunnelPort: number;
  localPort: number;
  now?: () => number;
}

export interface InstallResult {
  deploymentId: string;
  dir: string;
  skillDir: string;
  skill: SkillManifest;
  /** Every file and directory written, absolute, sorted. */
  written: string[];
  /** Worth fixing, did not stop the install (a clock far from the platform's). */
  warnings: string[];
  /** The unit's service user, who runs `doctorArgs`. */
  user: string;
  /** `ttma doctor` with the installed gateway's own settings (its unit's flags, secrets from `<dir>/credentials`). */
  doctorArgs: string[];
  /**
   * The installed copy's `ttma`, as its unit runs it (node, then the entry): nothing puts a `ttma`
   * on the PATH, so a printed `ttma doctor` was "command not found" for an operator.
   */
  ttmaCommand: string[];
}

function targetError(what: string): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_TARGET, `${what}; nothing was written`, 2);
}

async function walk(root: string, out: string[]): Promise<void> {
  out.push(root);
  if (!(await lstat(root)).isDirectory()) return;
  for (const name of await readdir(root)) await walk(join(root, name), out);
}

interface Checked {
  payload: InstallPayload;
  gateway: ScannedArchive;
  /** The gateway bundle's own manifest: what it was built from and for. */
  bundle: GatewayBundleManifest;
  skill: ScannedArchive;
  manifest: SkillManifest;
}

/** Everything before the first write, from the redemption on; `state` follows the token; `warnings` collects what the user should know. */
async function checkEverything(o: InstallOptions, now: () => number, state: TokenState, warnings: string[]): Promise<Checked> {
  const token = parseInstallToken(o.token);
  let payload: InstallPayload;
  try {
    state.phase = 'sent';
    const redeemed = await redeem(o.platformUrl, o.token, {
      onSpent: () => { state.phase = 'spent'; },
      onMaybeSpent: () => { state.phase = 'maybe-spent'; },
      onNotSent: () => { state.phase = 'unused'; },
      onKept: () => { state.phase = 'kept'; },
    });
    // No expiry check by this machine's clock: the platform just redeemed the token, which is the check that counts.
    payload = checkInstallPayload(openInstallEnvelope(redeemed.envelope, token, null));
    warnings.push(...clockWarnings(now(), redeemed.platformDateMs, payload.expiresAt));
  } finally {
    token.secret.fill(0);
  }
  state.deploymentId = payload.deploymentId;
  const gatewayGz = await downloadVerified('gateway bundle', payload.gatewayBundle.url, payload.gatewayBundle.sha256, GATEWAY_LIMITS.maxTarBytes);
  const skillGz = await downloadVerified('skill bundle', payload.skillBundle.url, payload.skillBundle.sha256, SKILL_LIMITS.maxTarBytes);
  const { archive: gateway, bundle } = await checkGatewayBundleBytes(gatewayGz, currentTarget());
  const { archive: skill, manifest } = await checkSkillBundle(skillGz);
  return { payload, gateway, bundle, skill, manifest };
}

export async function runInstall(o: InstallOptions): Promise<InstallResult> {
  const state: TokenState = { phase: 'unused' };
  const leftovers: string[] = [];
  try {
    return await install(o, state, leftovers);
  } catch (err) {
    throw installFailure(err, state, leftovers);
  }
}

/** `leftovers` receives what a failed install could not remove again. */
async function install(o: InstallOptions, state: TokenState, leftovers: string[]): Promise<InstallResult> {
  const now = o.now ?? Date.now;
  // Command-line values first: they go into paths and unit files.
  const dir = checkPath('--dir', o.dir);
  const workspace = checkPath('--workspace', o.workspace);
  const platformUrl = checkUrl('--platform-url', o.platformUrl);
  const user = checkString('--user', o.user, PATTERNS.userName, 'must be a POSIX user name (a-z, 0-9, "_", "-"), and never root');
  if (user === 'root') throw targetError('--user root: the gateway never runs as root (FAQ-10); name the OpenClaw service user');
  const nodePath = checkPath('--node', o.nodePath);
  const cloudflaredPath = checkPath('--cloudflared', o.cloudflaredPath);
  const ports = checkListenerPorts(o.tunnelPort, o.localPort);
  if (dir === workspace) throw targetError('--dir and --workspace must differ');
  // Local problems are found while the one-time token is still unused.
  const plan = await checkTargets(dir, workspace);

  const warnings: string[] = [];
  const checked = await checkEverything({ ...o, platformUrl }, now, state, warnings);
  const skillDir = join(plan.skills, checked.manifest.name);
  await checkSkillTarget(skillDir);

  const units: UnitInputs = { payload: checked.payload, dir, workspace, user, nodePath, cloudflaredPath, ...ports };
  const placed: string[] = [];
  // Directories this run made: pushed only after their own mkdir succeeded, removed again on failure.
  const created: string[] = [];
  let staging: string | null = null;
  try {
    await prepareTargets(plan, created);
    // The skill: staged beside its target, renamed into place.
    await extractInto(checked.skill, skillDir, 'skill bundle');
    placed.push(skillDir);

    // The install directory: staged whole in a 0700 directory inside it.
    staging = await stagingBeside(join(dir, 'x'));
    await mkdir(join(staging, 'gateway'), { mode: 0o700 });
    await unpackScanned(checked.gateway, join(staging, 'gateway'), 'gateway bundle');
    await mkdir(join(staging, 'credentials'), { mode: 0o700 });
    await writeFile(join(staging, 'credentials', 'agent-secret'), `${checked.payload.agentSecret}\n`, { mode: 0o600 });
    await writeFile(join(staging, 'credentials', 'webhook-public-key'), `${checked.payload.webhookPublicKey}\n`, { mode: 0o600 });
    await mkdir(join(staging, 'cloudflared'), { mode: 0o700 });
    await writeFile(join(staging, 'cloudflared', 'config.yml'), renderCloudflaredConfig(units), { mode: 0o600 });
    await mkdir(join(staging, 'systemd'), { mode: 0o755 });
    await writeFile(join(staging, 'systemd', 'ttma-gateway.service'), await renderGatewayUnit(units), { mode: 0o644 });
    await writeFile(join(staging, 'systemd', 'ttma-tunnel.service'), await renderTunnelUnit(units), { mode: 0o644 });
    const record = installRecord(checked, { dir, workspace, skillDir, user, installedAt: now(), ...ports });
    await writeFile(join(staging, 'install.json'), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    // install.json last: its presence marks a complete install.
    for (const name of ['gateway', 'credentials', 'cloudflared', 'systemd', 'install.json']) {
      await rename(join(staging, name), join(dir, name));
      placed.push(join(dir, name));
    }
    await rm(staging, { recursive: true });
    staging = null;
    await chmod(dir, 0o700);
  } catch (err) {
    leftovers.push(...(await removeAll([...(staging ? [staging] : []), ...placed.reverse(), ...created.reverse()])));
    throw err;
  }
  const written: string[] = [];
  for (const path of placed) await walk(path, written);
  written.push(...created);
  // Without the gateway's flags doctor checks the defaults and fails four checks on a good install.
  const doctorArgs = ['doctor', '--install-dir', dir, ...gatewaySettingFlags(units, join(dir, 'credentials'))];
  return { deploymentId: checked.payload.deploymentId, dir, skillDir, skill: checked.manifest, written: [...new Set(written)].sort(), warnings, user, doctorArgs, ttmaCommand: installedTtma(units) };
}

/** Best effort: every path is tried; the ones still there afterwards are returned. */
async function removeAll(paths: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const path of paths) {
    try {
      await rm(path, { recursive: true, force: true });
    } catch {
      left.push(path);
    }
  }
  return left;
}

/** install.json: what was installed and the digests `ttma doctor` re-checks. No secret. */
function installRecord(c: Checked, where: { dir: string; workspace: string; skillDir: string; user: string; installedAt: number; tunnelPort: number; localPort: number }) {
  const files = (a: ScannedArchive) => Object.fromEntries(a.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.sha256]));
  return {
    version: 1,
    deploymentId: c.payload.deploymentId,
    platformUrl: c.payload.platformUrl,
    publicHost: c.payload.publicHost,
    numbers: c.payload.numbers,
    tunnelCredentialsRef: c.payload.tunnelCredentialsRef,
    gatewayVersion: c.payload.gatewayVersion,
    installedAt: new Date(where.installedAt).toISOString(),
    user: where.user,
    workspace: where.workspace,
    // The unit's ports: `ttma call --install-dir` (and the skill's ttma) find the gateway on localPort.
    tunnelPort: where.tunnelPort,
    localPort: where.localPort,
    gatewayBundle: {
      url: c.payload.gatewayBundle.url,
      sha256: c.payload.gatewayBundle.sha256,
      version: c.bundle.version,
      commit: c.bundle.commit,
      target: c.bundle.target,
      files: files(c.gateway),
    },
    skillBundle: { url: c.payload.skillBundle.url, sha256: c.payload.skillBundle.sha256, name: c.manifest.name, version: c.manifest.version, dir: where.skillDir, files: files(c.skill) },
  };
}
