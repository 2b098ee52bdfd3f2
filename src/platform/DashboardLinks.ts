/**
 * One-time sign-in links to a deployment's own dashboard (FAQ-02, FAQ-17:
 * "review conversations from your dashboard"). The gateway asks for one with
 * its agent secret (`ttma dashboard`); the platform hands back a code of 32
 * random bytes that works once, within LINK_TTL_MS, and only for that
 * deployment. The long-lived agent secret never goes into a browser; the
 * code is kept here only as its SHA-256, so a memory dump of the platform
 * does not sign anyone in.
 */
import { createHash, randomBytes } from 'node:crypto';

export const LINK_TTL_MS = 60_000;
/** Codes a deployment may have waiting at once; asking again drops its oldest. */
export const MAX_LINKS_PER_DEPLOYMENT = 4;
/** Codes kept in all: past this the oldest goes (each deployment's requests are rate-limited too). */
const MAX_LINKS = 10_000;
/** The code's shape in a URL: 32 bytes, base64url. */
export const LINK_CODE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

interface Waiting {
  deploymentId: string;
  expires: number;
}

export class DashboardLinks {
  readonly #now: () => number;
  /** SHA-256 (hex) of a code -> whom it signs in, oldest first. */
  readonly #codes = new Map<string, Waiting>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** A new code for the deployment, and when it stops working (ms since the epoch). */
  issue(deploymentId: string): { code: string; expiresAtMs: number } {
    this.#sweep();
    const mine = [...this.#codes].filter(([, w]) => w.deploymentId === deploymentId);
    for (const [key] of mine.slice(0, Math.max(0, mine.length - MAX_LINKS_PER_DEPLOYMENT + 1))) this.#codes.delete(key);
    const code = randomBytes(32).toString('base64url');
    const expiresAtMs = this.#now() + LINK_TTL_MS;
    this.#codes.set(digest(code), { deploymentId, expires: expiresAtMs });
    while (this.#codes.size > MAX_LINKS) this.#codes.delete(this.#codes.keys().next().value as string);
    return { code, expiresAtMs };
  }

  /** The deployment a code signs in, once: the code is spent whatever the answer. Null when unknown, spent or expired. */
  redeem(code: string): string | null {
    if (!LINK_CODE_PATTERN.test(code)) return null;
    const key = digest(code);
    const waiting = this.#codes.get(key);
    if (waiting === undefined) return null;
    this.#codes.delete(key);
    return waiting.expires > this.#now() ? waiting.deploymentId : null;
  }

  /** The deployment's waiting codes stop working (its secret was rotated, it was disabled). */
  revoke(deploymentId: string): void {
    for (const [key, waiting] of this.#codes) if (waiting.deploymentId === deploymentId) this.#codes.delete(key);
  }

  get size(): number {
    return this.#codes.size;
  }

  #sweep(): void {
    const now = this.#now();
    // Oldest first: stop at the first one still alive (all were issued with the same TTL).
    for (const [key, waiting] of this.#codes) {
      if (waiting.expires > now) break;
      this.#codes.delete(key);
    }
  }
}

function digest(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}
