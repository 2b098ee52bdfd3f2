/**
 * The deployment's own systemd units and cloudflared config, rendered from
 * the templates in systemd/ by plain string replacement. Every value put in
 * has passed an allowlist pattern (no spaces, quotes, "%" specifiers or
 * newlines), so nothing can add a directive or split an argument.
 *
 * The template paths are replaced in one pass over the template, and the
 * ExecStart=/User= lines are set after it: a value already put in is
 * never searched again, so an install dir, workspace or binary path that
 * happens to contain a template path (/opt/ttma-node, /opt/example-tunnel)
 * comes out as given.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCodes, TtmaError } from '../errors.js';
import { cloudflaredIngress } from '../cli/tunnelIngress.js';
import type { InstallPayload } from './fields.js';

const TEMPLATE_DIR = new URL('../../../systemd/', import.meta.url);
const TEMPLATE_INSTALL_DIR = '/opt/ttma';
/** Hidden by ProtectHome=tmpfs: a node installed there (nvm) is mapped in, read-only. */
const HOME_ROOTS = ['/home/', '/root/', '/run/user/'];
const TEMPLATE_TUNNEL = 'example-tunnel';
const TEMPLATE_CLOUDFLARED = '/usr/bin/cloudflared';
/** Inside the gateway bundle: the CLI the unit starts. */
export const GATEWAY_ENTRY = 'dist/src/cli/ttma.js';

export interface UnitInputs {
  payload: InstallPayload;
  dir: string;
  workspace: string;
  user: string;
  nodePath: string;
  cloudflaredPath: string;
  tunnelPort: number;
  localPort: number;
}

/** Every key replaced where it stands as a whole path (no path character follows), in one pass. */
function substitute(text: string, values: ReadonlyMap<string, string>): string {
  const keys = [...values.keys()].sort((a, b) => b.length - a.length).map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  const pattern = new RegExp(`(?:${keys.join('|')})(?![A-Za-z0-9._@+-])`, 'g');
  return text.replace(pattern, (key) => values.get(key)!);
}

function replaceLine(text: string, prefix: string, line: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(prefix));
  if (at < 0) throw new TtmaError(ErrorCodes.CONFIG, `unit template has no ${prefix} line`);
  lines[at] = line;
  return lines.join('\n');
}

/**
 * The gateway's settings as flags, its secrets read from `secretDir`: the unit's
 * `%d` (systemd's credentials directory), or `<dir>/credentials` for a
 * `ttma doctor` run by hand with the same settings.
 */
export function gatewaySettingFlags(u: UnitInputs, secretDir: string): string[] {
  return [
    '--tunnel-port', String(u.tunnelPort), '--local-port', String(u.localPort),
    '--public-host', u.payload.publicHost, '--platform-url', u.payload.platformUrl,
    '--deployment-id', u.payload.deploymentId,
    ...u.payload.numbers.flatMap((n) => ['--number', n]),
    '--agent-secret-file', `${secretDir}/agent-secret`, '--webhook-public-key-file', `${secretDir}/webhook-public-key`,
  ];
}

/** The installed copy's `ttma` as the unit runs it: node, then the bundle's entry. */
export function installedTtma(u: Pick<UnitInputs, 'nodePath' | 'dir'>): string[] {
  return [u.nodePath, `${u.dir}/gateway/${GATEWAY_ENTRY}`];
}

export async function renderGatewayUnit(u: UnitInputs): Promise<string> {
  const template = await readFile(new URL('ttma-gateway.service', TEMPLATE_DIR), 'utf8');
  let text = substitute(template, new Map([[TEMPLATE_INSTALL_DIR, u.dir]]));
  const args = [...installedTtma(u), 'gateway', ...gatewaySettingFlags(u, '%d')];
  text = replaceLine(text, 'ExecStart=', `ExecStart=${args.join(' ')}`);
  const readOnly = [`${u.dir}/gateway`, ...(HOME_ROOTS.some((r) => u.nodePath.startsWith(r)) ? [u.nodePath] : [])];
  text = replaceLine(text, 'BindReadOnlyPaths=', `BindReadOnlyPaths=${readOnly.join(' ')}`);
  // No Group=: systemd uses the user's primary group, which need not share the user's name
  // ("If no group is set, the default group of the user is used",
  // https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#User=).
  return replaceLine(text, 'User=', `User=${u.user}`);
}

export async function renderTunnelUnit(u: UnitInputs): Promise<string> {
  const text = await readFile(new URL('ttma-tunnel.service', TEMPLATE_DIR), 'utf8');
  return substitute(text, new Map([[TEMPLATE_CLOUDFLARED, u.cloudflaredPath], [TEMPLATE_TUNNEL, u.payload.tunnelCredentialsRef], [TEMPLATE_INSTALL_DIR, u.dir]]));
}

/** cloudflared's config: the tunnel name and the ingress that admits only the two public path families. */
export function renderCloudflaredConfig(u: UnitInputs): string {
  return `tunnel: ${u.payload.tunnelCredentialsRef}\n${cloudflaredIngress(u.payload.publicHost, u.tunnelPort)}`;
}
