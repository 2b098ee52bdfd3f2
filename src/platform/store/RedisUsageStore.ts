/**
 * The usage cross-check's records in Redis (REDIS_URL / --redis-url), so a
 * report made before a platform restart is compared with a settlement after
 * it (and the reverse), and every platform process on the same Redis sees
 * one ledger.
 *
 * Keys (prefix `ttma`, all in the `{usage}` hash tag, see usageScripts.ts):
 *   ttma:{usage}:u:<deployment>|<call id>  hash, the entry
 *   ttma:{usage}:index                     sorted set of `<deployment>|<call id>` by first write (ms)
 *   ttma:{usage}:dep:<deployment>          sorted set, that deployment's entries
 * Retention like the call records: an entry expires `retentionDays` after
 * its last write, and the index keeps the newest `maxEntries`.
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import { RedisBackedStore } from './redisClient.js';
import { checkRetention } from './retention.js';
import { USAGE_APPLY_SCRIPT } from './usageScripts.js';
import {
  DEFAULT_MAX_USAGE_ENTRIES,
  type UsageEntry,
  type UsageFlag,
  type UsageListScope,
  type UsageOp,
  type UsageOutcome,
  type UsageStore,
} from './UsageStore.js';

export interface RedisUsageStoreOptions {
  url: string;
  /** Key prefix (default `ttma`). */
  prefix?: string;
  maxEntries?: number;
  retentionDays?: number;
  commandTimeoutMs?: number;
}

const LIST_BATCH = 500;
const FLAGS: ReadonlySet<string> = new Set<UsageFlag>(['duration_mismatch', 'unreported', 'unknown_to_provider']);

interface Commands {
  ttmaUsageApply(...args: (string | number)[]): Promise<string[] | number[]>;
}

export class RedisUsageStore extends RedisBackedStore implements UsageStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  readonly #max: number;
  readonly #retentionMs: number;
  readonly #ttlSec: number;

  constructor(options: RedisUsageStoreOptions) {
    const retention = checkRetention('usage retention', 'maxEntries', options.maxEntries ?? DEFAULT_MAX_USAGE_ENTRIES, options.retentionDays);
    super(options.url, options.commandTimeoutMs);
    this.#max = retention.maxRecords;
    this.#retentionMs = retention.retentionMs;
    this.#ttlSec = retention.ttlSec;
    this.#prefix = `${options.prefix ?? 'ttma'}:{usage}:`;
    this.redis.defineCommand('ttmaUsageApply', { numberOfKeys: 3, lua: USAGE_APPLY_SCRIPT });
  }

  async apply(deploymentId: string, callControlId: string, op: UsageOp, nowMs: number): Promise<UsageOutcome> {
    const value = op.kind === 'unreported' ? op.graceMs : op.durationMs;
    const reply = await this.run(() =>
      (this.redis as unknown as Commands).ttmaUsageApply(
        this.#key(deploymentId, callControlId), this.#index(), this.#depIndex(deploymentId),
        op.kind, deploymentId, callControlId, value, nowMs, this.#ttlSec, this.#max, this.#retentionMs, this.#prefix,
      ),
    );
    const [compared, added, exists, p, g, pAt, rAt, flags] = reply.map(String);
    const entry =
      exists === '1'
        ? { callControlId, deploymentId, providerMs: num(p), gatewayMs: num(g), providerAt: num(pAt), reportedAt: num(rAt), flags: parseFlags(flags) }
        : undefined;
    return { entry, compared: compared === '1', added: parseFlags(added) };
  }

  async get(deploymentId: string, callControlId: string): Promise<UsageEntry | undefined> {
    const hash = await this.run(() => this.redis.hgetall(this.#key(deploymentId, callControlId)));
    return toEntry(hash);
  }

  async list(scope: UsageListScope = {}): Promise<UsageEntry[]> {
    const limit = Math.min(scope.limit ?? this.#max, this.#max);
    const index = scope.deploymentId === undefined ? this.#index() : this.#depIndex(scope.deploymentId);
    const members = (await this.run(() => this.redis.zrevrange(index, 0, limit - 1))).reverse();
    const out: UsageEntry[] = [];
    for (let i = 0; i < members.length; i += LIST_BATCH) {
      const pipeline = this.redis.pipeline();
      for (const member of members.slice(i, i + LIST_BATCH)) pipeline.hgetall(`${this.#prefix}u:${member}`);
      const replies = await this.run(() => pipeline.exec());
      if (!replies) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'redis unavailable: pipeline aborted', 503);
      for (const [err, hash] of replies) {
        if (err) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'redis unavailable: a read failed', 503);
        const entry = toEntry(hash as Record<string, string>);
        if (entry) out.push(entry); // expired meanwhile: skipped
      }
    }
    return out;
  }

  #key(deploymentId: string, callControlId: string): string {
    return `${this.#prefix}u:${deploymentId}|${callControlId}`;
  }

  #index(): string {
    return `${this.#prefix}index`;
  }

  #depIndex(deploymentId: string): string {
    return `${this.#prefix}dep:${deploymentId}`;
  }
}

function num(text: string | undefined): number | null {
  if (text === undefined || text === '') return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'usage entry holds a malformed number', 503);
  return value;
}

/** Only known flag names: a damaged field cannot inject anything else into the operator's view. */
function parseFlags(text: string | undefined): UsageFlag[] {
  if (!text) return [];
  return text.split(',').filter((name): name is UsageFlag => FLAGS.has(name));
}

function toEntry(hash: Record<string, string> | null | undefined): UsageEntry | undefined {
  if (!hash || hash['dep'] === undefined || hash['call'] === undefined) return undefined;
  return {
    callControlId: hash['call'],
    deploymentId: hash['dep'],
    providerMs: num(hash['p']),
    gatewayMs: num(hash['g']),
    providerAt: num(hash['pAt']),
    reportedAt: num(hash['rAt']),
    flags: parseFlags(hash['flags']),
  };
}
