/**
 * `ttma doctor --install-dir DIR`: checks an installed deployment (written by
 * `ttma install`): the unit files are present and keep their hardening, the
 * secrets are owner-only regular files, and every installed bundle file
 * still has the SHA-256 recorded at install time. Pure functions of the
 * directory they are given; each message says what to do.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface InstallCheck {
  check: 'install-units' | 'install-secrets' | 'install-digests';
  ok: boolean;
  message: string;
}

/** Directives a unit must keep; losing one is a failure (FAQ-10). */
export const REQUIRED_GATEWAY_DIRECTIVES = [
  'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=tmpfs', 'PrivateTmp=yes', 'PrivateDevices=yes',
  'ProtectKernelTunables=yes', 'ProtectKernelModules=yes', 'ProtectControlGroups=yes', 'RestrictNamespaces=yes',
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK', 'LockPersonality=yes', 'RestrictRealtime=yes', 'RestrictSUIDSGID=yes',
  'SystemCallFilter=@system-service', 'SystemCallErrorNumber=EPERM', 'SystemCallArchitectures=native',
  'CapabilityBoundingSet=', 'LimitCORE=0', 'UMask=0077',
];

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

export function checkInstallUnits(dir: string): InstallCheck {
  const check = 'install-units';
  const problems: string[] = [];
  const gateway = read(join(dir, 'systemd', 'ttma-gateway.service'));
  const tunnel = read(join(dir, 'systemd', 'ttma-tunnel.service'));
  if (gateway === null) problems.push(`${dir}/systemd/ttma-gateway.service is missing: run ttma install again`);
  else {
    const lines = gateway.split('\n');
    const missing = REQUIRED_GATEWAY_DIRECTIVES.filter((d) => !lines.includes(d));
    if (missing.length) problems.push(`ttma-gateway.service lost its hardening (${missing.join(', ')}): restore it from the install`);
    if (/^User=root$/m.test(gateway) || !/^User=\S+$/m.test(gateway)) problems.push('ttma-gateway.service must name a non-root User= (FAQ-10)');
    if (/^(Environment|EnvironmentFile|PassEnvironment)=/m.test(gateway)) problems.push('ttma-gateway.service passes an environment: secrets go through LoadCredential= only');
  }
  if (tunnel === null) problems.push(`${dir}/systemd/ttma-tunnel.service is missing: run ttma install again`);
  else if (/agent-secret|webhook-public-key/.test(tunnel)) problems.push('ttma-tunnel.service loads a gateway credential: the tunnel must never get one (FAQ-11)');
  return problems.length ? { check, ok: false, message: problems.join('; ') } : { check, ok: true, message: 'unit files present and hardened; secrets by LoadCredential=' };
}

export function checkInstallSecrets(dir: string): InstallCheck {
  const check = 'install-secrets';
  const problems: string[] = [];
  for (const name of ['agent-secret', 'webhook-public-key']) {
    const path = join(dir, 'credentials', name);
    try {
      const s = lstatSync(path);
      if (!s.isFile()) problems.push(`${path} is not a regular file (a symlink can be re-pointed): replace it with the file itself`);
      else if ((s.mode & 0o077) !== 0) problems.push(`${path} is readable or writable by others (mode 0${(s.mode & 0o777).toString(8)}): run chmod 600 ${path}`);
    } catch {
      problems.push(`${path} is missing: run ttma install again with a new token`);
    }
  }
  return problems.length ? { check, ok: false, message: problems.join('; ') } : { check, ok: true, message: 'credentials are owner-only regular files' };
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
  if (changed.length) {
    return { check, ok: false, message: `${changed.length} installed file(s) changed since install (${changed.slice(0, 5).join(', ')}): reinstall from a new token` };
  }
  return { check, ok: true, message: `all ${count} installed bundle files match their SHA-256` };
}

export function checkInstall(dir: string): InstallCheck[] {
  return [checkInstallUnits(dir), checkInstallSecrets(dir), checkInstallDigests(dir)];
}
