/**
 * The `ingress:` section of a cloudflared config for this gateway (DESIGN 7,
 * FAQ-04): only the two public path families of the registered hostname reach
 * the tunnel-facing listener; everything else, any other hostname included,
 * is answered 404 by cloudflared itself and never reaches this machine.
 *
 * cloudflared's `path` is a Go regular expression matched anywhere in the
 * path unless anchored, so both rules start with `^`.
 */
import { ErrorCodes, TtmaError } from '../errors.js';

/** The public path families the tunnel listener serves (GatewayFront): anchored Go regexes. */
export const PUBLIC_PATH_PATTERNS = ['^/v1/webhooks/', '^/v1/media/'] as const;

/** A lowercase DNS name with at least two labels (the same shape config.ts accepts for publicHost). */
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Where cloudflared reaches the tunnel listener, by the gateway's loopback bind address. */
const ORIGIN_HOSTS: Record<string, string> = { '127.0.0.1': '127.0.0.1', '::1': '[::1]', localhost: '127.0.0.1' };

/**
 * YAML for the cloudflared config: one rule per public path family, then the
 * 404 catch-all cloudflared requires as the last rule. Inputs are validated
 * here because they are written into a file another program parses.
 */
export function cloudflaredIngress(hostname: string, tunnelPort: number, bindHost = '127.0.0.1'): string {
  if (typeof hostname !== 'string' || !HOSTNAME.test(hostname)) {
    throw new TtmaError(
      ErrorCodes.CONFIG,
      `tunnel ingress: "${String(hostname)}" is not a lowercase DNS hostname; use the registered tunnel hostname (e.g. gw.example.com)`,
    );
  }
  if (!Number.isInteger(tunnelPort) || tunnelPort < 1 || tunnelPort > 65535) {
    throw new TtmaError(ErrorCodes.CONFIG, `tunnel ingress: tunnel port must be an integer 1..65535, got ${String(tunnelPort)}`);
  }
  const origin = ORIGIN_HOSTS[bindHost];
  if (origin === undefined) {
    throw new TtmaError(ErrorCodes.CONFIG, `tunnel ingress: "${bindHost}" is not a loopback address (FAQ-03)`);
  }
  const service = `http://${origin}:${tunnelPort}`;
  const lines = ['ingress:'];
  for (const path of PUBLIC_PATH_PATTERNS) {
    lines.push(`  - hostname: ${hostname}`, `    path: ${path}`, `    service: ${service}`);
  }
  lines.push('  - service: http_status:404');
  return `${lines.join('\n')}\n`;
}
