/**
 * Deployments in Redis (REDIS_URL / --redis-url): they survive a platform
 * restart and every platform process on the same Redis sees the same ones.
 *
 * Keys (prefix `ttma`), all in the `{deployments}` hash tag, so on Redis
 * Cluster they share one slot and one script may touch them together
 * (deployments are few and change rarely: one slot is plenty):
 *   ttma:{deployments}:dep:<id>     hash: doc (JSON, the secret as a SHA-256
 *                                   hex digest, never the secret), disabled 0|1
 *   ttma:{deployments}:num:<e164>   string: the owning deployment's id
 *   ttma:{deployments}:ids          set of ids
 *   ttma:{deployments}:host:<host>  set: the ids holding that tunnel host (lowercase, no
 *                                   trailing dot): one, or more for pairs stored before the rule
 *   ttma:{deployments}:hostsIndexed marker: the host sets were filled from the stored docs
 * "A number belongs to at most one deployment" is decided inside one script
 * per insert/replace, so two concurrent claims cannot both win; so is "a
 * tunnel host belongs to at most one" (tunnelHostOwners.ts), by the host sets,
 * filled once from the stored docs by the first script that finds no marker
 * (data stored before the rule). Keys the scripts derive from the prefix share
 * the hash tag, so the slot, as the replace script's old-number cleanup does.
 * Authentication runs on every signalling request, so deployments are cached
 * in process: every write publishes the deployment's id on
 * `ttma:{deployments}:changed` from inside its script, and each process drops
 * that id from its cache when the message arrives (the writing process drops
 * it at once, before writing). The cache is used only while the subscription
 * is up (a lost subscriber empties it and reads go to Redis), a read that an
 * invalidation overtook is not cached, and no entry is older than 5 s (the
 * backstop if a message were ever lost). So a rotation or a disable made on
 * another platform process takes effect there as soon as Redis delivers the
 * message (well under a millisecond on a healthy link).
 * While Redis is unreachable, a deployment read before is served from the
 * copy of that last read (so a gateway can still hang up its live calls),
 * unless a change message for it came since (the copy may be of a rotated
 * secret or a deployment since disabled); everything else fails with
 * TTMA_ERR_STORE_UNAVAILABLE (fail closed).
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import type { Deployment, DeploymentStore } from '../DeploymentRegistry.js';
import { fromStored, toStored } from './deploymentRecord.js';
import { tunnelHostKey, tunnelHostTaken } from '../tunnelHostOwners.js';
import { createRedisClient, quitRedis, RedisBackedStore, type RedisClient } from './redisClient.js';

/**
 * Lua, shared by insert and replace. ARGV[6] is the key prefix (`ttma:{deployments}:`): the host
 * index (`host:<tunnel host key>`, the set of ids holding it) and its marker live under the same
 * hash tag, so the same Cluster slot. hostKey is tunnelHostKey's (hosts are ASCII: validated as DNS
 * names). indexHosts fills the index once from the stored docs when the marker is missing (data
 * stored before the index: a pair sharing a host is both members of its set, so moving one leaves the
 * other holding it); a doc that does not parse authenticates nobody (deploymentRecord.ts) and holds
 * no host. hostHolder is the first other id holding `host`, or nil.
 */
const HOST_INDEX_LUA = `
local function hostKey(h)
  h = string.lower(h)
  if string.sub(h, -1) == '.' then h = string.sub(h, 1, -2) end
  return h
end
local function indexHosts()
  local marker = ARGV[6] .. 'hostsIndexed'
  if redis.call('EXISTS', marker) == 1 then return end
  for _, id in ipairs(redis.call('SMEMBERS', ARGV[6] .. 'ids')) do
    local ok, doc = pcall(cjson.decode, redis.call('HGET', ARGV[6] .. 'dep:' .. id, 'doc') or '')
    if ok and type(doc) == 'table' and type(doc.tunnelHost) == 'string' then redis.call('SADD', ARGV[6] .. 'host:' .. hostKey(doc.tunnelHost), id) end
  end
  redis.call('SET', marker, '1')
end
local function hostHolder(host)
  local holders = redis.call('SMEMBERS', ARGV[6] .. 'host:' .. host)
  table.sort(holders)
  for _, other in ipairs(holders) do
    if other ~= ARGV[1] then return other end
  end
  return nil
end
`;

/**
 * KEYS: deployment hash, ids set, then one key per number.
 * ARGV: id, doc, disabled, change channel, tunnel host key, key prefix.
 * Returns {1, 0} stored, {-1, 0} id taken, {-2, i} the i-th number taken, {-3, holder} the host taken.
 */
const INSERT_SCRIPT = `${HOST_INDEX_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, 0} end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {-2, i - 2} end
end
indexHosts()
local holder = hostHolder(ARGV[5])
if holder then return {-3, holder} end
redis.call('SADD', ARGV[6] .. 'host:' .. ARGV[5], ARGV[1])
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'disabled', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return {1, 0}
`;

/**
 * KEYS: deployment hash, ids set, then one key per new number.
 * ARGV: id, doc, number key prefix, change channel, tunnel host key, key prefix. The old
 * numbers' keys are derived from the stored doc (same hash tag, so the same Cluster slot).
 * `disabled` is left as it is: only setDisabled changes it, so an update cannot undo a disable.
 * The host is checked only when it changes: a deployment stored sharing one keeps working.
 * Returns {1, 0} replaced, {0, 0} unknown id, {-2, i} the i-th number is another's, {-3, holder} the host is.
 */
const REPLACE_SCRIPT = `${HOST_INDEX_LUA}
local old = redis.call('HGET', KEYS[1], 'doc')
if not old then return {0, 0} end
for i = 3, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[1] then return {-2, i - 2} end
end
local oldDoc = cjson.decode(old)
indexHosts()
local oldHost = type(oldDoc.tunnelHost) == 'string' and hostKey(oldDoc.tunnelHost) or nil
if oldHost ~= ARGV[5] then
  local holder = hostHolder(ARGV[5])
  if holder then return {-3, holder} end
  if oldHost then redis.call('SREM', ARGV[6] .. 'host:' .. oldHost, ARGV[1]) end
end
redis.call('SADD', ARGV[6] .. 'host:' .. ARGV[5], ARGV[1])
for _, number in ipairs(oldDoc.numbers) do
  local key = ARGV[3] .. number
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('HSET', KEYS[1], 'doc', ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return {1, 0}
`;

/** KEYS: deployment hash. ARGV: 0|1, id, change channel. Returns 1, or 0 for an unknown id. */
const DISABLE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'disabled', ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
`;

const LAST_KNOWN_MAX = 10_000;
/** Backstop: a cached deployment is read again after this long, message or not. */
const CACHE_MAX_AGE_MS = 5_000;

interface Commands {
  ttmaDepInsert(...args: string[]): Promise<[number, number | string]>;
  ttmaDepReplace(...args: string[]): Promise<[number, number | string]>;
  ttmaDepDisable(...args: string[]): Promise<number>;
}


export interface RedisDeploymentStoreOptions {
  url: string;
  prefix?: string;
  commandTimeoutMs?: number;
}

export class RedisDeploymentStore extends RedisBackedStore implements DeploymentStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  /** Each deployment as last read, for authentication while the store is unreachable (never written from). */
  readonly #lastKnown = new Map<string, Deployment>();
  /** The read cache (see above): valid only while #subscribed. */
  readonly #cache = new Map<string, { deployment: Deployment; at: number }>();
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  #subscribed = false;
  readonly #listeners = new Set<(id: string) => void>();
  readonly #resubscribed = new Set<() => void>();
  /** Bumped by every invalidation: a read that started before one is not cached. */
  #epoch = 0;

  constructor(options: RedisDeploymentStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = `${options.prefix ?? 'ttma'}:{deployments}:`;
    this.#channel = `${this.#prefix}changed`;
    this.#subscriber = createRedisClient(options.url, options.commandTimeoutMs);
    this.#subscriber.on('message', (_channel: string, id: string) => {
      // The cache first, so a listener that reads the deployment gets it from Redis; the copy for
      // an outage too: it may hold a secret since rotated or a deployment since disabled.
      this.#forget(id);
      for (const listener of this.#listeners) listener(id);
    });
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel).then(
        () => {
          // Anything cached before this subscription could have missed a message.
          this.#invalidate(null);
          this.#subscribed = true;
          // So could whoever acts on the messages (a rotation made while this was down closes nothing otherwise).
          for (const listener of this.#resubscribed) listener();
        },
        () => undefined,
      );
    });
    for (const event of ['close', 'reconnecting', 'end', 'error']) {
      this.#subscriber.on(event, () => {
        this.#subscribed = false;
        this.#invalidate(null);
      });
    }
    this.redis.defineCommand('ttmaDepInsert', { lua: INSERT_SCRIPT });
    this.redis.defineCommand('ttmaDepReplace', { lua: REPLACE_SCRIPT });
    this.redis.defineCommand('ttmaDepDisable', { numberOfKeys: 1, lua: DISABLE_SCRIPT });
  }

  get #commands(): Commands {
    return this.redis as unknown as Commands;
  }

  async get(id: string): Promise<Deployment | undefined> {
    const cached = this.#subscribed ? this.#cache.get(id) : undefined;
    if (cached && Date.now() - cached.at < CACHE_MAX_AGE_MS) return cloneOf(cached.deployment);
    const epoch = this.#epoch;
    let doc: string | null | undefined;
    let disabled: string | null | undefined;
    try {
      [doc, disabled] = await this.run(() => this.redis.hmget(this.#depKey(id), 'doc', 'disabled'));
    } catch (err) {
      // Store away: the copy read when it last answered keeps a live call's hang-up working; new calls
      // are refused anyway (the cap reservation needs the store), and nothing can be changed meanwhile.
      const known = this.#lastKnown.get(id);
      if (known) return cloneOf(known);
      throw err;
    }
    if (!doc) {
      this.#lastKnown.delete(id);
      return undefined;
    }
    const found = fromStored(doc, disabled === '1');
    this.#remember(found);
    if (this.#subscribed && epoch === this.#epoch) {
      this.#cache.set(id, { deployment: cloneOf(found), at: Date.now() });
      if (this.#cache.size > LAST_KNOWN_MAX) this.#cache.delete(this.#cache.keys().next().value as string);
    }
    return found;
  }

  /** Observe changes made by any platform process on this Redis (each write's message). */
  onStoredChange(listener: (id: string) => void): void {
    this.#listeners.add(listener);
  }

  /** Called each time the change subscription is made (again): messages published before it may be lost. */
  onChangesMayBeMissed(listener: () => void): void {
    this.#resubscribed.add(listener);
  }

  /** True while changes made elsewhere reach this process (for tests and /readyz-style checks). */
  get cacheLive(): boolean {
    return this.#subscribed;
  }

  forgetCopies(): void {
    this.#invalidate(null);
    this.#lastKnown.clear();
  }

  /** Drops one id (or everything) from the read cache. */
  #invalidate(id: string | null): void {
    this.#epoch++;
    if (id === null) this.#cache.clear();
    else this.#cache.delete(id);
  }

  async findByNumber(e164: string): Promise<Deployment | undefined> {
    const id = await this.run(() => this.redis.get(this.#numKey(e164)));
    return id ? this.get(id) : undefined;
  }

  async insert(deployment: Deployment): Promise<void> {
    const keys = [this.#depKey(deployment.id), `${this.#prefix}ids`, ...deployment.numbers.map((n) => this.#numKey(n))];
    // An id can be inserted again only once Redis lost the first (a wipe): its cached copy must not outlive it.
    this.#forget(deployment.id);
    const [status, index] = await this.run(() =>
      this.#commands.ttmaDepInsert(
        String(keys.length), ...keys, deployment.id, toStored(deployment), deployment.disabled ? '1' : '0', this.#channel, tunnelHostKey(deployment.tunnelHost), this.#prefix,
      ),
    ).finally(() => this.#forget(deployment.id));
    if (Number(status) === -1) throw new TtmaError(ErrorCodes.CONFLICT, `deployment ${deployment.id} already exists`, 409);
    refuseClaim(deployment, Number(status), index);
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    // Forgotten before the write: a changed deployment is never served from an old copy.
    this.#forget(id);
    try {
      return Number(await this.run(() => this.#commands.ttmaDepDisable(this.#depKey(id), disabled ? '1' : '0', id, this.#channel))) === 1;
    } finally {
      this.#forget(id);
    }
  }

  async replace(deployment: Deployment): Promise<boolean> {
    this.#forget(deployment.id);
    const keys = [this.#depKey(deployment.id), `${this.#prefix}ids`, ...deployment.numbers.map((n) => this.#numKey(n))];
    const [status, index] = await this.run(() =>
      this.#commands.ttmaDepReplace(
        String(keys.length), ...keys, deployment.id, toStored(deployment), `${this.#prefix}num:`, this.#channel, tunnelHostKey(deployment.tunnelHost), this.#prefix,
      ),
    ).finally(() => this.#forget(deployment.id));
    refuseClaim(deployment, Number(status), index);
    return Number(status) === 1;
  }

  async list(): Promise<Deployment[]> {
    const ids = (await this.run(() => this.redis.smembers(`${this.#prefix}ids`))).sort();
    const found = await Promise.all(ids.map((id) => this.get(id)));
    return found.filter((d): d is Deployment => d !== undefined);
  }

  override async close(): Promise<void> {
    if (this.conn.closed) return;
    this.#subscribed = false;
    this.#subscriber.removeAllListeners('ready');
    await Promise.all([this.conn.close(), quitRedis(this.#subscriber)]);
  }

  #forget(id: string): void {
    this.#lastKnown.delete(id);
    this.#invalidate(id);
  }

  #remember(deployment: Deployment): void {
    this.#lastKnown.delete(deployment.id);
    this.#lastKnown.set(deployment.id, cloneOf(deployment));
    if (this.#lastKnown.size > LAST_KNOWN_MAX) this.#lastKnown.delete(this.#lastKnown.keys().next().value as string);
  }

  #depKey(id: string): string {
    return `${this.#prefix}dep:${id}`;
  }

  #numKey(e164: string): string {
    return `${this.#prefix}num:${e164}`;
  }
}

function cloneOf(d: Deployment): Deployment {
  return { ...d, numbers: [...d.numbers], agentSecretSha256: Buffer.from(d.agentSecretSha256), caps: { ...d.caps }, dialPolicy: { allowPrefixes: [...d.dialPolicy.allowPrefixes] } };
}

/** A script's refusal of a number ({-2, i}) or of the tunnel host ({-3, holder}) as its error. */
function refuseClaim(deployment: Deployment, status: number, detail: number | string): void {
  if (status === -2) throw new TtmaError(ErrorCodes.CONFLICT, `number ${deployment.numbers[Number(detail) - 1] ?? '?'} already belongs to a deployment`, 409);
  if (status === -3) throw tunnelHostTaken(deployment.tunnelHost, String(detail));
}
