/**
 * A Redis configured as a cache (maxmemory with an eviction policy other than noeviction) drops
 * keys when it fills: minute counters (their deployment then gets its minutes afresh), live
 * reservations, webhook replay marks, call records. The data-loss marker cannot see that (it is
 * read every second, so it is the last key evicted). A platform starting on such a Redis must say
 * so, loudly; on Redis's default (no maxmemory) or noeviction it says nothing. Real redis-server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { redisUnavailable, startRedisServer } from '../helpers/redisServer.js';
import { startHarness, waitFor } from './helpers.js';

const EVICTS = 'Redis may evict keys';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a platform on a Redis that may evict keys', { skip: redisUnavailable() }, () => {
  for (const [maxmemory, policy, warned] of [
    ['64mb', 'allkeys-lru', true],
    ['64mb', 'volatile-ttl', true],
    ['64mb', 'noeviction', false],
    ['0', 'allkeys-lru', false],
  ] as const) {
    it(`maxmemory ${maxmemory}, ${policy}: ${warned ? 'an error at start' : 'nothing said'}`, async () => {
      const redis = await startRedisServer();
      const raw = new Redis(redis.url);
      try {
        await raw.config('SET', 'maxmemory', maxmemory);
        await raw.config('SET', 'maxmemory-policy', policy);
        const h = await startHarness({ redisUrl: redis.url });
        try {
          if (warned) {
            await waitFor('the eviction error', () => h.lines.some((l) => l.includes(EVICTS)), 3_000);
            const line = JSON.parse(h.lines.find((l) => l.includes(EVICTS))!) as Record<string, unknown>;
            assert.equal(line['level'], 50, 'logged at error');
            assert.equal(line['maxmemoryPolicy'], policy);
          } else {
            await sleep(300);
            assert.equal(h.lines.filter((l) => l.includes(EVICTS)).length, 0);
          }
        } finally {
          await h.close();
        }
      } finally {
        raw.disconnect();
        await redis.stop();
      }
    });
  }
});
