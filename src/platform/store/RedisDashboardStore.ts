/**
 * The DashboardStore contract on Redis, shared by every platform process on
 * it. One string key per entry (`<prefix>:dash:<family>:e:<digest>` -> the
 * subject, with the entry's lifetime as its TTL, so Redis expires it), and
 * one sorted set per subject (`<prefix>:dash:<family>:s:<sha256 of the
 * subject>`: digests by expiry) to bound a subject's entries and revoke
 * them. The entry and its index are in different Cluster slots, so no
 * pipeline holds both (ioredis's cluster client refuses one that spans slots:
 * "All keys in the pipeline should belong to the same slots allocation
 * group"); the commands go out together and are awaited together instead. A
 * one-time take is GETDEL (Redis 6.2+), so two processes redeeming one link
 * at once cannot both get it. Fails closed (TTMA_ERR_STORE_UNAVAILABLE).
 */
import { createHash } from 'node:crypto';
import { decodeEntry, encodeEntry, type DashboardStore, type TaggedEntry } from './DashboardStore.js';
import { RedisBackedStore } from './redisClient.js';

export interface RedisDashboardStoreOptions {
  url: string;
  prefix?: string;
  commandTimeoutMs?: number;
  now?: () => number;
}

export class RedisDashboardStore extends RedisBackedStore implements DashboardStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  readonly #now: () => number;
  #sequence = 0;

  constructor(options: RedisDashboardStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma';
    this.#now = options.now ?? Date.now;
  }

  /** An entry's key (exported for the key-layout test). */
  entryKey(family: string, digest: string): string {
    return `${this.#prefix}:dash:${family}:e:${digest}`;
  }

  /** A subject's index of entries. */
  indexKey(family: string, subject: string): string {
    return `${this.#prefix}:dash:${family}:s:${createHash('sha256').update(subject, 'utf8').digest('hex')}`;
  }

  async put(family: string, digest: string, subject: string, ttlMs: number, maxPerSubject: number, tag = ''): Promise<void> {
    const index = this.indexKey(family, subject);
    const now = this.#now();
    // Entries put within one millisecond must still order oldest first: a fraction counts them.
    this.#sequence = (this.#sequence + 1) % 1000;
    const score = now + ttlMs + this.#sequence / 1000;
    const members = await this.run(async () => {
      const [, results] = await Promise.all([
        this.redis.set(this.entryKey(family, digest), encodeEntry(subject, tag), 'PX', ttlMs),
        this.redis.pipeline().zadd(index, score, digest).zremrangebyscore(index, '-inf', now).pexpire(index, ttlMs).zrange(index, '0', '-1').exec(),
      ]);
      for (const [err] of results ?? []) if (err) throw err;
      return (results?.[3]?.[1] as string[] | undefined) ?? [];
    });
    // Oldest first (lowest expiry): past the bound, those go.
    const victims = members.slice(0, Math.max(0, members.length - maxPerSubject));
    if (victims.length > 0) await this.#remove(family, index, victims);
  }

  async get(family: string, digest: string): Promise<string | null> {
    return (await this.getTagged(family, digest))?.subject ?? null;
  }

  async getTagged(family: string, digest: string): Promise<TaggedEntry | null> {
    const value = await this.run(() => this.redis.get(this.entryKey(family, digest)));
    return value === null ? null : decodeEntry(value);
  }

  async take(family: string, digest: string): Promise<string | null> {
    return (await this.takeTagged(family, digest))?.subject ?? null;
  }

  async takeTagged(family: string, digest: string): Promise<TaggedEntry | null> {
    const value = await this.run(() => this.redis.getdel(this.entryKey(family, digest)));
    if (value === null) return null;
    const entry = decodeEntry(value);
    await this.run(() => this.redis.zrem(this.indexKey(family, entry.subject), digest));
    return entry;
  }

  async delete(family: string, digest: string): Promise<void> {
    await this.take(family, digest);
  }

  async revoke(family: string, subject: string): Promise<number> {
    const index = this.indexKey(family, subject);
    const members = await this.run(() => this.redis.zrange(index, '0', '-1'));
    const removed = await this.#remove(family, index, members);
    await this.run(() => this.redis.del(index));
    return removed;
  }

  /** Deletes entries one key per command (any slot), and their index members; how many entries existed. */
  async #remove(family: string, index: string, digests: string[]): Promise<number> {
    if (digests.length === 0) return 0;
    return this.run(async () => {
      const [deleted] = await Promise.all([
        Promise.all(digests.map((digest) => this.redis.del(this.entryKey(family, digest)))),
        this.redis.zrem(index, ...digests),
      ]);
      return deleted.reduce((sum, n) => sum + n, 0);
    });
  }
}
