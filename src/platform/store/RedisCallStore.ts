/**
 * The CallStore contract on Redis (REDIS_URL / --redis-url), so call owners,
 * timelines and the history survive a platform restart and are shared by
 * every platform process on the same Redis.
 *
 * Keys (prefix `ttma`, all in the `{calls}` hash tag, see callScripts.ts):
 *   ttma:{calls}:call:<id>       hash, the record
 *   ttma:{calls}:call:<id>:tl    sorted set, the timeline (score occurred_at ms)
 *   ttma:{calls}:index           sorted set of ids by first sight (ms): the history
 *   ttma:{calls}:dep:<deployment> sorted set of that deployment's ids
 *   ttma:{calls}:unsettled       sorted set of ended (or hung up by the platform), owned calls not billed yet (ms): what a start resumes
 * Retention: every record expires `retentionDays` after its last change, and
 * the index keeps the newest `maxCalls` (older records are deleted with their
 * index entry), so Redis does not grow without bound.
 *
 * A locked owner never changes, so it is cached in process once seen: the
 * signalling proxy's ownership check on a known call costs no round trip.
 */
import { StoreUnavailableError } from '../../errors.js';
import type { CallDirection } from '../../wire/telnyx.js';
import {
  BLANK_RECORDING,
  DEFAULT_MAX_CALLS,
  MAX_TIMELINE_ENTRIES,
  stateAfter,
  timelineEntryOf,
  type CallBilling,
  type CallEvent,
  type CallFacts,
  type CallListScope,
  type CallOwner,
  type CallRecord,
  type CallRecording,
  type CallState,
  type CallStore,
  type EventOutcome,
  type LockOutcome,
  type TimelineEntry,
  type UnsettledCall,
} from './CallStore.js';
import { EVENT_SCRIPT, HUNG_UP_SCRIPT, LOCK_SCRIPT, PATCH_SCRIPT } from './callScripts.js';
import { RedisBackedStore } from './redisClient.js';
import { checkRetention } from './retention.js';

export interface RedisCallStoreOptions {
  url: string;
  /** Key prefix (default `ttma`). */
  prefix?: string;
  maxCalls?: number;
  retentionDays?: number;
  commandTimeoutMs?: number;
}

/** Locked owners remembered in process (they never change); beyond this the oldest are forgotten. */
const OWNER_CACHE_MAX = 100_000;
/** Records fetched per pipeline when listing. */
const LIST_BATCH = 500;
const RECORDING_FIELDS = ['started', 'url', 'file', 'sha256', 'bytes', 'error', 'legId', 'discarded'] as const;

interface Commands {
  ttmaCallLock(...args: (string | number)[]): Promise<[number, string, string]>;
  ttmaCallEvent(...args: (string | number)[]): Promise<[string, string, string]>;
  ttmaCallPatch(...args: (string | number)[]): Promise<number>;
  ttmaCallHungUp(...args: (string | number)[]): Promise<number>;
}

export class RedisCallStore extends RedisBackedStore implements CallStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  readonly #maxCalls: number;
  readonly #retentionMs: number;
  readonly #ttlSec: number;
  readonly #owners = new Map<string, string | null>();

  constructor(options: RedisCallStoreOptions) {
    const retention = checkRetention('call retention', 'maxCalls', options.maxCalls ?? DEFAULT_MAX_CALLS, options.retentionDays);
    super(options.url, options.commandTimeoutMs);
    this.#maxCalls = retention.maxRecords;
    this.#retentionMs = retention.retentionMs;
    this.#ttlSec = retention.ttlSec;
    this.#prefix = `${options.prefix ?? 'ttma'}:{calls}:`;
    this.redis.defineCommand('ttmaCallLock', { numberOfKeys: 6, lua: LOCK_SCRIPT });
    this.redis.defineCommand('ttmaCallEvent', { numberOfKeys: 4, lua: EVENT_SCRIPT });
    this.redis.defineCommand('ttmaCallPatch', { numberOfKeys: 3, lua: PATCH_SCRIPT });
    this.redis.defineCommand('ttmaCallHungUp', { numberOfKeys: 2, lua: HUNG_UP_SCRIPT });
  }

  get #commands(): Commands {
    return this.redis as unknown as Commands;
  }

  async get(callControlId: string): Promise<CallRecord | undefined> {
    const [record] = await this.#fetch([callControlId]);
    return record;
  }

  async ownerOf(callControlId: string): Promise<CallOwner | undefined> {
    const cached = this.#owners.get(callControlId);
    if (cached !== undefined) return { locked: true, deploymentId: cached };
    const [locked, owner] = await this.run(() => this.redis.hmget(this.#key(callControlId), 'locked', 'owner'));
    if (locked === null || locked === undefined) return undefined;
    if (locked === '1') this.#remember(callControlId, owner ?? null);
    return { locked: locked === '1', deploymentId: owner ?? null };
  }

  async lock(callControlId: string, deploymentId: string | null, facts: CallFacts, nowIso: string, reservationId?: string): Promise<LockOutcome> {
    const key = this.#key(callControlId);
    const owner = deploymentId ?? '';
    const [ok, lockedTo, state] = await this.run(() =>
      this.#commands.ttmaCallLock(
        key, `${key}:tl`, this.#index(), this.#depIndex(owner), this.#unsettled(), this.#reservationKey(reservationId ?? ''),
        callControlId, owner, facts.direction, facts.from, facts.to, nowIso, Date.parse(nowIso), this.#ttlSec,
        reservationId ?? '', this.#maxCalls, this.#retentionMs, this.#prefix,
      ),
    );
    const current = lockedTo === '' ? null : lockedTo;
    this.#remember(callControlId, current);
    return { ok: Number(ok) === 1, deploymentId: current, state: state as CallState };
  }

  async callOfReservation(reservationId: string): Promise<string | null> {
    return this.run(() => this.redis.get(this.#reservationKey(reservationId)));
  }

  async recordEvent(callControlId: string, facts: CallFacts, event: CallEvent, nowIso: string): Promise<EventOutcome> {
    const key = this.#key(callControlId);
    const entry = JSON.stringify(timelineEntryOf(event));
    const [owner, locked, state] = await this.run(() =>
      this.#commands.ttmaCallEvent(
        key, `${key}:tl`, this.#index(), this.#unsettled(),
        callControlId, facts.direction, facts.from, facts.to, nowIso, Date.parse(nowIso), this.#ttlSec, this.#maxCalls, this.#retentionMs, this.#prefix,
        event.event_type, event.occurred_at, Date.parse(event.occurred_at), entry, event.hangup_cause ?? '',
        stateAfter(event.event_type) ?? '', MAX_TIMELINE_ENTRIES,
      ),
    );
    const outcome = { deploymentId: owner === '' ? null : owner, locked: locked === '1', state: state as CallState };
    if (outcome.locked) this.#remember(callControlId, outcome.deploymentId);
    return outcome;
  }

  async patch(callControlId: string, fields: { reservationId?: string | null; billing?: CallBilling | null }): Promise<boolean> {
    const pairs: string[] = [];
    if (fields.reservationId !== undefined) pairs.push('reservationId', fields.reservationId ?? '');
    if (fields.billing !== undefined) pairs.push('billing', fields.billing ? JSON.stringify(fields.billing) : '');
    return this.#patch(callControlId, pairs);
  }

  async patchRecording(callControlId: string, fields: Partial<CallRecording>): Promise<boolean> {
    const pairs = ['rec', '1'];
    for (const name of RECORDING_FIELDS) {
      if (fields[name] !== undefined) pairs.push(`rec.${name}`, JSON.stringify(fields[name]));
    }
    return this.#patch(callControlId, pairs);
  }

  async list(scope: CallListScope = {}): Promise<CallRecord[]> {
    const limit = Math.min(scope.limit ?? this.#maxCalls, this.#maxCalls);
    const offset = Math.max(0, scope.offset ?? 0);
    const key = scope.deploymentId === undefined ? this.#index() : this.#depIndex(scope.deploymentId);
    const ids = await this.run(() => this.redis.zrevrange(key, offset, offset + limit - 1));
    const out: CallRecord[] = [];
    for (let i = 0; i < ids.length; i += LIST_BATCH) {
      for (const record of await this.#fetch(ids.slice(i, i + LIST_BATCH))) if (record) out.push(record);
    }
    return out;
  }

  async unsettled(limit: number, fromMs = 0): Promise<UnsettledCall[]> {
    // Equal scores come in id order (a sorted set's own order): the contract's "then id".
    const flat = await this.run(() => this.redis.zrangebyscore(this.#unsettled(), Math.max(0, Math.floor(fromMs)), '+inf', 'WITHSCORES', 'LIMIT', 0, limit));
    const out: UnsettledCall[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ callControlId: flat[i]!, sinceMs: Number(flat[i + 1]) });
    return out;
  }

  async markHungUp(callControlId: string, nowIso: string): Promise<void> {
    await this.run(() => this.#commands.ttmaCallHungUp(this.#key(callControlId), this.#unsettled(), callControlId, Date.parse(nowIso) || Date.now()));
  }

  async firstSeenBetween(fromMs: number, toMs: number, limit: number): Promise<CallRecord[]> {
    const ids = await this.run(() => this.redis.zrangebyscore(this.#index(), Math.floor(fromMs), Math.floor(toMs), 'LIMIT', 0, Math.max(0, limit)));
    const out: CallRecord[] = [];
    for (let i = 0; i < ids.length; i += LIST_BATCH) {
      for (const record of await this.#fetch(ids.slice(i, i + LIST_BATCH))) if (record) out.push(record);
    }
    return out;
  }

  async dropUnsettled(callControlId: string): Promise<void> {
    await this.run(() => this.redis.zrem(this.#unsettled(), callControlId));
  }

  async #patch(callControlId: string, pairs: string[]): Promise<boolean> {
    const key = this.#key(callControlId);
    const done = await this.run(() => this.#commands.ttmaCallPatch(key, `${key}:tl`, this.#unsettled(), this.#ttlSec, callControlId, ...pairs));
    return Number(done) === 1;
  }

  /** One pipeline for a batch: each record's hash and timeline; expired records come back undefined. */
  async #fetch(ids: string[]): Promise<(CallRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      pipeline.hgetall(this.#key(id));
      pipeline.zrange(`${this.#key(id)}:tl`, '0', '-1');
    }
    const replies = await this.run(() => pipeline.exec());
    if (!replies) throw new StoreUnavailableError('redis unavailable: pipeline aborted');
    return ids.map((id, i) => {
      const [hashErr, hash] = replies[2 * i] ?? [null, null];
      const [tlErr, timeline] = replies[2 * i + 1] ?? [null, null];
      if (hashErr || tlErr) throw new StoreUnavailableError('redis unavailable: a read failed');
      return toRecord(id, hash as Record<string, string>, timeline as string[]);
    });
  }

  #remember(callControlId: string, owner: string | null): void {
    if (this.#owners.has(callControlId)) return;
    this.#owners.set(callControlId, owner);
    if (this.#owners.size > OWNER_CACHE_MAX) this.#owners.delete(this.#owners.keys().next().value as string);
  }

  #key(callControlId: string): string {
    return `${this.#prefix}call:${callControlId}`;
  }

  #index(): string {
    return `${this.#prefix}index`;
  }

  #unsettled(): string {
    return `${this.#prefix}unsettled`;
  }

  #depIndex(deploymentId: string): string {
    return `${this.#prefix}dep:${deploymentId}`;
  }

  /** Same hash tag as the record: the lock script writes it in the same step. */
  #reservationKey(reservationId: string): string {
    return `${this.#prefix}res:${reservationId}`;
  }
}

function toRecord(id: string, hash: Record<string, string> | null, timeline: string[] | null): CallRecord | undefined {
  if (!hash || hash['id'] === undefined) return undefined;
  let recording: CallRecording | null = null;
  if (hash['rec'] === '1') {
    recording = { ...BLANK_RECORDING };
    for (const name of RECORDING_FIELDS) {
      const raw = hash[`rec.${name}`];
      if (raw !== undefined) (recording as unknown as Record<string, unknown>)[name] = JSON.parse(raw);
    }
  }
  return {
    callControlId: id,
    deploymentId: hash['owner'] ?? null,
    locked: hash['locked'] === '1',
    direction: hash['direction'] as CallDirection,
    from: hash['from'] ?? '',
    to: hash['to'] ?? '',
    // Each member is a 12-digit arrival number, "|", then the entry as JSON.
    timeline: (timeline ?? []).map((member) => JSON.parse(member.slice(13)) as TimelineEntry),
    state: (hash['state'] ?? 'initiated') as CallState,
    hangupCause: hash['hangupCause'] ?? null,
    firstSeenAt: hash['firstSeenAt'] ?? '',
    answeredAt: hash['answeredAt'] ?? null,
    endedAt: hash['endedAt'] ?? null,
    reservationId: hash['reservationId'] ?? null,
    billing: hash['billing'] ? (JSON.parse(hash['billing']) as CallBilling) : null,
    recording,
  };
}
