/**
 * What the gateway and tunnel units must still say once systemd has read
 * every line and drop-in (unitFile.ts): the hardening they ship with (FAQ-10),
 * no root in any form, no secret in the unit text, no writable paths for the
 * gateway, and no gateway secret for the tunnel (FAQ-11). Each problem names
 * the directive and where its deciding line is.
 */
import { isAbsolute, normalize, sep } from 'node:path';
import type { UnitSettings } from './unitFile.js';

const truthy = (v: string): boolean => ['yes', 'true', 'on', '1'].includes(v.toLowerCase());
const is = (want: string) => (v: string) => v === want;
const oneOf = (...want: string[]) => (v: string) => want.includes(v);

interface Rule {
  key: string;
  /** What the shipped unit says, for the message. */
  want: string;
  ok: (value: string) => boolean;
}

const yes = (key: string): Rule => ({ key, want: 'yes', ok: truthy });

/** Plain settings both units ship with; a missing or changed one is a weakened unit. */
const COMMON_RULES: Rule[] = [
  yes('NoNewPrivileges'),
  { key: 'ProtectSystem', want: 'strict', ok: is('strict') },
  yes('PrivateTmp'), yes('PrivateDevices'), yes('PrivateIPC'), yes('PrivateMounts'), yes('PrivateUsers'),
  yes('ProtectKernelTunables'), yes('ProtectKernelModules'), yes('ProtectKernelLogs'), yes('ProtectControlGroups'),
  yes('ProtectClock'), yes('ProtectHostname'),
  { key: 'ProtectProc', want: 'invisible', ok: oneOf('invisible', 'noaccess') },
  { key: 'ProcSubset', want: 'pid', ok: is('pid') },
  yes('RestrictNamespaces'), yes('LockPersonality'), yes('RestrictRealtime'), yes('RestrictSUIDSGID'), yes('RemoveIPC'),
  { key: 'KeyringMode', want: 'private', ok: is('private') },
  { key: 'DevicePolicy', want: 'closed', ok: oneOf('closed', 'strict') },
  { key: 'SystemCallArchitectures', want: 'native', ok: is('native') },
  { key: 'SystemCallErrorNumber', want: 'EPERM', ok: is('EPERM') },
  { key: 'LimitCORE', want: '0', ok: oneOf('0', '0:0') },
  // At least as strict: nothing for group or others.
  { key: 'UMask', want: '0077', ok: (v) => /^[0-7]{1,4}$/.test(v) && (parseInt(v, 8) & 0o077) === 0o077 },
];

const ALLOWED_FAMILIES = new Set(['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_NETLINK', 'none']);
const EXEC_KEYS = ['ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecCondition', 'ExecReload', 'ExecStop', 'ExecStopPost'];
const isRoot = (name: string): boolean => name === 'root' || /^0+$/.test(name);

const where = (s: UnitSettings, key: string): string => {
  const at = s.get(key)?.at;
  return at ? ` (${at})` : '';
};
const last = (s: UnitSettings, key: string): string | undefined => s.get(key)?.values.at(-1);
const tokens = (s: UnitSettings, key: string): string[] => (s.get(key)?.values ?? []).flatMap((v) => v.split(/\s+/).filter(Boolean));

/** The sandboxing both units share. `protectHome` lists what ProtectHome= may say. */
function hardeningProblems(unit: string, s: UnitSettings, protectHome: string[]): string[] {
  const problems: string[] = [];
  for (const rule of [...COMMON_RULES, { key: 'ProtectHome', want: protectHome.join(' or '), ok: oneOf(...protectHome) }]) {
    const value = last(s, rule.key);
    if (value === undefined) problems.push(`${unit}: ${rule.key}= is missing (ships as ${rule.key}=${rule.want})`);
    else if (!rule.ok(value)) problems.push(`${unit}: ${rule.key}=${value}${where(s, rule.key)} weakens it (ships as ${rule.key}=${rule.want})`);
  }
  // SystemCallFilter=: an allow-list of exactly @system-service, then deny-lists only, @privileged among them.
  const filter = s.get('SystemCallFilter')?.values ?? [];
  const allow = filter.filter((v) => !v.startsWith('~')).flatMap((v) => v.split(/\s+/));
  const denied = filter.filter((v) => v.startsWith('~')).flatMap((v) => v.slice(1).split(/\s+/));
  if (filter.length === 0) problems.push(`${unit}: SystemCallFilter= is empty or missing${where(s, 'SystemCallFilter')}: no system call filter (ships as SystemCallFilter=@system-service and ~@privileged)`);
  else if (filter[0]!.startsWith('~') || allow.join(' ') !== '@system-service' || !denied.includes('@privileged')) {
    problems.push(`${unit}: SystemCallFilter= is ${filter.join(' | ')}${where(s, 'SystemCallFilter')}: it must allow @system-service only and deny ~@privileged`);
  }
  // CapabilityBoundingSet= must end empty: the default (no line, or a line after the reset) keeps capabilities.
  const bounding = s.get('CapabilityBoundingSet');
  if (!bounding?.reset || bounding.values.length > 0) {
    problems.push(`${unit}: CapabilityBoundingSet=${bounding?.values.join(' ') ?? ''}${where(s, 'CapabilityBoundingSet')} leaves capabilities (ships as an empty CapabilityBoundingSet=)`);
  }
  const ambient = s.get('AmbientCapabilities')?.values ?? [];
  if (ambient.length > 0) problems.push(`${unit}: AmbientCapabilities=${ambient.join(' ')}${where(s, 'AmbientCapabilities')} grants capabilities: remove it`);
  const families = tokens(s, 'RestrictAddressFamilies');
  if (families.length === 0 || families.some((f) => !ALLOWED_FAMILIES.has(f))) {
    problems.push(`${unit}: RestrictAddressFamilies=${families.join(' ')}${where(s, 'RestrictAddressFamilies')} (ships as AF_INET AF_INET6 AF_UNIX AF_NETLINK)`);
  }
  // "+" and "!" run a command with full privileges, i.e. as root, whatever User= says.
  for (const key of EXEC_KEYS) {
    for (const command of s.get(key)?.values ?? []) {
      // Only the program is shown: the arguments could carry anything.
      if (/^[@\-:]*[+!]/.test(command)) problems.push(`${unit}: ${key}=${command.split(/\s+/)[0]!.slice(0, 80)}${where(s, key)} runs with full privileges (the "+"/"!" prefix): never root (FAQ-10)`);
    }
  }
  if (truthy(last(s, 'PermissionsStartOnly') ?? 'no')) problems.push(`${unit}: PermissionsStartOnly=yes${where(s, 'PermissionsStartOnly')} runs the start and stop commands as root: remove it`);
  for (const key of ['SetCredential', 'SetCredentialEncrypted']) {
    if (s.get(key)?.ever) problems.push(`${unit}: ${key}=${where(s, key)} puts a secret in the unit text, which every local user can read: use LoadCredential= from a 0600 file`);
  }
  if (s.get('#unreadable')) problems.push(`${unit}: drop-in ${last(s, '#unreadable')} cannot be read, so what systemd runs is unknown`);
  return problems;
}

/** The gateway unit: the OpenClaw user (never root), secrets by LoadCredential only, and nothing writable (it writes no file). */
export function gatewayUnitProblems(s: UnitSettings): string[] {
  const unit = 'ttma-gateway.service';
  // read-only would let a compromised gateway read the whole home (keys, OpenClaw's own config).
  const problems = hardeningProblems(unit, s, ['tmpfs', 'yes']);
  const user = last(s, 'User') ?? '';
  if (user === '' || isRoot(user)) problems.push(`${unit}: User=${user}${where(s, 'User')} runs it as root (an empty or missing User= is root): name the OpenClaw service user (FAQ-10)`);
  const group = last(s, 'Group') ?? '';
  if (isRoot(group)) problems.push(`${unit}: Group=${group}${where(s, 'Group')} gives it root's group: use the service user's own group`);
  if (tokens(s, 'SupplementaryGroups').some(isRoot)) problems.push(`${unit}: SupplementaryGroups=${tokens(s, 'SupplementaryGroups').join(' ')}${where(s, 'SupplementaryGroups')} includes root's group`);
  for (const key of ['Environment', 'EnvironmentFile', 'PassEnvironment']) {
    if (s.get(key)?.values.length) problems.push(`${unit}: ${key}=${where(s, key)} passes an environment: secrets go through LoadCredential= only`);
  }
  for (const key of ['ReadWritePaths', 'ReadWriteDirectories', 'BindPaths']) {
    const paths = s.get(key)?.values ?? [];
    if (paths.length) problems.push(`${unit}: ${key}=${paths.join(' ')}${where(s, key)} makes paths writable: the gateway writes no file, and a writable install dir lets a compromised gateway rewrite its own code or the tunnel's ingress`);
  }
  return problems;
}

/** A path as a list of segments, or null when it is not absolute. */
const segments = (p: string): string[] | null => (isAbsolute(p) ? normalize(p).split(sep).filter(Boolean) : null);
/** One path is the other, or contains it. */
function overlaps(a: string, b: string): boolean {
  const [x, y] = [segments(a), segments(b)];
  if (!x || !y) return false;
  const n = Math.min(x.length, y.length);
  return x.slice(0, n).join('/') === y.slice(0, n).join('/');
}

/** systemd's credential-name globs: `*` and `?`. */
function globMatches(glob: string, name: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`).test(name);
}

/** The gateway's secrets by their credential names; a tunnel credential of these names is one of them. */
export const GATEWAY_CREDENTIAL_NAMES = ['agent-secret', 'webhook-public-key', 'agent-key', 'openclaw-token'];

export interface TunnelContext {
  /** <dir>/credentials: the gateway's secret files. */
  credentialsDir: string;
  /** Sources of the gateway unit's own LoadCredential= lines. */
  gatewaySources: string[];
}

/**
 * The tunnel unit: its own throwaway user (DynamicUser=yes, and no User= or
 * Group= that would pick a static user instead), and no credential that is,
 * contains or sits in the gateway's secrets (FAQ-11).
 */
export function tunnelUnitProblems(s: UnitSettings, ctx: TunnelContext): string[] {
  const unit = 'ttma-tunnel.service';
  const problems = hardeningProblems(unit, s, ['yes', 'tmpfs']);
  if (!truthy(last(s, 'DynamicUser') ?? 'no')) problems.push(`${unit}: DynamicUser=${last(s, 'DynamicUser') ?? ''}${where(s, 'DynamicUser')}: the tunnel must run as its own throwaway user (DynamicUser=yes), never the gateway's (FAQ-11)`);
  for (const key of ['User', 'Group']) {
    const value = last(s, key);
    if (value) problems.push(`${unit}: ${key}=${value}${where(s, key)}: with DynamicUser=yes an existing ${key.toLowerCase()} of that name is used as is, so remove it (FAQ-11)`);
  }
  if (tokens(s, 'SupplementaryGroups').length) problems.push(`${unit}: SupplementaryGroups=${tokens(s, 'SupplementaryGroups').join(' ')}${where(s, 'SupplementaryGroups')} lets the tunnel read files of those groups: remove it (FAQ-11)`);
  const secrets = [ctx.credentialsDir, ...ctx.gatewaySources];
  for (const key of ['LoadCredential', 'LoadCredentialEncrypted', 'ImportCredential', 'BindReadOnlyPaths', 'BindPaths', 'EnvironmentFile']) {
    for (const value of s.get(key)?.values ?? []) {
      const colon = key.startsWith('LoadCredential') ? value.indexOf(':') : -1;
      const [name, source] = colon >= 0 ? [value.slice(0, colon), value.slice(colon + 1)] : ['', value.replace(/^[-+]/, '').split(':')[0]!];
      const leaf = source.split('/').at(-1) ?? '';
      const named = key === 'ImportCredential'
        ? GATEWAY_CREDENTIAL_NAMES.some((g) => globMatches(value.split(':')[0]!, g))
        : GATEWAY_CREDENTIAL_NAMES.some((g) => g === name || g === leaf);
      if (named || secrets.some((p) => overlaps(source, p))) {
        problems.push(`${unit}: ${key}=${value}${where(s, key)} hands the tunnel a gateway secret (under ${ctx.credentialsDir}, or named like one): the tunnel must never get one (FAQ-11)`);
      }
    }
  }
  return problems;
}
