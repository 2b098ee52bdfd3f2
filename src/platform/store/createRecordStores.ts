/** The deployment and call-record stores the platform uses: Redis when a URL is given (REDIS_URL, --redis-url), else in process. */
import { MemoryDeploymentStore, type DeploymentStore } from '../DeploymentRegistry.js';
import type { CallStore } from './CallStore.js';
import { MemoryCallStore } from './MemoryCallStore.js';
import { RedisCallStore } from './RedisCallStore.js';
import { RedisDeploymentStore } from './RedisDeploymentStore.js';
import { MemoryUsageStore } from './MemoryUsageStore.js';
import { RedisUsageStore } from './RedisUsageStore.js';
import type { UsageStore } from './UsageStore.js';
import type { StateJournal } from './StateJournal.js';

export interface CallRetention {
  /** Newest calls kept (default 50 000). */
  maxCalls?: number;
  /** Redis only: a record expires this many days after its last change (default 90). */
  days?: number;
}

export function createDeploymentStore(redisUrl: string | undefined | null, journal?: StateJournal): DeploymentStore {
  return redisUrl ? new RedisDeploymentStore({ url: redisUrl }) : new MemoryDeploymentStore(journal);
}

export function createCallStore(redisUrl: string | undefined | null, retention: CallRetention = {}, journal?: StateJournal): CallStore {
  if (!redisUrl) return new MemoryCallStore({ ...(retention.maxCalls !== undefined ? { maxCalls: retention.maxCalls } : {}), ...(journal ? { journal } : {}) });
  return new RedisCallStore({
    url: redisUrl,
    ...(retention.maxCalls !== undefined ? { maxCalls: retention.maxCalls } : {}),
    ...(retention.days !== undefined ? { retentionDays: retention.days } : {}),
  });
}

/** The usage cross-check's ledger: `maxCalls` real calls' entries per deployment (UsageStore.ts), the call records' days. */
export function createUsageStore(redisUrl: string | undefined | null, retention: CallRetention = {}, journal?: StateJournal): UsageStore {
  if (!redisUrl) return new MemoryUsageStore({ ...(retention.maxCalls !== undefined ? { maxEntries: retention.maxCalls } : {}), ...(journal ? { journal } : {}) });
  return new RedisUsageStore({
    url: redisUrl,
    ...(retention.maxCalls !== undefined ? { maxEntries: retention.maxCalls } : {}),
    ...(retention.days !== undefined ? { retentionDays: retention.days } : {}),
  });
}
