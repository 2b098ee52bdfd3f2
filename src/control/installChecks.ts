/**
 * `ttma doctor --install-dir DIR`: checks an installed deployment (written by
 * `ttma install`): the unit files are present and keep their hardening as
 * systemd reads them (unitFile.ts, unitHardening.ts; drop-ins under the
 * system unit directories and `systemctl show` count too), the secrets are
 * owner-only regular files, every installed bundle file still has the
 * SHA-256 recorded at install time, and the gateway holds no file besides
 * them. Each message says what to do.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { sharedModeProblem } from '../configFile/secretFileMode.js';
import { systemctlShow, type ShowProperties, type Systemctl } from './systemctlShow.js';
import { effectiveSettings, readUnitFiles, readUnitWithDropIns, type ReadUnit } from './unitFile.js';
import { gatewayUnitProblems, tunnelUnitProblems } from './unitHardening.js';
import { systemUnitSearchPath } from './unitSearchPath.js';

export interface InstallCheck {
  check: 'install-units' | 'install-secrets' | 'install-digests';
  ok: boolean;
  message: string;
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

export interface UnitCheckOptions {
  /** The directories themselves (default: systemd's search path under `root`, unitSearchPath.ts). */
  systemDirs?: readonly string[];
  /**
   * Where the search path is looked up (default `/`), as `systemctl --root`:
   * an offline image or chroot (`ttma doctor --root`), or a test's own directory.
   * The running systemd is then not asked: it runs another system's units.
   */
  root?: string;
  /** Where `$SYSTEMD_UNIT_PATH` is read (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** `systemctl show`; null when it cannot tell (not installed, no systemd). */
  systemctl?: Systemctl;
}

/** The values `systemctl show` reports that are checked when systemd has the unit loaded. */
const SHOWN = ['FragmentPath', 'DropInPaths', 'User', 'Group', 'DynamicUser', 'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'CapabilityBoundingSet', 'AmbientCapabilities', 'ReadWritePaths', 'LimitCORE'];

/**
 * Every reading of `unit` that matters: the copy in the install dir with any
 * drop-ins an administrator added, and the installed unit systemd runs (the
 * files `systemctl show` names, or else the first copy in `systemDirs`).
 */
function unitReadings(dir: string, unit: string, o: { systemDirs: readonly string[] }, shown: ShowProperties | null): ReadUnit[] | null {
  const own = readUnitWithDropIns(join(dir, 'systemd', unit), o.systemDirs);
  if (!own) return null;
  const readings = [own];
  const fragment = shown?.get('FragmentPath');
  if (fragment) {
    const installed = readUnitFiles([fragment, ...(shown?.get('DropInPaths') ?? '').split(/\s+/).filter(Boolean)]);
    if (installed) readings.push(installed);
  } else {
    const copy = o.systemDirs.map((d) => join(d, unit)).find((p) => read(p) !== null);
    const installed = copy ? readUnitWithDropIns(copy, o.systemDirs) : null;
    if (installed) readings.push(installed);
  }
  return readings;
}

/** The effective values systemd reports, for the few settings whose shown form is plain. */
function shownProblems(unit: string, shown: ShowProperties, kind: 'gateway' | 'tunnel'): string[] {
  const problems: string[] = [];
  const want = (key: string, ok: (v: string) => boolean, text: string) => {
    const value = shown.get(key);
    if (value !== undefined && !ok(value)) problems.push(`${unit}: systemd runs it with ${key}=${value} (systemctl show), not ${text}`);
  };
  if (kind === 'gateway') {
    want('User', (v) => v !== '' && v !== 'root' && !/^0+$/.test(v), 'a non-root user (FAQ-10)');
    want('ReadWritePaths', (v) => v === '', 'no writable paths');
    want('ProtectHome', (v) => ['tmpfs', 'yes'].includes(v), 'tmpfs');
  } else {
    want('DynamicUser', (v) => v === 'yes', 'DynamicUser=yes (FAQ-11)');
    want('ProtectHome', (v) => ['tmpfs', 'yes'].includes(v), 'yes');
  }
  want('NoNewPrivileges', (v) => v === 'yes', 'yes');
  want('ProtectSystem', (v) => v === 'strict', 'strict');
  want('PrivateTmp', (v) => v === 'yes', 'yes');
  want('CapabilityBoundingSet', (v) => v === '', 'an empty set');
  want('AmbientCapabilities', (v) => v === '', 'an empty set');
  want('LimitCORE', (v) => v === '0', '0');
  return problems;
}

/** An install dir inside `root` is named in that system's units by its path there. */
function inImage(path: string, root: string | undefined): string {
  if (!root) return path;
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)) ? `/${rel}` : path;
}

const credentialSources = (r: ReadUnit): string[] =>
  effectiveSettings(r.assignments).get('LoadCredential')?.values.map((v) => v.slice(v.indexOf(':') + 1)) ?? [];

/**
 * `install-units`: both units as systemd reads them (last assignment wins,
 * drop-ins included) keep their hardening, run the gateway as a non-root
 * user with nothing writable, and give the tunnel its own user and none of
 * the gateway's secrets.
 */
export function checkInstallUnits(dir: string, options: UnitCheckOptions = {}): InstallCheck {
  const check = 'install-units';
  const o = {
    systemDirs: options.systemDirs ?? systemUnitSearchPath({ ...(options.root ? { root: options.root } : {}), ...(options.env ? { env: options.env } : {}) }),
    systemctl: options.systemctl ?? (options.root ? () => null : systemctlShow),
  };
  const problems: string[] = [];
  const gatewayShown = o.systemctl('ttma-gateway.service', SHOWN);
  const tunnelShown = o.systemctl('ttma-tunnel.service', SHOWN);
  const gateway = unitReadings(dir, 'ttma-gateway.service', o, gatewayShown);
  const tunnel = unitReadings(dir, 'ttma-tunnel.service', o, tunnelShown);
  if (!gateway) problems.push(`${dir}/systemd/ttma-gateway.service is missing: run ttma install again`);
  for (const r of gateway ?? []) problems.push(...gatewayUnitProblems(effectiveSettings(r.assignments)));
  if (gatewayShown) problems.push(...shownProblems('ttma-gateway.service', gatewayShown, 'gateway'));
  if (!tunnel) problems.push(`${dir}/systemd/ttma-tunnel.service is missing: run ttma install again`);
  const context = { credentialsDir: inImage(join(dir, 'credentials'), options.root), gatewaySources: (gateway ?? []).flatMap(credentialSources) };
  for (const r of tunnel ?? []) problems.push(...tunnelUnitProblems(effectiveSettings(r.assignments), context));
  if (tunnelShown) problems.push(...shownProblems('ttma-tunnel.service', tunnelShown, 'tunnel'));
  const unique = [...new Set(problems)];
  if (unique.length) return { check, ok: false, message: `${unique.join('; ')}; restore the units from the install (and remove the drop-ins that change them)` };
  const files = [...(gateway ?? []), ...(tunnel ?? [])].flatMap((r) => r.files);
  return { check, ok: true, message: `units hardened as shipped after every line and drop-in (${files.length} file(s) read${gatewayShown || tunnelShown ? ', and systemctl show agrees' : ''}); secrets by LoadCredential=, none for the tunnel` };
}

export function checkInstallSecrets(dir: string): InstallCheck {
  const check = 'install-secrets';
  const problems: string[] = [];
  for (const name of ['agent-secret', 'webhook-public-key']) {
    const path = join(dir, 'credentials', name);
    try {
      const s = lstatSync(path);
      if (!s.isFile()) problems.push(`${path} is not a regular file (a symlink can be re-pointed): replace it with the file itself`);
      else if (sharedModeProblem(s.mode)) problems.push(`${path} is ${sharedModeProblem(s.mode)}: run chmod 600 ${path}`);
    } catch {
      problems.push(`${path} is missing: run ttma install again with a new token`);
    }
  }
  return problems.length ? { check, ok: false, message: problems.join('; ') } : { check, ok: true, message: 'credentials are owner-only regular files' };
}

/**
 * What lies under `root` that the record does not list as a file, symlinks
 * and special files included: a digest covers only what it lists, and Node
 * resolves a bare import through every node_modules above the importer
 * (https://nodejs.org/api/modules.html#loading-from-node_modules-folders),
 * so a package dropped in gateway/dist/node_modules shadows the bundle's own
 * copy with every listed file intact.
 */
function unlisted(root: string, files: Record<string, string>): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // gone: its files are reported as changed
    }
    for (const name of names) {
      const path = join(dir, name);
      const stats = lstatSync(path);
      if (stats.isDirectory()) walk(path);
      else if (!stats.isFile() || !Object.hasOwn(files, relative(root, path).split(sep).join('/'))) found.push(path);
    }
  };
  walk(root);
  return found;
}

export function checkInstallDigests(dir: string): InstallCheck {
  const check = 'install-digests';
  const text = read(join(dir, 'install.json'));
  if (text === null) return { check, ok: false, message: `${dir}/install.json is missing: this is not a complete install` };
  let record: { gatewayBundle?: { files?: Record<string, string> }; skillBundle?: { dir?: string; files?: Record<string, string> } };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    return { check, ok: false, message: `${dir}/install.json is not JSON` };
  }
  const changed: string[] = [];
  let count = 0;
  const compare = (root: string, files: Record<string, string> | undefined) => {
    for (const [rel, want] of Object.entries(files ?? {})) {
      count += 1;
      const path = join(root, rel);
      let got: string | null = null;
      try {
        if (lstatSync(path).isFile()) got = createHash('sha256').update(readFileSync(path)).digest('hex');
      } catch {
        got = null;
      }
      if (got !== want) changed.push(path);
    }
  };
  compare(join(dir, 'gateway'), record.gatewayBundle?.files);
  if (record.skillBundle?.dir) compare(record.skillBundle.dir, record.skillBundle.files);
  if (count === 0) return { check, ok: false, message: `${dir}/install.json records no bundle files` };
  // The skill directory is the user's workspace, where OpenClaw or the user may keep files of their own; the gateway's is only ours.
  const added = unlisted(join(dir, 'gateway'), record.gatewayBundle?.files ?? {});
  const problems: string[] = [];
  if (changed.length) problems.push(`${changed.length} installed file(s) changed since install (${changed.slice(0, 5).join(', ')})`);
  if (added.length) problems.push(`${added.length} file(s) in the gateway that the install did not put there (${added.slice(0, 5).join(', ')}), which the gateway may load`);
  if (problems.length) return { check, ok: false, message: `${problems.join('; ')}: reinstall from a new token` };
  return { check, ok: true, message: `all ${count} installed bundle files match their SHA-256` };
}

export function checkInstall(dir: string, options: UnitCheckOptions = {}): InstallCheck[] {
  return [checkInstallUnits(dir, options), checkInstallSecrets(dir), checkInstallDigests(dir)];
}
