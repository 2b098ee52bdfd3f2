/**
 * Whether a request on the local listener is from this machine's own
 * clients (FAQ-04), checked before any local route runs. Three ways in, one
 * check each:
 *  - tunnel_header: it passed through cloudflared or another proxy (the
 *    tunnel's ingress names only the tunnel listener, so this is a
 *    misconfiguration or a forwarder); presence, not value, counts;
 *  - foreign_host: Host is not a loopback name with this listener's port.
 *    DNS rebinding: a page whose name now resolves to 127.0.0.1 reaches
 *    this port, but its browser sends the page's own name as Host;
 *  - cross_site: Origin or Sec-Fetch-Site says another page drove the
 *    browser (a form post or fetch from elsewhere carries the right Host).
 * Clients that send neither header (`ttma`, doctor, curl) are no browser
 * another site drives. The tunnel listener is not guarded by this: what
 * arrives there carries the public hostname as Host.
 */
import { ErrorCodes, type ErrorCode } from '../errors.js';
import type { HttpRequest } from './uws.js';

/** Headers a Cloudflare tunnel or its edge adds: never on a local request. */
export const TUNNEL_HEADERS = ['cf-connecting-ip', 'cf-ray', 'cf-visitor', 'cf-warp-tag-id', 'cdn-loop', 'x-forwarded-for', 'forwarded'];
const TUNNEL_HEADER_SET = new Set(TUNNEL_HEADERS);

export type LocalRefusalReason = 'tunnel_header' | 'foreign_host' | 'cross_site';

export interface LocalRefusal {
  reason: LocalRefusalReason;
  code: ErrorCode;
  message: string;
}

/** Sec-Fetch-Site values of a request the page itself, or the user, made. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/** The Host values (lowercase) a local client sends to this port; the Origins are these behind `http://`. */
export function localHostsFor(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** Why `req` is not a local request, or null when it is. `hosts` from localHostsFor (empty: nothing passes). */
export function localRequestRefusal(req: HttpRequest, hosts: ReadonlySet<string>): LocalRefusal | null {
  const seen = { tunnel: false, hosts: [] as string[], origin: null as string | null, fetchSite: null as string | null };
  req.forEach((key, value) => {
    if (TUNNEL_HEADER_SET.has(key)) seen.tunnel = true;
    else if (key === 'host') seen.hosts.push(value);
    // A second Origin or Sec-Fetch-Site is refused below by its joined value.
    else if (key === 'origin') seen.origin = seen.origin === null ? value : `${seen.origin},${value}`;
    else if (key === 'sec-fetch-site') seen.fetchSite = seen.fetchSite === null ? value : `${seen.fetchSite},${value}`;
  });
  if (seen.tunnel) return { reason: 'tunnel_header', code: ErrorCodes.LOCAL_ONLY, message: 'diagnostics are local only' };
  const host = seen.hosts.length === 1 ? seen.hosts[0]!.trim().toLowerCase() : null;
  if (host === null || !hosts.has(host)) {
    return { reason: 'foreign_host', code: ErrorCodes.LOCAL_ONLY, message: 'diagnostics are local only: Host must be 127.0.0.1, localhost or [::1] with this port' };
  }
  // Present and empty is refused too: no browser sends that, and "null" (an opaque origin) is not ours.
  const { origin, fetchSite } = seen;
  if (origin !== null && !(origin.startsWith('http://') && hosts.has(origin.slice('http://'.length).toLowerCase()))) {
    return { reason: 'cross_site', code: ErrorCodes.CROSS_SITE, message: 'request from another site refused' };
  }
  if (fetchSite !== null && !OWN_FETCH_SITES.has(fetchSite)) {
    return { reason: 'cross_site', code: ErrorCodes.CROSS_SITE, message: 'request from another site refused' };
  }
  return null;
}
