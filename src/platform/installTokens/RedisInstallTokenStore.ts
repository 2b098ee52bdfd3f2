/**
 * Install tokens in Redis: each token under its own key with a server-side
 * TTL, a set per deployment naming its outstanding token ids (the index
 * revocation reads), and one Lua script per change, so the token and the
 * index change together: Redis runs a script without interleaving any other
 * command, so two concurrent redemptions cannot both get the envelope and a
 * revocation cannot miss a token being stored.
 *
 * Keys (prefix `ttma:install:` by default): the token and its deployment's
 * index share the hash tag `{dep:<id>}` and every script is given all the
 * keys it touches, so the scripts run on Redis Cluster too
 * (installTokenScripts.ts). A redemption knows only the token id, so a small
 * locator key, written before the token with the same TTL, maps the id to its
 * deployment; it is a key of its own (any slot), read by a plain GET before
 * the script and deleted after the token is taken or revoked.
 *
 * The connection is the platform's shared one (src/platform/store/redisClient.ts):
 * no offline queue, no resend of a command whose reply was lost (a resent
 * take would find its own deletion and answer "absent", a resent SET NX would
 * find its own key), a short command timeout. A lost reply therefore fails as
 * TTMA_ERR_STORE_UNAVAILABLE (503) and is never replayed; the installer says
 * the token may be spent (src/installer/redeem.ts).
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { InstallEnvelope } from '../../wire/installToken.js';
import { masters, RedisBackedStore } from '../store/redisClient.js';
import { PUT_SCRIPT, REVOKE_DEPLOYMENT_SCRIPT, REVOKE_SCRIPT, TAKE_SCRIPT } from './installTokenScripts.js';
import {
  MAX_AUDIT_ENTRIES,
  type InstallAuditEntry,
  type InstallTokenStore,
  type StoredInstallToken,
  type TakeResult,
} from './InstallTokenStore.js';

/** Rounds of a deployment's revocation while tokens keep being stored for it (each round revokes what it read). */
const REVOKE_DEPLOYMENT_ROUNDS = 10;

export interface RedisInstallTokenStoreOptions {
  url: string;
  /** Prefix for every key, so the platform's other stores can share the database. */
  prefix?: string;
  /** Per command (default: the shared client's). */
  commandTimeoutMs?: number;
}

export class RedisInstallTokenStore extends RedisBackedStore implements InstallTokenStore {
  readonly #prefix: string;

  constructor(options: RedisInstallTokenStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma:install:';
  }

  /** One hash tag per deployment: a token and its index land in one Cluster slot. */
  #tokenKey(deploymentId: string, id: string): string {
    return `${this.#prefix}{dep:${deploymentId}}:token:${id}`;
  }

  #indexKey(deploymentId: string): string {
    return `${this.#prefix}{dep:${deploymentId}}:tokens`;
  }

  /** The token id's deployment (a redemption presents only the id). */
  #locatorKey(id: string): string {
    return `${this.#prefix}tokendep:${id}`;
  }

  async #deploymentOf(id: string): Promise<string | null> {
    return this.run(() => this.redis.get(this.#locatorKey(id)));
  }

  /**
   * Once its token is gone the locator only leads nowhere, and it expires
   * with the token anyway: a failure here must not fail the take or
   * revocation that already ran.
   */
  async #forget(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // One DEL per key, not a pipeline: the locators are in different slots, and ioredis's cluster
    // client refuses a pipeline that spans slots (the DELs were then never sent).
    await this.run(() => Promise.all(ids.map((id) => this.redis.del(this.#locatorKey(id))))).catch(() => undefined);
  }

  async put(record: StoredInstallToken, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError('install token TTL must be positive');
    const { id, deploymentId } = record.envelope;
    const ttl = String(Math.ceil(ttlMs));
    // The locator first: once the token is stored, its id always leads to it.
    const located = await this.run(() => this.redis.set(this.#locatorKey(id), deploymentId, 'PX', ttl, 'NX'));
    if (located !== 'OK') throw new Error('install token id already stored');
    const stored = await this.run(() =>
      this.redis.eval(PUT_SCRIPT, 2, this.#tokenKey(deploymentId, id), this.#indexKey(deploymentId), JSON.stringify(record), ttl, id),
    );
    if (stored !== 1) throw new Error('install token id already stored');
  }

  async take(id: string, secretSha256: string, nowMs: number): Promise<TakeResult> {
    const deploymentId = await this.#deploymentOf(id);
    if (deploymentId === null) return { kind: 'absent' };
    const result = (await this.run(() =>
      this.redis.eval(TAKE_SCRIPT, 2, this.#tokenKey(deploymentId, id), this.#indexKey(deploymentId), secretSha256, id),
    )) as number | string;
    if (result === 0) return { kind: 'absent' };
    if (result === 1) return { kind: 'bad-secret' };
    await this.#forget([id]);
    const record = JSON.parse(String(result)) as StoredInstallToken;
    // PX is authoritative; a record past its own expiry (clock skew) is still refused.
    if ((record.envelope as InstallEnvelope).expiresAt <= nowMs) return { kind: 'absent' };
    return { kind: 'taken', record };
  }

  async revoke(id: string): Promise<StoredInstallToken | null> {
    const deploymentId = await this.#deploymentOf(id);
    if (deploymentId === null) return null;
    const result = (await this.run(() =>
      this.redis.eval(REVOKE_SCRIPT, 2, this.#tokenKey(deploymentId, id), this.#indexKey(deploymentId), id),
    )) as string | null;
    if (result === null) return null;
    await this.#forget([id]);
    return JSON.parse(result) as StoredInstallToken;
  }

  /**
   * The script must be named every token key it deletes, so the index is read
   * first; a token stored between that read and the script is left indexed and
   * reported, and the next round revokes it. When this returns, one script saw
   * no outstanding token but `keepId` (as the single-script version did).
   */
  async revokeDeployment(deploymentId: string, keepId = ''): Promise<StoredInstallToken[]> {
    const index = this.#indexKey(deploymentId);
    const revoked: StoredInstallToken[] = [];
    for (let round = 0; round < REVOKE_DEPLOYMENT_ROUNDS; round++) {
      const ids = (await this.run(() => this.redis.smembers(index))).filter((id) => id !== keepId);
      if (ids.length === 0) return revoked;
      const keys = ids.map((id) => this.#tokenKey(deploymentId, id));
      const [left, ...records] = (await this.run(() =>
        this.redis.eval(REVOKE_DEPLOYMENT_SCRIPT, 1 + keys.length, index, ...keys, keepId, ...ids),
      )) as [number, ...string[]];
      const parsed = records.map((s) => JSON.parse(s) as StoredInstallToken);
      revoked.push(...parsed);
      await this.#forget(parsed.map((r) => r.envelope.id));
      if (Number(left) === 0) return revoked;
    }
    throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, `install tokens of ${deploymentId} not all revoked: tokens kept being stored while revoking`, 503);
  }

  async appendAudit(entry: InstallAuditEntry): Promise<void> {
    const key = `${this.#prefix}audit`;
    await this.run(() => this.redis.multi().lpush(key, JSON.stringify(entry)).ltrim(key, 0, MAX_AUDIT_ENTRIES - 1).exec());
  }

  async audit(): Promise<InstallAuditEntry[]> {
    const items = await this.run(() => this.redis.lrange(`${this.#prefix}audit`, 0, MAX_AUDIT_ENTRIES - 1));
    return items.map((s) => JSON.parse(s) as InstallAuditEntry);
  }

  async has(id: string): Promise<boolean> {
    const deploymentId = await this.#deploymentOf(id);
    if (deploymentId === null) return false;
    return (await this.run(() => this.redis.exists(this.#tokenKey(deploymentId, id)))) === 1;
  }

  /** Raw access for tests that prove what Redis holds (never used by the platform). */
  async rawKeysForTest(): Promise<string[]> {
    // KEYS answers for one node's keys: on a cluster, every master is asked.
    return (await Promise.all(masters(this.redis).map((node) => node.keys(`${this.#prefix}*`)))).flat().sort();
  }
}
