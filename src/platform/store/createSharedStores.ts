/** The rate-limit, replay and dashboard stores the platform uses: Redis when a URL is given (REDIS_URL, --redis-url), else in process. */
import type { DashboardStore } from './DashboardStore.js';
import { MemoryDashboardStore } from './MemoryDashboardStore.js';
import { MemoryRateLimitStore } from './MemoryRateLimitStore.js';
import { MemoryReplayStore } from './MemoryReplayStore.js';
import { DEFAULT_RATE_LIMIT, type RateLimitSettings, type RateLimitStore } from './RateLimitStore.js';
import { RedisDashboardStore } from './RedisDashboardStore.js';
import { RedisRateLimitStore } from './RedisRateLimitStore.js';
import { RedisReplayStore } from './RedisReplayStore.js';
import type { ReplayStore } from './ReplayStore.js';

/** `prefix` keeps another family of buckets (a call's restarts) apart from the deployments' in Redis. */
export function createRateLimitStore(redisUrl: string | undefined | null, settings: RateLimitSettings = DEFAULT_RATE_LIMIT, prefix?: string): RateLimitStore {
  return redisUrl ? new RedisRateLimitStore({ url: redisUrl, settings, ...(prefix ? { prefix } : {}) }) : new MemoryRateLimitStore(settings);
}

export function createReplayStore(redisUrl: string | undefined | null, ttlMs: number): ReplayStore {
  return redisUrl ? new RedisReplayStore({ url: redisUrl, ttlMs }) : new MemoryReplayStore(ttlMs);
}

export function createDashboardStore(redisUrl: string | undefined | null, now: () => number = Date.now): DashboardStore {
  return redisUrl ? new RedisDashboardStore({ url: redisUrl, now }) : new MemoryDashboardStore({ now });
}
