/**
 * One-time sign-in links to a deployment's own dashboard (FAQ-02, FAQ-17:
 * "review conversations from your dashboard"). The gateway asks for one with
 * its agent secret (`ttma dashboard`); the platform hands back a code of 32
 * random bytes that works once, within LINK_TTL_MS, and only for that
 * deployment. The long-lived agent secret never goes into a browser; the
 * code is kept only as its SHA-256 (DashboardStore: in process, or in Redis
 * so any platform process redeems it), so a dump of the store signs no one in.
 * A code is tagged with the agent secret it was asked for with (a digest of
 * its digest): one asked for before a rotation signs no one in after it, even
 * where the revocation at the rotation was missed.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DashboardStore, TaggedEntry } from './store/DashboardStore.js';
import { MemoryDashboardStore } from './store/MemoryDashboardStore.js';

export const LINK_TTL_MS = 60_000;
/** Codes a deployment may have waiting at once; asking again drops its oldest. */
export const MAX_LINKS_PER_DEPLOYMENT = 4;
/** The code's shape in a URL: 32 bytes, base64url. */
export const LINK_CODE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const FAMILY = 'link';

export class DashboardLinks {
  readonly #store: DashboardStore;
  readonly #now: () => number;

  constructor(options: { store?: DashboardStore; now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#store = options.store ?? new MemoryDashboardStore({ now: this.#now });
  }

  /** A new code for the deployment, and when it stops working (ms since the epoch). */
  async issue(deploymentId: string, tag = ''): Promise<{ code: string; expiresAtMs: number }> {
    const code = randomBytes(32).toString('base64url');
    const expiresAtMs = this.#now() + LINK_TTL_MS;
    await this.#store.put(FAMILY, digest(code), deploymentId, LINK_TTL_MS, MAX_LINKS_PER_DEPLOYMENT, tag);
    return { code, expiresAtMs };
  }

  /** The deployment a code signs in, and its tag, once: the code is spent whatever the answer. Null when unknown, spent or expired. */
  redeem(code: string): Promise<TaggedEntry | null> {
    if (!LINK_CODE_PATTERN.test(code)) return Promise.resolve(null);
    return this.#store.takeTagged(FAMILY, digest(code));
  }

  /** The deployment's waiting codes stop working (its secret was rotated, it was disabled). */
  async revoke(deploymentId: string): Promise<void> {
    await this.#store.revoke(FAMILY, deploymentId);
  }
}

function digest(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}
