/**
 * One way to open a Redis connection for the platform's stores (caps,
 * deployments, call records), so they all fail closed the same way: no
 * offline queue and a short command timeout, so while Redis is unreachable
 * every command fails at once with TTMA_ERR_STORE_UNAVAILABLE instead of
 * queueing behind a dead connection. ioredis reconnects in the background.
 * A command that times out on a live connection (Redis hung, SIGSTOP, a long
 * fork) is still in the socket and runs when Redis resumes: a write whose
 * reply was lost must be treated as perhaps applied (StoreUnavailableError.mayHaveApplied).
 */
import { Cluster, Redis } from 'ioredis';
import { ErrorCodes, StoreUnavailableError, TtmaError } from '../../errors.js';

/** A single Redis or a Redis Cluster: the commands the stores send are the same on both. */
export type RedisClient = Redis | Cluster;

/**
 * The platform's address for a Redis Cluster, made from `--redis-cluster host:port,host:port`
 * (TTMA_REDIS_CLUSTER) and passed where a redis:// URL goes. Not a URL a user writes.
 */
const CLUSTER_SCHEME = 'redis-cluster://';
const MAX_SEEDS = 64;

export interface ClusterSeed {
  host: string;
  port: number;
}

/** The seed list checked (host:port, comma-separated, 1..64, ports 1..65535); TTMA_ERR_CONFIG names the bad entry. */
export function clusterSeeds(list: string): ClusterSeed[] {
  const entries = list.split(',').map((e) => e.trim());
  if (entries.length === 0 || entries.length > MAX_SEEDS || entries.some((e) => e === '')) {
    throw new TtmaError(ErrorCodes.CONFIG, `redis cluster: give 1 to ${MAX_SEEDS} comma-separated host:port seed nodes`);
  }
  return entries.map((entry) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65_535) throw new TtmaError(ErrorCodes.CONFIG, `redis cluster: seed "${entry.slice(0, 80)}" is not host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** The address the stores are given for a cluster with these seeds (checked). */
export function clusterAddress(list: string): string {
  return CLUSTER_SCHEME + clusterSeeds(list).map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',');
}

export function isClusterAddress(url: string): boolean {
  return url.startsWith(CLUSTER_SCHEME);
}

const DEFAULT_COMMAND_TIMEOUT_MS = 500;
const RECONNECT_MAX_MS = 2_000;
const READY_POLL_MS = 20;

export function createRedisClient(url: string, commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): RedisClient {
  if (isClusterAddress(url)) return createClusterClient(clusterSeeds(url.slice(CLUSTER_SCHEME.length)), commandTimeoutMs);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TtmaError(ErrorCodes.CONFIG, 'redis URL is not a valid URL (expected redis://host:port)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TtmaError(ErrorCodes.CONFIG, 'redis URL must start with redis:// or rediss://');
  }
  const redis = new Redis(url, { ...connectionOptions(commandTimeoutMs), enableOfflineQueue: false, retryStrategy: reconnectDelay, lazyConnect: false });
  // Errors surface through commands; without a listener ioredis prints them.
  redis.on('error', () => undefined);
  return redis;
}

/** What each connection does, to a single Redis or to every node of a cluster. */
function connectionOptions(commandTimeoutMs: number) {
  return {
    maxRetriesPerRequest: 0,
    // A command whose reply was lost with the connection may have run: never send it again
    // (a script that deletes what it read would find its own deletion). maxRetriesPerRequest 0
    // already fails it; this says so without relying on that.
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2_000,
  };
}

const reconnectDelay = (times: number): number => Math.min(50 * times, RECONNECT_MAX_MS);

/**
 * ioredis's cluster client (`new Redis.Cluster([{ host, port }, ...])`,
 * https://github.com/redis/ioredis#cluster): it learns the slot map from any seed and sends
 * each command to the master that owns its key's slot. Same fail-closed settings per node;
 * no offline queue, so a command while the cluster is down or re-sharding fails at once.
 */
function createClusterClient(seeds: ClusterSeed[], commandTimeoutMs: number): Cluster {
  const cluster = new Cluster(seeds, {
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelay,
    redisOptions: connectionOptions(commandTimeoutMs),
    slotsRefreshTimeout: 2_000,
    lazyConnect: false,
  });
  cluster.on('error', () => undefined);
  return cluster;
}

/**
 * Every master's own connection (a single Redis: itself), for what one node answers about
 * itself only: INFO, CONFIG GET. On a cluster these otherwise go to one node picked at random.
 */
export function masters(redis: RedisClient): Redis[] {
  if (!(redis instanceof Cluster)) return [redis];
  const nodes = redis.nodes('master');
  // Before the slot map is known there is no node to ask: not "every node said yes".
  if (nodes.length === 0) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'redis cluster: no master known yet', 503);
  return nodes;
}

/**
 * On a cluster, the lowest slot each master serves (one key there lives on that master, and
 * moves with its slot if it is resharded); on a single Redis, none. A master that restarts
 * empty loses only its own slots, so a marker that must see any loss needs one per master.
 */
export function masterSlots(redis: RedisClient): number[] {
  if (!(redis instanceof Cluster)) return [];
  const lowest = new Map<string, number>();
  redis.slots.forEach((owners, slot) => {
    const master = owners?.[0];
    if (master !== undefined && !lowest.has(master)) lowest.set(master, slot);
  });
  if (lowest.size === 0) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'redis cluster: no slot map yet', 503);
  return [...lowest.values()];
}

/** Waits (bounded) for the connection; false when it did not come up. */
export async function redisReady(redis: RedisClient, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (redis.status !== 'ready' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  return redis.status === 'ready';
}

/** Clients that have been connected once: from then on a command never waits for a connection. */
const connectedOnce = new WeakSet<RedisClient>();
/** At start-up only: how long a command waits for the first connection attempt to finish. */
const FIRST_CONNECT_WAIT_MS = 1_000;

/**
 * Runs one command; any failure becomes TTMA_ERR_STORE_UNAVAILABLE (503), so
 * callers fail closed. A command issued while the very first connection is
 * still being made (a platform registering its deployment as it starts) waits
 * for that attempt, bounded; a refused attempt or any later outage fails at once.
 */
export async function runRedis<T>(redis: RedisClient, closed: boolean, command: () => Promise<T>): Promise<T> {
  if (closed) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, 'store closed', 503);
  if (!connectedOnce.has(redis)) {
    const deadline = Date.now() + FIRST_CONNECT_WAIT_MS;
    while ((redis.status === 'wait' || redis.status === 'connecting' || redis.status === 'connect') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    if (redis.status === 'ready') connectedOnce.add(redis);
  }
  // Without an offline queue a command issued while the connection is not ready is refused unsent;
  // one written to a ready connection may run even if its reply never comes (a hung server resumes).
  const sent = redis.status === 'ready';
  try {
    return await command();
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new StoreUnavailableError(`redis unavailable: ${why.slice(0, 160)}`, { cause, mayHaveApplied: sent });
  }
}

export async function quitRedis(redis: RedisClient): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/**
 * One store's connection: what every Redis-backed store does the same way
 * (commands that fail closed, ping for /readyz, a bounded wait for the first
 * connection, an idempotent close), so each store keeps only its own keys
 * and scripts.
 */
export class StoreConnection {
  readonly redis: RedisClient;
  #closed = false;

  constructor(url: string, commandTimeoutMs?: number) {
    this.redis = createRedisClient(url, commandTimeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  run<T>(command: () => Promise<T>): Promise<T> {
    return runRedis(this.redis, this.#closed, command);
  }

  async ping(): Promise<void> {
    await this.run(() => this.redis.ping());
  }

  ready(timeoutMs?: number): Promise<boolean> {
    return redisReady(this.redis, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await quitRedis(this.redis);
  }
}

/**
 * What every Redis-backed store shares: one `StoreConnection`, whose
 * `ping`, `ready` and `close` are the store's (their interfaces require them).
 */
export abstract class RedisBackedStore {
  protected readonly conn: StoreConnection;
  protected readonly redis: RedisClient;

  constructor(url: string, commandTimeoutMs?: number) {
    this.conn = new StoreConnection(url, commandTimeoutMs);
    this.redis = this.conn.redis;
  }

  /** One command, failing closed (TTMA_ERR_STORE_UNAVAILABLE) when Redis does not answer. */
  protected run<T>(command: () => Promise<T>): Promise<T> {
    return this.conn.run(command);
  }

  ping(): Promise<void> {
    return this.conn.ping();
  }

  ready(timeoutMs?: number): Promise<boolean> {
    return this.conn.ready(timeoutMs);
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
