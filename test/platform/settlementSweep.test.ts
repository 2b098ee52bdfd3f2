/**
 * SettlementSweep reads the call store's unsettled index a page at a time, oldest first. Calls
 * whose hang-ups the store learned in the same millisecond share a score: more of them than a
 * page must all be resumed, not only the first page's (the rest were skipped for as long as the
 * first page's calls stayed unsettled). A real redis-server and RedisCallStore; the settlement
 * is a recorder of what the sweep hands it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SettlementSweep } from '../../src/platform/SettlementSweep.js';
import { RedisCallStore } from '../../src/platform/store/RedisCallStore.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { capturingLogger } from './helpers.js';

const FACTS = { direction: 'incoming' as const, from: '+15550001111', to: '+15550002222' };

describe('the settlement sweep over calls that ended in the same millisecond', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let store: RedisCallStore;
  before(async () => {
    redis = await startRedisServer();
    store = new RedisCallStore({ url: redis.url, prefix: 'sweep' });
  });
  after(async () => {
    await store?.close();
    await redis?.stop();
  });

  it('resumes every one of them, however many pages they fill', async () => {
    const at = '2030-01-01T00:00:00.000Z';
    const ids = Array.from({ length: 7 }, (_, i) => `v3:sweep-${i}`);
    for (const id of ids) {
      await store.lock(id, 'dep', FACTS, at);
      await store.recordEvent(id, FACTS, { event_type: 'call.hangup', occurred_at: at }, at);
    }
    assert.equal((await store.unsettled(100)).length, ids.length, 'all on the index, at one time');
    const resumed: string[] = [];
    const sweep = new SettlementSweep({
      store,
      settlement: { settling: () => false, resume: async (id) => void resumed.push(id) },
      logger: capturingLogger().logger,
      staleAfterMs: 60_000,
      pageSize: 2,
      pageGapMs: 0,
    });
    try {
      assert.equal(await sweep.sweep(true), ids.length);
    } finally {
      sweep.close();
    }
    assert.deepEqual([...resumed].sort(), ids, 'each once');
  });
});
