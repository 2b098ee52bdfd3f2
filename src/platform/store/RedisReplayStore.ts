/**
 * The ReplayStore contract on Redis: one key per event id, written with
 * `SET NX PX` (one atomic command, so no script is needed), expiring with the
 * window. The key is tagged with its own id: a single-key command runs in
 * whatever Cluster slot that gives. Ids are hashed (SHA-256) so a provider's
 * id of any shape makes a key of fixed size and alphabet.
 * Fails closed: while Redis is unreachable every check fails with
 * TTMA_ERR_STORE_UNAVAILABLE, and the platform refuses the webhook (503) so
 * the provider retries it later. A check whose reply was lost (Redis hung:
 * the `SET` runs when it resumes) is undone by a delete sent right behind it on
 * the same connection, which runs after it in order: otherwise the provider's
 * retry, after the 503, would be taken for a replay and the event lost.
 */
import { createHash, randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../../errors.js';
import { RedisBackedStore } from './redisClient.js';
import type { ReplayStore } from './ReplayStore.js';

export interface RedisReplayStoreOptions {
  url: string;
  /** How long an id is remembered (the platform passes twice the 300 s signature tolerance). */
  ttlMs: number;
  prefix?: string;
  commandTimeoutMs?: number;
}

export class RedisReplayStore extends RedisBackedStore implements ReplayStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(options: RedisReplayStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma';
    this.#ttlMs = options.ttlMs;
    this.redis.defineCommand('ttmaForgetOwn', { numberOfKeys: 1, lua: FORGET_OWN_SCRIPT });
  }

  /** The key an id is remembered under (exported for the key-layout test). */
  keyOf(key: string): string {
    return `${this.#prefix}:{replay:${createHash('sha256').update(key, 'utf8').digest('hex')}}`;
  }

  /** The window runs on Redis's clock (the key's TTL), not the caller's. */
  async checkAndRemember(key: string, _nowMs?: number): Promise<boolean> {
    // Each check writes its own value, so undoing it can never delete another delivery's mark.
    const mark = randomBytes(9).toString('base64url');
    try {
      const set = await this.run(() => this.redis.set(this.keyOf(key), mark, 'PX', this.#ttlMs, 'NX'));
      return set === null;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError && !err.mayHaveApplied)) {
        void this.run(() => (this.redis as unknown as ForgetOwn).ttmaForgetOwn(this.keyOf(key), mark)).catch(() => undefined);
      }
      throw err;
    }
  }

  async forget(key: string): Promise<void> {
    await this.run(() => this.redis.del(this.keyOf(key)));
  }
}

/** Deletes the key only if it still holds this check's own mark. KEYS: the key. ARGV: the mark. */
const FORGET_OWN_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface ForgetOwn {
  ttmaForgetOwn(key: string, mark: string): Promise<unknown>;
}
