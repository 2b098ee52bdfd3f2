/**
 * The CapStore contract on Redis through ioredis (REDIS_URL / --redis-url).
 *
 * Fail closed, quickly (createRedisClient): while Redis is unreachable every
 * call fails at once with TTMA_ERR_STORE_UNAVAILABLE (the platform then
 * refuses new calls and lets live calls continue). `healthy` follows the
 * connection.
 */
import type { CallReservation, CapLimits, CapPeriod, CapStore, ReserveResult, SettleResult, TopUpResult } from './CapStore.js';
import { TTL_SECONDS } from './CapStore.js';
import { EPOCH_SCRIPT, RESERVE_SCRIPT, SETTLE_SCRIPT, TOP_UP_SCRIPT } from './capScripts.js';
import { randomBytes } from 'node:crypto';
import { ErrorCodes, StoreDataLostError, TtmaError } from '../../errors.js';
import { masters, masterSlots, RedisBackedStore } from './redisClient.js';
import { tagForSlot } from './redisKeySlot.js';
import { evictionRiskOf, type EvictionRisk } from './redisEviction.js';
import { configValue, persistenceOf, type PersistenceState } from './redisPersistence.js';
import { ReplyError } from 'ioredis';

export interface RedisCapStoreOptions {
  url: string;
  /** Per-command timeout (default 500 ms). */
  commandTimeoutMs?: number;
  /** Key prefix (default `ttma`), so test runs and tenants can share a server. */
  prefix?: string;
}

type ScriptReply = [number, number, number, number];

export class RedisCapStore extends RedisBackedStore implements CapStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  /** Deployments this client has put on the work list (the list is never trimmed, so once is enough). */
  readonly #listed = new Set<string>();
  /** The marker this client found (or wrote) in Redis; null until it first asked. */
  #epoch: string | null = null;
  /** On a cluster: each master's own marker as this client last found it (dataKept). */
  readonly #masterEpochs = new Map<string, string>();
  #lost = false;

  constructor(options: RedisCapStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma';
    this.redis.defineCommand('ttmaReserve', { numberOfKeys: 5, lua: RESERVE_SCRIPT });
    this.redis.defineCommand('ttmaTopUp', { numberOfKeys: 4, lua: TOP_UP_SCRIPT });
    // Its key count varies (the periods a call reserved in): the first argument gives it.
    this.redis.defineCommand('ttmaSettle', { lua: SETTLE_SCRIPT });
    this.redis.defineCommand('ttmaEpoch', { numberOfKeys: 1, lua: EPOCH_SCRIPT });
  }

  /**
   * One marker key, written once and never expiring: gone (or replaced) means Redis lost its
   * data after this client saw it. A new Redis and a wiped one look alike to a process that
   * starts on it, so only a running process can tell (docs/platform-storage.md).
   */
  async dataKept(): Promise<boolean> {
    if (this.#lost) return false;
    const found = await this.#marker(`${this.#prefix}:{meta}:epoch`, this.#epoch ?? '');
    // On a cluster the marker lives on one master; another that restarts empty loses its slots
    // alone, so each master holds a marker of its own too (masterSlots), checked the same way.
    const perMaster = found === '' ? [] : await Promise.all(masterSlots(this.redis).map(async (slot) => {
      const key = `${this.#prefix}:{${tagForSlot(slot)}}:epoch`;
      return [key, await this.#marker(key, this.#masterEpochs.get(key) ?? '')] as const;
    }));
    if (found === '' || perMaster.some(([, value]) => value === '')) {
      this.#lost = true;
      return false;
    }
    this.#epoch = found;
    for (const [key, value] of perMaster) this.#masterEpochs.set(key, value);
    return true;
  }

  /** One marker's value as EPOCH_SCRIPT answers it: written the first time, '' once gone or another. */
  async #marker(key: string, seen: string): Promise<string> {
    const fresh = randomBytes(12).toString('base64url');
    return String(await this.run(() => (this.redis as unknown as ScriptCommands).ttmaEpoch(key, seen, fresh)));
  }

  /** A cluster's masters each answer for their own memory: any one that evicts is a risk. */
  async evictionRisk(): Promise<EvictionRisk | null> {
    const infos = await this.run(() => Promise.all(masters(this.redis).map((node) => node.info('memory'))));
    return infos.map(evictionRiskOf).find((risk) => risk !== null) ?? null;
  }

  /**
   * Rejects (TTMA_ERR_STORE_UNAVAILABLE) only when Redis does not answer; a refused CONFIG is `unknown`.
   * On a cluster every master is asked: one without persistence loses its slots on a restart.
   */
  async persistence(): Promise<PersistenceState> {
    try {
      const states = await this.run(() => Promise.all(masters(this.redis).map(async (node) => {
        const [appendonly, save] = await Promise.all(['appendonly', 'save'].map((name) => node.config('GET', name)));
        return persistenceOf(configValue(appendonly), configValue(save));
      })));
      return states.find((s) => s.kind === 'none') ?? states.find((s) => s.kind === 'unknown') ?? states[0]!;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof (ReplyError as new () => Error)) return { kind: 'unknown', why: cause.message.slice(0, 160) };
      throw err;
    }
  }

  /** True while the connection is up (commands may still time out). */
  get healthy(): boolean {
    return this.redis.status === 'ready';
  }

  /** Waits (bounded) for the first connection; false when it did not come up. */
  /**
   * Throws StoreDataLostError when Redis lost its data since this client first looked: the script
   * checks the deployment's copy of the marker, so a FLUSHALL is seen by the next reservation, not
   * only by the cap timer's next look (up to a second later). A copy that is not this client's
   * (the deployment's first reservation since the marker was written, or wiped) costs one look at
   * the marker itself and the script again.
   */
  async reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, live?: { nextAtMs: number }): Promise<ReserveResult> {
    const keys = this.#keys(deploymentId, callId, period);
    let epoch = this.#epoch !== null && !this.#lost ? this.#epoch : await this.#checkedEpoch();
    // `confirm`: the nonce of the provisional copy written before the marker check just made (RESERVE_SCRIPT).
    const script = (marker: string, nonce: string, confirm: string): Promise<unknown> => this.run(() =>
      (this.redis as unknown as ScriptCommands).ttmaReserve(
        keys.day, keys.month, keys.call, keys.live, keys.epoch,
        units, limits.day, limits.month, TTL_SECONDS.day, TTL_SECONDS.month, TTL_SECONDS.call, period.day, period.month,
        callId, live ? Math.round(live.nextAtMs) : '', marker, nonce, confirm,
      ),
    );
    // The deployment goes on the top-up timer's work list, once per client, sent with the script (another
    // slot: not inside it). Not fatal when it alone fails: the admitting process ticks its own deployments anyway.
    const listed = live && !this.#listed.has(deploymentId)
      ? this.run(() => this.redis.sadd(this.#liveDeploymentsKey, deploymentId)).then(() => this.#listed.add(deploymentId), () => undefined)
      : null;
    let nonce = randomBytes(9).toString('base64url');
    let [reply] = (await Promise.all([script(epoch, nonce, ''), listed])) as [ScriptReply, unknown];
    for (let attempt = 1; Number(reply[0]) === MARKER_NOT_OURS; attempt++) {
      if (attempt === MARKER_ATTEMPTS) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'the data-loss marker kept changing: reservation not made', 503);
      epoch = await this.#checkedEpoch();
      const written = nonce;
      nonce = randomBytes(9).toString('base64url');
      reply = (await script(epoch, nonce, written)) as ScriptReply;
    }
    return reserveResult(reply);
  }

  /** The marker as this client checked it just now; StoreDataLostError when it is gone or another. */
  async #checkedEpoch(): Promise<string> {
    if (!(await this.dataKept()) || this.#epoch === null) {
      throw new StoreDataLostError('the store lost its data (Redis flushed, or back without it): no minutes reserved');
    }
    return this.#epoch;
  }

  async topUp(deploymentId: string, callId: string, nowMs: number, unitMs: number, period: CapPeriod, limits?: CapLimits): Promise<TopUpResult> {
    const keys = this.#keys(deploymentId, callId, period);
    const reply = (await this.run(() =>
      (this.redis as unknown as ScriptCommands).ttmaTopUp(
        keys.day, keys.month, keys.call, keys.live,
        Math.round(nowMs), unitMs, callId, TTL_SECONDS.day, TTL_SECONDS.month, TTL_SECONDS.call, period.day, period.month,
        limits?.day ?? '', limits?.month ?? '',
      ),
    )) as ScriptReply;
    if (Number(reply[0]) === -4) return { ok: false, reason: 'not_due' };
    return topUpResult(reply);
  }

  async due(deploymentId: string, nowMs: number): Promise<string[]> {
    return this.run(() => this.redis.zrangebyscore(this.#keys(deploymentId, '', NO_PERIOD).live, '-inf', String(Math.round(nowMs))));
  }

  async live(deploymentId: string): Promise<string[]> {
    return this.run(() => this.redis.zrange(this.#keys(deploymentId, '', NO_PERIOD).live, '0', '-1'));
  }

  async liveDeployments(): Promise<string[]> {
    return this.run(() => this.redis.smembers(this.#liveDeploymentsKey));
  }

  async release(deploymentId: string, callId: string): Promise<void> {
    await this.run(() => this.redis.zrem(this.#keys(deploymentId, '', NO_PERIOD).live, callId));
  }

  async postpone(deploymentId: string, callId: string, dueAtMs: number): Promise<void> {
    // XX: only a member already there (released or settled meanwhile: left so).
    await this.run(() => this.redis.zadd(this.#keys(deploymentId, '', NO_PERIOD).live, 'XX', Math.round(dueAtMs), callId));
  }

  async settle(deploymentId: string, callId: string, billedUnits: number, period: CapPeriod): Promise<SettleResult> {
    const callKey = this.#keys(deploymentId, callId, period).call;
    // A top-up between reading the call's periods and the script names a period not passed: read again.
    for (let attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
      const fields = (await this.run(() => this.redis.hgetall(callKey))) as Record<string, string>;
      const { days, months } = reservedPeriods(fields, period);
      const tag = this.#keys(deploymentId, '', NO_PERIOD);
      const keys = [callKey, tag.live, ...days.map((d) => this.#keys(deploymentId, '', { day: d, month: '' }).day), ...months.map((m) => this.#keys(deploymentId, '', { day: '', month: m }).month)];
      const reply = (await this.run(() =>
        (this.redis as unknown as ScriptCommands).ttmaSettle(
          keys.length, ...keys,
          billedUnits, TTL_SECONDS.call, callId, days.length, months.length, TTL_SECONDS.day, TTL_SECONDS.month, ...days, ...months,
        ),
      )) as number[];
      if (Number(reply[0]) === -9) continue;
      return { first: Number(reply[0]) === 1, billed: Number(reply[1]), reserved: Number(reply[2]) };
    }
    throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, `call ${callId} not settled: it kept reserving while being settled`, 503);
  }

  async usage(deploymentId: string, period: CapPeriod): Promise<{ day: number; month: number }> {
    const keys = this.#keys(deploymentId, '', period);
    const [day, month] = (await this.run(() => this.redis.mget(keys.day, keys.month))) as [string | null, string | null];
    return { day: Number(day ?? 0), month: Number(month ?? 0) };
  }

  async reservation(deploymentId: string, callId: string): Promise<CallReservation | null> {
    const key = this.#keys(deploymentId, callId, NO_PERIOD).call;
    const fields = (await this.run(() => this.redis.hmget(key, 'reserved', 'settled', 'billed'))) as (string | null)[];
    const [reserved, settled, billed] = fields;
    if (reserved === null && settled === null) return null;
    return { reserved: Number(reserved ?? 0), settled: settled === '1', billed: billed === null || billed === undefined ? null : Number(billed) };
  }

  /** One hash tag per deployment: every key of a script lands in one Cluster slot. */
  #keys(deploymentId: string, callId: string, period: CapPeriod): { day: string; month: string; call: string; live: string; epoch: string } {
    const tag = `${this.#prefix}:{dep:${deploymentId}}`;
    // `epoch`: the deployment's copy of the data-loss marker (RESERVE_SCRIPT), in its slot. A hash, so a new
    // name: `${tag}:epoch`, the string copy of the code before, is left to processes still running it.
    return { day: `${tag}:day:${period.day}`, month: `${tag}:month:${period.month}`, call: `${tag}:call:${callId}`, live: `${tag}:live`, epoch: `${tag}:marker` };
  }

  /** Every deployment that has had a live call: one small set (deployments are few), never trimmed. */
  get #liveDeploymentsKey(): string {
    return `${this.#prefix}:{live}:deployments`;
  }
}

const NO_PERIOD: CapPeriod = { day: '', month: '' };
/** RESERVE_SCRIPT's answer when the deployment's marker copy is not this client's. */
const MARKER_NOT_OURS = -6;
/** The copy written, the marker checked, the script again: a third miss means the marker keeps changing. */
const MARKER_ATTEMPTS = 3;
/** A settlement raced by a top-up reads the call again; a top-up a unit is the most there can be. */
const SETTLE_ATTEMPTS = 3;

/**
 * The days and months a call's hash says it reserved in, oldest first; a hash
 * written before counts were kept per period names only its last period, and
 * a call that never reserved is charged in `current`.
 */
function reservedPeriods(fields: Record<string, string>, current: CapPeriod): { days: string[]; months: string[] } {
  const days = Object.keys(fields).filter((f) => f.startsWith('d:')).map((f) => f.slice(2)).sort();
  const months = Object.keys(fields).filter((f) => f.startsWith('m:')).map((f) => f.slice(2)).sort();
  if (days.length > 0 && months.length > 0) return { days, months };
  return { days: [fields['day'] ?? current.day], months: [fields['month'] ?? current.month] };
}

function reserveResult(reply: ScriptReply): ReserveResult {
  const [status, dayUsed, monthUsed] = reply.map(Number) as ScriptReply;
  if (status === -5) return { ok: false, reason: 'admitted', dayUsed, monthUsed };
  return topUpResult(reply);
}

/** A top-up's reply (the script never answers -5 to one). */
function topUpResult(reply: ScriptReply): Exclude<ReserveResult, { reason: 'admitted' }> {
  const [status, dayUsed, monthUsed, callReserved] = reply.map(Number) as ScriptReply;
  if (status === 1) return { ok: true, dayUsed, monthUsed, callReserved };
  const reason = status === -1 ? 'day' : status === -2 ? 'month' : 'settled';
  return { ok: false, reason, dayUsed, monthUsed };
}

interface ScriptCommands {
  ttmaEpoch(...args: (string | number)[]): Promise<unknown>;
  ttmaTopUp(...args: (string | number)[]): Promise<unknown>;
  ttmaReserve(...args: (string | number)[]): Promise<unknown>;
  ttmaSettle(...args: (string | number)[]): Promise<unknown>;
}
