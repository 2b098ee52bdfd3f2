/**
 * Ports fetch never connects to: the Fetch standard's "bad port" list
 * (https://fetch.spec.whatwg.org/#port-blocking), which undici, Node's
 * fetch, applies too (it fails with "bad port" before connecting). A
 * platform on one of them cannot be reached by the installer, the gateway
 * or doctor, so each refuses it up front with this one check.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113,
  115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556,
  563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
  6668, 6669, 6679, 6697, 10080,
]);

/** Why fetch would not connect to `port`, or null. */
export function fetchBlockedPortProblem(port: number): string | null {
  if (!FETCH_BLOCKED_PORTS.has(port)) return null;
  return `port ${port} is one that fetch refuses to connect to (the Fetch standard's blocked ports, such as 1, 6000 or 10080)`;
}

/** The same for a URL's explicit port (the default ports 80 and 443 are never blocked); null for a URL that does not parse. */
export function fetchBlockedUrlProblem(url: string): string | null {
  let port: string;
  try {
    port = new URL(url).port;
  } catch {
    return null;
  }
  return port === '' ? null : fetchBlockedPortProblem(Number(port));
}
