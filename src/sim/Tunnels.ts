/**
 * The simulated Cloudflare tunnel: public hostnames mapped to local origins.
 *
 * A stream URL `wss://<public host>/path?query` is opened as `<base>/path?query`
 * (scheme ws:), a webhook URL `https://<public host>/path` is posted to the base
 * as http:. Unknown hosts resolve to nothing (the call gets `streaming.failed`):
 * the simulator never connects anywhere but loopback.
 */
import { ErrorCodes, TtmaError } from '../errors.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HOSTNAME_PATTERN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

export interface ResolvedTarget {
  /** The loopback URL actually connected to. */
  target: URL;
  /** The public hostname when the request went through a tunnel, else null. */
  tunnelHost: string | null;
}

export class Tunnels {
  readonly #bases = new Map<string, URL>();
  /** Hosts whose connector is gone (cloudflared restarting): new media connections fail. */
  readonly #down = new Set<string>();

  constructor(tunnels: Record<string, string>) {
    for (const [host, base] of Object.entries(tunnels)) {
      const name = host.toLowerCase();
      if (!HOSTNAME_PATTERN.test(name)) {
        throw new TtmaError(ErrorCodes.CONFIG, `tunnel hostname "${host}" is not a valid DNS name`);
      }
      let url: URL;
      try {
        url = new URL(base);
      } catch {
        throw new TtmaError(ErrorCodes.CONFIG, `tunnel "${host}" maps to "${base}", which is not a URL (want ws://127.0.0.1:PORT)`);
      }
      if ((url.protocol !== 'ws:' && url.protocol !== 'http:') || !isLoopbackHost(url.hostname)) {
        throw new TtmaError(
          ErrorCodes.CONFIG,
          `tunnel "${host}" maps to "${base}": the origin must be ws:// or http:// on a loopback address`,
        );
      }
      if (url.search || url.hash || url.username || url.password) {
        throw new TtmaError(ErrorCodes.CONFIG, `tunnel "${host}" origin "${base}" must not carry a query, fragment or credentials`);
      }
      this.#bases.set(name, url);
    }
  }

  get hosts(): string[] {
    return [...this.#bases.keys()];
  }

  /**
   * Takes a tunnel's connector away (or brings it back): while down, a new
   * media connection to the host fails as the edge answers one with no
   * connector (HTTP 530). Open sockets and webhooks are left as they are.
   */
  setDown(host: string, down: boolean): void {
    const name = host.toLowerCase();
    if (!this.#bases.has(name)) throw new TtmaError(ErrorCodes.CONFIG, `no tunnel serves host ${host}`);
    if (down) this.#down.add(name);
    else this.#down.delete(name);
  }

  /** Maps a `wss://` stream URL to its ws:// origin URL, or explains why it can't. */
  resolveStreamUrl(streamUrl: string): ResolvedTarget | { error: string } {
    let url: URL;
    try {
      url = new URL(streamUrl);
    } catch {
      return { error: 'stream_url is not a valid URL' };
    }
    if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
      return { error: `stream_url scheme ${url.protocol} is not wss:` };
    }
    const base = this.#bases.get(url.hostname.toLowerCase());
    if (!base) return { error: `no tunnel serves host ${url.hostname} (DNS lookup failed)` };
    if (this.#down.has(url.hostname.toLowerCase())) return { error: `tunnel ${url.hostname} has no connector (HTTP 530)` };
    return { target: this.#join(base, url, 'ws:'), tunnelHost: url.hostname.toLowerCase() };
  }

  /**
   * Maps a webhook URL: a tunnel host goes to its origin over http:, a loopback
   * http:// URL is used as is. Anything else is a configuration error.
   */
  resolveWebhookUrl(webhookUrl: string): ResolvedTarget {
    let url: URL;
    try {
      url = new URL(webhookUrl);
    } catch {
      throw new TtmaError(ErrorCodes.CONFIG, `webhook URL "${webhookUrl}" is not a valid URL`);
    }
    const base = this.#bases.get(url.hostname.toLowerCase());
    if (base && (url.protocol === 'https:' || url.protocol === 'http:')) {
      return { target: this.#join(base, url, 'http:'), tunnelHost: url.hostname.toLowerCase() };
    }
    if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) {
      return { target: url, tunnelHost: null };
    }
    throw new TtmaError(
      ErrorCodes.CONFIG,
      `webhook URL "${webhookUrl}" must be http:// on 127.0.0.1 or use a configured tunnel host (${this.hosts.join(', ') || 'none configured'})`,
    );
  }

  #join(base: URL, url: URL, protocol: 'ws:' | 'http:'): URL {
    const prefix = base.pathname.endsWith('/') ? base.pathname.slice(0, -1) : base.pathname;
    const target = new URL(`${protocol}//${base.host}`);
    target.pathname = `${prefix}${url.pathname}`;
    target.search = url.search;
    return target;
  }
}

/** Headers cloudflared's edge adds to a request it forwards to the origin. */
export function tunnelEdgeHeaders(publicHost: string, edgeIp: string, rayId: string): Record<string, string> {
  return {
    host: publicHost,
    'cf-connecting-ip': edgeIp,
    'cf-ray': rayId,
    'cf-visitor': '{"scheme":"https"}',
    'x-forwarded-for': edgeIp,
    'x-forwarded-proto': 'https',
  };
}
