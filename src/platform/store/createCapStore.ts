/** The store the platform uses: Redis when a URL is given (REDIS_URL, --redis-url), else embedded. */
import type { CapStore } from './CapStore.js';
import { MemoryCapStore } from './MemoryCapStore.js';
import { RedisCapStore } from './RedisCapStore.js';
import type { StateJournal } from './StateJournal.js';

/** `journal`: where the embedded store keeps its state (persistent with --state-dir). */
export function createCapStore(redisUrl: string | undefined | null, journal?: StateJournal): CapStore {
  return redisUrl ? new RedisCapStore({ url: redisUrl }) : new MemoryCapStore(journal);
}
