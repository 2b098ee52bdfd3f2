/**
 * A live call's own budget for new media streams (`streaming_start`), apart
 * from its deployment's rate limit.
 *
 * Why: a tunnel reconnect loses every live call's media socket at once, and
 * every call asks for a new stream within the same second. Charged to the
 * deployment's bucket (20 a second, burst 40), about 140 calls came back and
 * the rest ended (docs/control.md). A restart cannot start a call or add
 * minutes; what it costs is one provider request. So each call gets a small
 * bucket of its own: `burst` requests at once, refilled at `ratePerSec`.
 *
 * Only for a call the store shows locked to the asking deployment and
 * answered (live): anything else, or a call whose bucket is empty, or a
 * store that does not answer, is charged to the deployment's bucket as
 * before. So a compromised gateway gains at most `burst` requests per live
 * call it really has (which cost it minutes), never a way around the limit.
 */
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { RateLimitSettings, RateLimitStore } from './store/RateLimitStore.js';

/**
 * 8 at once covers a whole lost stream's requests: the gateway asks at the
 * loss, after 0.5 and 1 s, then every 2 s until 10 s after it (at most 7,
 * src/actors/StreamRestarts.ts), so a tunnel down for seconds costs the
 * deployment's bucket nothing. One more every 10 s.
 */
export const DEFAULT_STREAM_RESTART_BUDGET: RateLimitSettings = { ratePerSec: 0.1, burst: 8 };

export class StreamRestartBudget {
  readonly #calls: CallRegistry;
  readonly #store: RateLimitStore;
  readonly #log: Logger;

  constructor(options: { calls: CallRegistry; store: RateLimitStore; log: Logger }) {
    this.#calls = options.calls;
    this.#store = options.store;
    this.#log = options.log;
  }

  get store(): RateLimitStore {
    return this.#store;
  }

  /** True when the call's own budget pays for this request; false: charge the deployment. */
  async take(deploymentId: string, callId: string): Promise<boolean> {
    try {
      const call = await this.#calls.get(callId);
      if (!call || !call.locked || call.deploymentId !== deploymentId || call.state !== 'answered') return false;
      const { granted } = await this.#store.take(callId, 1);
      return granted === 1;
    } catch (err) {
      this.#log.warn({ deployment: deploymentId, callId, err: (err as Error).message }, 'stream restart budget unavailable: charging the deployment');
      return false;
    }
  }
}
