/**
 * Approved tunnel domains (FAQ-13): a deployment's tunnel host must lie
 * strictly below one of them, matched by whole labels. The one list serves
 * the registration check (DeploymentRegistry) and the stream_url allowlist
 * (a stream URL's host must be the registered host, itself still below the
 * list). The operator sets it with `approvedTunnelDomains`
 * (src/configFile/platformSettings.ts), e.g. a named tunnel's own zone.
 */

export const DEFAULT_APPROVED_TUNNEL_DOMAINS: readonly string[] = ['trycloudflare.com', 'cfargotunnel.com'];

/** One DNS label (RFC 1035 as relaxed by RFC 1123), lowercase only. */
const DNS_LABEL_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME_MAX = 253;

/**
 * Second-level labels that, under a two-letter country code, form a public
 * suffix (co.uk, com.au, ac.jp, ...). A heuristic, not the Public Suffix
 * List (https://publicsuffix.org/list/): it catches the common mistakes.
 */
const COUNTRY_SECOND_LEVEL = new Set(['ac', 'co', 'com', 'edu', 'gob', 'go', 'gov', 'ltd', 'mil', 'ne', 'net', 'nom', 'or', 'org', 'plc', 'sch']);

/** A lowercase DNS name of labels of letters, digits and inner hyphens (no wildcard, scheme, port or trailing dot). */
export function isDnsName(host: string): boolean {
  if (host.length === 0 || host.length > DNS_NAME_MAX) return false;
  return host.split('.').every((label) => DNS_LABEL_PATTERN.test(label));
}

/** Why `domain` cannot be an approved tunnel domain, or null when it can. */
export function tunnelDomainProblem(domain: string): string | null {
  if (!isDnsName(domain)) return 'not a lowercase DNS name (letters, digits, "-" and "."; no scheme, port, path or wildcard)';
  const labels = domain.split('.');
  if (labels.length < 2) return 'a single label (a top-level domain): it needs at least two labels';
  const [second, top] = labels as [string, string];
  if (labels.length === 2 && top.length === 2 && COUNTRY_SECOND_LEVEL.has(second)) {
    return 'a public suffix (like co.uk): name a domain registered under it';
  }
  return null;
}

/** True when host is strictly below one of the domains by whole labels: `x.a.example` under `a.example`, `evil-a.example` not. */
export function isBelowDomains(host: string, domains: readonly string[]): boolean {
  if (!isDnsName(host)) return false;
  return domains.some((domain) => host.endsWith(`.${domain}`));
}
