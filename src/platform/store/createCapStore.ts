/** The store the platform uses: Redis when a URL is given (REDIS_URL, --redis-url), else embedded. */
import type { CapStore } from './CapStore.js';
import { MemoryCapStore } from './MemoryCapStore.js';
import { RedisCapStore } from './RedisCapStore.js';

export function createCapStore(redisUrl: string | undefined | null): CapStore {
  return redisUrl ? new RedisCapStore({ url: redisUrl }) : new MemoryCapStore();
}
