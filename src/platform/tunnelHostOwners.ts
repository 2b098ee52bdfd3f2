/**
 * One tunnel host, one deployment (FAQ-13: "the audio stream has to match the tunnel registered
 * for your deployment"). A stream URL's host must be the deployment's tunnel host: were two
 * deployments to share one, B's allowlist would admit A's tunnel, so B's calls could be streamed
 * to A's gateway (which refuses B's media token, but a typo would go unnoticed). The stores refuse
 * a second holder (TTMA_ERR_TUNNEL_HOST_TAKEN); data stored before that rule may hold pairs, which
 * are named at the platform's start and kept (nobody is locked out; moving one frees the host).
 *
 * Hosts compare as DNS names do (RFC 4343: case-insensitive; a trailing dot is the root, RFC 1034
 * 3.1), so `A.trycloudflare.com.` and `a.trycloudflare.com` are one host.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Deployment } from './DeploymentRegistry.js';

/** The host as compared: lowercase, without a trailing dot. */
export function tunnelHostKey(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** The refusal of a host another deployment holds (admin-only routes: naming the holder helps the operator). */
export function tunnelHostTaken(host: string, holder: string): TtmaError {
  return new TtmaError(
    ErrorCodes.TUNNEL_HOST_TAKEN,
    `tunnel host ${host} is already registered to deployment ${holder}: each deployment needs a tunnel of its own (FAQ-13)`,
    409,
  );
}

/** Hosts held by more than one deployment, each with its holders' ids (sorted). */
export function sharedTunnelHosts(deployments: readonly Pick<Deployment, 'id' | 'tunnelHost'>[]): Map<string, string[]> {
  const holders = new Map<string, string[]>();
  for (const d of deployments) {
    const key = tunnelHostKey(d.tunnelHost);
    holders.set(key, [...(holders.get(key) ?? []), d.id]);
  }
  return new Map([...holders].filter(([, ids]) => ids.length > 1).map(([host, ids]) => [host, ids.sort()]));
}

/** Once at start: one warning per host stored for several deployments (kept as they are); the sentences. */
export function warnSharedTunnelHosts(log: Logger, deployments: readonly Pick<Deployment, 'id' | 'tunnelHost'>[]): string[] {
  const warnings: string[] = [];
  for (const [host, ids] of sharedTunnelHosts(deployments)) {
    const warning =
      `tunnel host ${host} is registered to ${ids.length} deployments (${ids.join(', ')}), stored before each needed its own: ` +
      `each one's stream allowlist admits the others' tunnel (FAQ-13); give each its own tunnel host (PATCH tunnelHost)`;
    log.warn({ code: ErrorCodes.TUNNEL_HOST_TAKEN, tunnelHost: host, deployments: ids }, warning);
    warnings.push(warning);
  }
  return warnings;
}
