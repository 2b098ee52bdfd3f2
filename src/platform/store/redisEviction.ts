/**
 * Whether a Redis may drop the platform's keys on its own. With `maxmemory` set and any policy but
 * `noeviction`, a full Redis evicts keys to make room (https://redis.io/docs/latest/develop/reference/eviction/):
 * the `allkeys-*` policies any key, the `volatile-*` ones any key with a TTL, which the minute
 * counters, live reservations and webhook replay marks all have. An evicted counter grants its
 * deployment the minutes afresh (fail open), and the data-loss marker cannot tell (it is read every
 * second, so it goes last). With `noeviction` a full Redis refuses writes, which the platform
 * already fails closed on.
 */

export interface EvictionRisk {
  maxmemoryBytes: number;
  maxmemoryPolicy: string;
}

/** The risk read from `INFO memory`'s text; null when keys are never evicted (or the fields are absent). */
export function evictionRiskOf(info: string): EvictionRisk | null {
  const field = (name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const maxmemoryBytes = Number(field('maxmemory'));
  const maxmemoryPolicy = field('maxmemory_policy');
  if (!Number.isFinite(maxmemoryBytes) || maxmemoryBytes <= 0 || maxmemoryPolicy === undefined || maxmemoryPolicy === 'noeviction') return null;
  return { maxmemoryBytes, maxmemoryPolicy };
}
