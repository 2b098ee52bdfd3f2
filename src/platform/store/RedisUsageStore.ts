/**
 * The usage cross-check's records in Redis (REDIS_URL / --redis-url), so a
 * report made before a platform restart is compared with a settlement after
 * it (and the reverse), and every platform process on the same Redis sees
 * one ledger.
 *
 * Keys (prefix `ttma`, all in the `{usage}` hash tag, see usageScripts.ts):
 *   ttma:{usage}:u:<deployment>|<call id>  hash, the entry
 *   ttma:{usage}:index                     sorted set of `<deployment>|<call id>` by first write (ms)
 *   ttma:{usage}:dep:<deployment>          sorted set, that deployment's real calls' entries
 *   ttma:{usage}:kdep:<deployment>         sorted set, its entries written only by unknown reports
 *   ttma:{usage}:kcount                    hash, deployment -> unknown reports made
 * Retention: an entry expires `retentionDays` after its last write; each
 * deployment keeps its newest `maxEntries` real calls' entries and, apart,
 * its newest `maxUnknownPerDeployment` unknown ones (UsageStore.ts).
 */
import { ErrorCodes, StoreUnavailableError, TtmaError } from '../../errors.js';
import { RedisBackedStore } from './redisClient.js';
import { checkMaxRecords, checkRetention } from './retention.js';
import { USAGE_APPLY_SCRIPT } from './usageScripts.js';
import {
  DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT,
  DEFAULT_MAX_USAGE_ENTRIES,
  type UnknownReportCount,
  type UsageEntry,
  type UsageFlag,
  type UsageListScope,
  type UsageOp,
  type UsageOutcome,
  type UsageRetention,
  type UsageStore,
} from './UsageStore.js';

export interface RedisUsageStoreOptions extends UsageRetention {
  url: string;
  /** Key prefix (default `ttma`). */
  prefix?: string;
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
  readonly #maxUnknown: number;
  readonly #retentionMs: number;
  readonly #ttlSec: number;

  constructor(options: RedisUsageStoreOptions) {
    const retention = checkRetention('usage retention', 'maxEntries', options.maxEntries ?? DEFAULT_MAX_USAGE_ENTRIES, options.retentionDays);
    const maxUnknown = checkMaxRecords('usage retention', 'maxUnknownPerDeployment', options.maxUnknownPerDeployment ?? DEFAULT_MAX_UNKNOWN_PER_DEPLOYMENT);
    super(options.url, options.commandTimeoutMs);
    this.#max = retention.maxRecords;
    this.#maxUnknown = maxUnknown;
    this.#retentionMs = retention.retentionMs;
    this.#ttlSec = retention.ttlSec;
    this.#prefix = `${options.prefix ?? 'ttma'}:{usage}:`;
    this.redis.defineCommand('ttmaUsageApply', { numberOfKeys: 5, lua: USAGE_APPLY_SCRIPT });
  }

  async apply(deploymentId: string, callControlId: string, op: UsageOp, nowMs: number): Promise<UsageOutcome> {
    const value = op.kind === 'unreported' ? op.graceMs : op.durationMs;
    const reply = await this.run(() =>
      (this.redis as unknown as Commands).ttmaUsageApply(
        this.#key(deploymentId, callControlId), this.#index(), this.#depIndex(deploymentId), this.#unknownIndex(deploymentId), this.#unknownCounts(),
        op.kind, deploymentId, callControlId, value, nowMs, this.#ttlSec, this.#max, this.#retentionMs, this.#prefix, this.#maxUnknown,
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
    const members = scope.deploymentId === undefined ? await this.#newest(this.#index(), scope.limit) : await this.#deploymentMembers(scope.deploymentId, scope.limit);
    const out: UsageEntry[] = [];
    for (let i = 0; i < members.length; i += LIST_BATCH) {
      const pipeline = this.redis.pipeline();
      for (const member of members.slice(i, i + LIST_BATCH)) pipeline.hgetall(`${this.#prefix}u:${member}`);
      const replies = await this.run(() => pipeline.exec());
      if (!replies) throw new StoreUnavailableError('redis unavailable: pipeline aborted');
      for (const [err, hash] of replies) {
        if (err) throw new StoreUnavailableError('redis unavailable: a read failed');
        const entry = toEntry(hash as Record<string, string>);
        if (entry) out.push(entry); // expired meanwhile: skipped
      }
    }
    return out;
  }

  async unknownReportCounts(deploymentId?: string): Promise<UnknownReportCount[]> {
    const counts =
      deploymentId === undefined
        ? await this.run(() => this.redis.hgetall(this.#unknownCounts()))
        : { [deploymentId]: (await this.run(() => this.redis.hget(this.#unknownCounts(), deploymentId))) ?? undefined };
    const out: UnknownReportCount[] = [];
    for (const [id, text] of Object.entries(counts)) {
      if (text === undefined) continue;
      const reports = num(text);
      if (reports !== null) out.push({ deploymentId: id, reports });
    }
    return out.sort((a, b) => (a.deploymentId < b.deploymentId ? -1 : a.deploymentId > b.deploymentId ? 1 : 0));
  }

  /** The index's newest `limit` members (all without one), oldest first. */
  async #newest(index: string, limit: number | undefined): Promise<string[]> {
    return (await this.run(() => this.redis.zrevrange(index, 0, (limit ?? 0) - 1))).reverse();
  }

  /** A deployment's entries of both kinds, in the history index's order (score, then member, as one sorted set). */
  async #deploymentMembers(deploymentId: string, limit: number | undefined): Promise<string[]> {
    const read = (index: string) => this.run(() => this.redis.zrevrange(index, 0, (limit ?? 0) - 1, 'WITHSCORES'));
    const [real, unknown] = await Promise.all([read(this.#depIndex(deploymentId)), read(this.#unknownIndex(deploymentId))]);
    const scored: [string, number][] = [];
    for (const flat of [real, unknown]) for (let i = 0; i + 1 < flat.length; i += 2) scored.push([flat[i]!, Number(flat[i + 1])]);
    scored.sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0));
    const members = scored.map(([member]) => member);
    return limit === undefined ? members : members.slice(-limit);
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

  #unknownIndex(deploymentId: string): string {
    return `${this.#prefix}kdep:${deploymentId}`;
  }

  #unknownCounts(): string {
    return `${this.#prefix}kcount`;
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
