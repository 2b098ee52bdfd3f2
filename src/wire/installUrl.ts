/**
 * The one rule for a URL that goes into an install token (the platform URL
 * and the bundle URLs under it). The installer refuses a payload URL that
 * breaks it, but only after the one-time token is spent, so the platform
 * checks its own `--public-url` with this same function at start and never
 * mints a token the installer must refuse.
 */

/** An http(s) URL: scheme, lowercase host, optional port, a plain path; no query, fragment, user info or percent escapes. */
export const INSTALL_URL_PATTERN = /^https?:\/\/[a-z0-9.-]{1,253}(:\d{1,5})?(\/[A-Za-z0-9._~-]+)*\/?$/;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why `value` cannot be an install URL, or null. https anywhere; plain http only to a loopback host. */
export function installUrlProblem(value: unknown): string | null {
  if (typeof value !== 'string' || !INSTALL_URL_PATTERN.test(value)) return 'must be an http(s) URL with a plain path';
  const url = new URL(value);
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return 'plain http is allowed only to a loopback host; use https';
  // On the raw text: URL parsing would already have resolved a "..".
  if (value.includes('..') || value.split('/').slice(3).includes('.')) return 'must not contain ".." or "." path segments';
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65_535)) return 'port out of range';
  return null;
}

/** True for a URL whose host is this machine: an installer elsewhere cannot reach it. */
export function isLoopbackUrl(value: string): boolean {
  try {
    const host = new URL(value).hostname;
    return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  } catch {
    return false;
  }
}
