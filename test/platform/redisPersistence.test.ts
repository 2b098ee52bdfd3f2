/**
 * A Redis without persistence (appendonly no, no RDB snapshots) loses every deployment, counter
 * and call record when it restarts. A platform on one must say so at start and again whenever
 * that changes (checked periodically), once per change, not per check; where CONFIG is renamed
 * (as managed Redis does) it says once that it could not check. Real redis-servers, real platforms.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { redisUnavailable, startRedisServer } from '../helpers/redisServer.js';
import { startHarness, waitFor } from './helpers.js';

const NONE = 'Redis keeps no data across a restart';
const UNKNOWN = 'could not check whether Redis keeps its data';
const KEPT = 'Redis keeps its data across a restart now';
const CHECK_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a platform on a Redis without persistence', { skip: redisUnavailable() }, () => {
  it('warned at start, once while it stays so, told when it changes, warned again when it is lost again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ttma-redis-'));
    // `--dir`: CONFIG SET appendonly yes below writes its file there.
    const redis = await startRedisServer(undefined, { args: ['--dir', dir] });
    const raw = new Redis(redis.url);
    const h = await startHarness({ redisUrl: redis.url, persistenceCheckMs: CHECK_MS });
    const count = (text: string): number => h.lines.filter((l) => l.includes(text)).length;
    try {
      await waitFor('the no-persistence warning', () => count(NONE) === 1, 3_000);
      const line = JSON.parse(h.lines.find((l) => l.includes(NONE))!) as Record<string, unknown>;
      assert.equal(line['level'], 40, 'logged at warn');
      assert.equal(line['appendonly'], 'no');
      assert.equal(line['save'], '');
      await sleep(10 * CHECK_MS);
      assert.equal(count(NONE), 1, 'once per state, not per check');

      await raw.config('SET', 'appendonly', 'yes');
      await waitFor('persistence noticed', () => count(KEPT) === 1, 3_000);
      await raw.config('SET', 'appendonly', 'no');
      await waitFor('the warning again', () => count(NONE) === 2, 3_000);
      await sleep(5 * CHECK_MS);
      assert.deepEqual([count(NONE), count(KEPT)], [2, 1]);
    } finally {
      await h.close();
      raw.disconnect();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const [what, args] of [
    ['append-only file', ['--appendonly', 'yes']],
    ['RDB snapshots', ['--save', '3600 1']],
  ] as const) {
    it(`with ${what}: nothing said`, async () => {
      // Its files in a directory of its own, not the working directory.
      const dir = await mkdtemp(join(tmpdir(), 'ttma-redis-'));
      const redis = await startRedisServer(undefined, { args: ['--dir', dir, ...args] });
      const h = await startHarness({ redisUrl: redis.url, persistenceCheckMs: CHECK_MS });
      try {
        await sleep(6 * CHECK_MS);
        assert.equal(h.lines.filter((l) => l.includes(NONE) || l.includes(UNKNOWN)).length, 0);
      } finally {
        await h.close();
        await redis.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('CONFIG renamed (managed Redis): "could not check", said once', async () => {
    const redis = await startRedisServer(undefined, { args: ['--rename-command', 'CONFIG', ''] });
    const h = await startHarness({ redisUrl: redis.url, persistenceCheckMs: CHECK_MS });
    try {
      await waitFor('the could-not-check warning', () => h.lines.some((l) => l.includes(UNKNOWN)), 3_000);
      await sleep(10 * CHECK_MS);
      assert.equal(h.lines.filter((l) => l.includes(UNKNOWN)).length, 1);
      assert.equal(h.lines.filter((l) => l.includes(NONE)).length, 0);
      const line = JSON.parse(h.lines.find((l) => l.includes(UNKNOWN))!) as Record<string, unknown>;
      assert.match(String(line['why']), /unknown command/i);
    } finally {
      await h.close();
      await redis.stop();
    }
  });
});
