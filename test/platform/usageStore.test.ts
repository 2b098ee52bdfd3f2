/**
 * One behavioural suite for the usage cross-check's ledger, run through
 * UsageLedger against the embedded store and against a real redis-server
 * started for this file: the max(2 s, 2 %) rule at its edges in both orders
 * (report then settlement, settlement then report), first figures count,
 * unknown and unreported calls, one comparison and one flag decision when a
 * report and a settlement race (for Redis from two connections, as two
 * platform processes), listing, and the retention bound: per deployment, the
 * entries of unknown reports apart, so neither another deployment nor made-up
 * ids evict a real call's entry.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { UsageLedger } from '../../src/platform/UsageLedger.js';
import { MemoryUsageStore } from '../../src/platform/store/MemoryUsageStore.js';
import { RedisUsageStore } from '../../src/platform/store/RedisUsageStore.js';
import type { UsageEntry, UsageRetention, UsageStore } from '../../src/platform/store/UsageStore.js';
import { prefixedRedisStores, redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { prefixedClusterStores } from '../helpers/redisCluster.js';
import { stateDirs } from '../helpers/stateDirs.js';

interface Made {
  store(options?: UsageRetention): UsageStore | Promise<UsageStore>;
  /** Another client on the same state (Redis: a second connection, as a second platform process). */
  twin(store: UsageStore): UsageStore;
  close(): Promise<void>;
}

interface Flagged {
  flag: string;
  callId: string;
  deployment: string;
}

/** A ledger whose flag log lines are collected, with a clock the test moves. */
function ledgerOn(store: UsageStore, clock: { now: number }, logged: Flagged[], graceMs = 1_000): UsageLedger {
  const logger = createLogger('usage-test', 'warn', {
    write(line: string) {
      const parsed = JSON.parse(line) as Flagged & { audit?: boolean };
      if (parsed.audit) logged.push({ flag: parsed.flag, callId: parsed.callId, deployment: parsed.deployment });
    },
  });
  return new UsageLedger({ store, logger, reportGraceMs: graceMs, now: () => clock.now });
}

function pick(entry: UsageEntry | undefined): { p: number | null; g: number | null; flags: string[] } | undefined {
  return entry && { p: entry.providerMs, g: entry.gatewayMs, flags: entry.flags };
}

async function ready(store: UsageStore): Promise<UsageStore> {
  if (store instanceof RedisUsageStore) assert.equal(await store.ready(), true, 'store connected');
  return store;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`usage store contract: ${name}`, { skip }, () => {
    let made: Made;
    const opened: UsageStore[] = [];
    const open = async (options?: UsageRetention): Promise<UsageStore> => {
      const store = await ready(await made.store(options));
      opened.push(store);
      return store;
    };
    before(async () => (made = await make()));
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await made?.close();
    });
    const id = (): string => `v3:${randomUUID()}`;

    it('flags a difference over max(2 s, 2 %) exactly at its edges, report first or settlement first', async () => {
      const clock = { now: Date.now() };
      const logged: Flagged[] = [];
      const ledger = ledgerOn(await open(), clock, logged);
      // provider, gateway, flagged? (2 s floor below 100 s, 2 % above)
      const cases: [number, number, boolean][] = [
        [60_000, 62_000, false], [60_000, 62_001, true], [60_000, 57_999, true],
        [200_000, 204_000, false], [200_000, 204_001, true], [200_000, 195_999, true], [0, 2_001, true],
      ];
      for (const [providerMs, gatewayMs, flagged] of cases) {
        const reportFirst = id();
        const settleFirst = id();
        const report = await ledger.gatewayReport('dep-a', reportFirst, gatewayMs);
        assert.deepEqual(report.flags, [], 'nothing to compare yet');
        await ledger.providerFigure('dep-a', reportFirst, providerMs);
        await ledger.providerFigure('dep-a', settleFirst, providerMs);
        const late = await ledger.gatewayReport('dep-a', settleFirst, gatewayMs);
        const want = flagged ? ['duration_mismatch'] : [];
        assert.deepEqual(late.flags, want, `settlement first: provider ${providerMs} gateway ${gatewayMs}`);
        const entry = await ledger.get('dep-a', reportFirst);
        assert.deepEqual(entry && { p: entry.providerMs, g: entry.gatewayMs, flags: entry.flags }, { p: providerMs, g: gatewayMs, flags: want }, `report first: ${providerMs}/${gatewayMs}`);
      }
      assert.equal(logged.length, 2 * cases.filter(([, , f]) => f).length, 'one log line per flagged call');
    });

    it('the first figure counts: a repeated report or settlement changes nothing and compares nothing', async () => {
      const clock = { now: Date.now() };
      const store = await open();
      const c = id();
      const first = await store.apply('dep-a', c, { kind: 'gateway', durationMs: 1_000 }, clock.now);
      assert.equal(first.compared, false);
      const settled = await store.apply('dep-a', c, { kind: 'provider', durationMs: 45_000 }, clock.now + 5);
      assert.deepEqual({ compared: settled.compared, added: settled.added }, { compared: true, added: ['duration_mismatch'] });
      const again = await store.apply('dep-a', c, { kind: 'gateway', durationMs: 45_000 }, clock.now + 10);
      assert.deepEqual({ compared: again.compared, added: again.added, g: again.entry?.gatewayMs, flags: again.entry?.flags }, { compared: false, added: [], g: 1_000, flags: ['duration_mismatch'] });
      const resettled = await store.apply('dep-a', c, { kind: 'provider', durationMs: 1_000 }, clock.now + 15);
      assert.deepEqual({ compared: resettled.compared, p: resettled.entry?.providerMs, at: resettled.entry?.providerAt }, { compared: false, p: 45_000, at: clock.now + 5 });
      assert.equal((await store.get('dep-a', c))?.reportedAt, clock.now);
    });

    it("flags a report the provider never saw, keeps each deployment's entries apart, and clears the flag when the provider's figure arrives", async () => {
      const clock = { now: Date.now() };
      const logged: Flagged[] = [];
      const ledger = ledgerOn(await open(), clock, logged);
      const ghost = id();
      await ledger.unknownReport('dep-b', ghost, 5_000);
      await ledger.unknownReport('dep-b', ghost, 6_000);
      assert.deepEqual(await ledger.get('dep-b', ghost).then((e) => e && { g: e.gatewayMs, flags: e.flags }), { g: 5_000, flags: ['unknown_to_provider'] });
      // Another deployment's report on that id is not the owner's report.
      assert.equal(await ledger.get('dep-a', ghost), undefined);
      await ledger.providerFigure('dep-a', ghost, 30_000);
      assert.equal((await ledger.get('dep-a', ghost))?.gatewayMs, null);
      // Later known to the provider for the reporting deployment: compared, the unknown flag goes.
      await ledger.providerFigure('dep-b', ghost, 5_500);
      assert.deepEqual((await ledger.get('dep-b', ghost))?.flags, []);
      assert.deepEqual(logged, [{ flag: 'unknown_to_provider', callId: ghost, deployment: 'dep-b' }]);
    });

    it('flags a call the gateway never reported once the grace has passed, once; a late report clears it', async () => {
      const clock = { now: Date.now() };
      const logged: Flagged[] = [];
      const ledger = ledgerOn(await open(), clock, logged, 1_000);
      const c = id();
      await ledger.providerFigure('dep-a', c, 12_000);
      clock.now += 1_000;
      assert.deepEqual((await ledger.get('dep-a', c))?.flags, [], 'within the grace');
      clock.now += 1;
      assert.deepEqual((await ledger.get('dep-a', c))?.flags, ['unreported']);
      assert.deepEqual((await ledger.list('dep-a')).map((e) => e.flags), [['unreported']]);
      assert.equal(logged.length, 1, 'raised and logged once over several reads');
      const late = await ledger.gatewayReport('dep-a', c, 12_500);
      assert.deepEqual(late.flags, [], 'a late report that agrees clears it');
      assert.deepEqual((await ledger.get('dep-a', c))?.flags, []);
    });

    it('a report and a settlement racing (two processes) compare exactly once and decide each flag once', async () => {
      const store = await open();
      const other = await ready(made.twin(store));
      if (other !== store) opened.push(other);
      const clock = { now: Date.now() };
      const logged: Flagged[] = [];
      const here = ledgerOn(store, clock, logged);
      const there = ledgerOn(other, clock, logged);
      const calls = Array.from({ length: 40 }, (_, i) => ({ id: id(), providerMs: 60_000, gatewayMs: i % 2 === 0 ? 60_500 : 10_000 }));
      const outcomes = await Promise.all(
        calls.flatMap((c, i) => [
          (i % 2 === 0 ? store : other).apply('dep-r', c.id, { kind: 'gateway', durationMs: c.gatewayMs }, clock.now),
          (i % 2 === 0 ? other : store).apply('dep-r', c.id, { kind: 'provider', durationMs: c.providerMs }, clock.now),
          // A duplicate settlement from the other process, as a repeated hang-up would be.
          (i % 2 === 0 ? store : other).apply('dep-r', c.id, { kind: 'provider', durationMs: c.providerMs }, clock.now),
        ]),
      );
      for (let i = 0; i < calls.length; i++) {
        const three = outcomes.slice(3 * i, 3 * i + 3);
        assert.equal(three.filter((o) => o.compared).length, 1, `call ${i}: one comparison`);
        const raised = three.flatMap((o) => o.added);
        assert.deepEqual(raised, i % 2 === 0 ? [] : ['duration_mismatch'], `call ${i}: one flag decision`);
      }
      // Through the ledgers too: 20 more racing pairs, each flag logged once across both processes.
      const more = Array.from({ length: 20 }, () => id());
      await Promise.all(more.flatMap((c) => [here.gatewayReport('dep-r', c, 1_000), there.providerFigure('dep-r', c, 90_000), here.providerFigure('dep-r', c, 90_000)]));
      assert.deepEqual(logged.map((l) => l.callId).sort(), [...more].sort());
      for (const c of more) assert.deepEqual((await there.get('dep-r', c))?.flags, ['duration_mismatch']);
    });

    it("lists oldest first, a deployment's own entries, the newest `limit`, and keeps each deployment's newest", async () => {
      const clock = { now: Date.now() };
      const ledger = ledgerOn(await open({ maxEntries: 2 }), clock, []);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const c = id();
        ids.push(c);
        clock.now += 1;
        await ledger.gatewayReport(i % 2 === 0 ? 'dep-even' : 'dep-odd', c, 1_000 + i);
      }
      assert.deepEqual((await ledger.list()).map((e) => e.callControlId), ids.slice(2));
      assert.deepEqual((await ledger.list('dep-even')).map((e) => e.callControlId), [ids[2], ids[4]]);
      assert.deepEqual((await ledger.list(undefined, 2)).map((e) => e.callControlId), ids.slice(4));
      assert.equal(await ledger.get('dep-even', ids[0]!), undefined, "dep-even's oldest went");
      // Unknown reports' entries list in their place among the real ones.
      clock.now += 1;
      await ledger.unknownReport('dep-even', 'v3:ghost', 1);
      const last = id();
      clock.now += 1;
      await ledger.providerFigure('dep-even', last, 1_000);
      assert.deepEqual((await ledger.list()).map((e) => e.callControlId), [...ids.slice(3), 'v3:ghost', last]);
      assert.deepEqual((await ledger.list('dep-even')).map((e) => e.callControlId), [ids[4], 'v3:ghost', last]);
      assert.deepEqual((await ledger.list('dep-even', 2)).map((e) => e.callControlId), ['v3:ghost', last]);
    });

    it("neither another deployment's writes nor made-up call ids evict a real call's entry; unknown reports are counted past the ids kept", async () => {
      const clock = { now: Date.now() };
      const logged: Flagged[] = [];
      const ledger = ledgerOn(await open({ maxEntries: 3, maxUnknownPerDeployment: 2 }), clock, logged, 1_000);
      const victim = id();
      const own = id();
      const pending = id();
      await ledger.gatewayReport('dep-a', victim, 1_000);
      await ledger.providerFigure('dep-a', victim, 45_000);
      await ledger.gatewayReport('dep-b', own, 1_000);
      await ledger.providerFigure('dep-b', own, 45_000);
      await ledger.providerFigure('dep-b', pending, 30_000);
      const ghosts: string[] = [];
      for (let i = 0; i < 10; i++) {
        clock.now += 1;
        ghosts.push(`v3:ghost-${i}`);
        await ledger.unknownReport('dep-b', ghosts[i]!, 1);
      }
      assert.deepEqual((await ledger.get('dep-a', victim))?.flags, ['duration_mismatch'], "another deployment's entry stays");
      assert.deepEqual((await ledger.get('dep-b', own))?.flags, ['duration_mismatch'], 'its own real entry stays');
      clock.now += 1_001;
      assert.deepEqual((await ledger.get('dep-b', pending))?.flags, ['unreported'], 'a pending provider figure stays, so the missing report is flagged');
      const kept = (await ledger.list('dep-b')).filter((e) => e.flags.includes('unknown_to_provider')).map((e) => e.callControlId);
      assert.deepEqual(kept, ghosts.slice(-2), 'the newest unknown ids, at most maxUnknownPerDeployment');
      assert.deepEqual(await ledger.unknownReportCounts(), [{ deploymentId: 'dep-b', reports: 10 }]);
      assert.deepEqual(await ledger.unknownReportCounts('dep-a'), []);
      // A deployment's own real calls evict only its own oldest.
      const newer: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock.now += 1;
        newer.push(id());
        await ledger.providerFigure('dep-b', newer[i]!, 1_000);
      }
      assert.deepEqual((await ledger.list('dep-b')).map((e) => e.callControlId), [...ghosts.slice(-2), ...newer]);
      assert.deepEqual((await ledger.get('dep-a', victim))?.flags, ['duration_mismatch']);
    });

    it('an unknown entry joins the real calls at a known report or the provider figure; an unknown report of a real call is not counted', async () => {
      const clock = { now: Date.now() };
      const ledger = ledgerOn(await open({ maxEntries: 5, maxUnknownPerDeployment: 1 }), clock, []);
      await ledger.unknownReport('dep-b', 'v3:late', 1_000);
      await ledger.providerFigure('dep-b', 'v3:late', 45_000);
      clock.now += 1;
      await ledger.unknownReport('dep-b', 'v3:owned', 2_000);
      await ledger.gatewayReport('dep-b', 'v3:owned', 9_000);
      for (let i = 0; i < 3; i++) {
        clock.now += 1;
        await ledger.unknownReport('dep-b', `v3:ghost-${i}`, 1);
      }
      assert.deepEqual(pick(await ledger.get('dep-b', 'v3:late')), { p: 45_000, g: 1_000, flags: ['duration_mismatch'] });
      assert.deepEqual(pick(await ledger.get('dep-b', 'v3:owned')), { p: null, g: 2_000, flags: ['unknown_to_provider'] }, 'the first report counts');
      assert.equal(await ledger.get('dep-b', 'v3:ghost-1'), undefined);
      await ledger.unknownReport('dep-b', 'v3:late', 5);
      assert.deepEqual(await ledger.unknownReportCounts('dep-b'), [{ deploymentId: 'dep-b', reports: 5 }]);
      // Joined as the newest: listed after what was written before it.
      assert.deepEqual((await ledger.list('dep-b')).map((e) => e.callControlId), ['v3:late', 'v3:owned', 'v3:ghost-2']);
    });
  });
}

suite('embedded', async () => ({
  store: (options) => new MemoryUsageStore(options),
  twin: (store) => store,
  close: async () => undefined,
}));

suite('embedded, journaled to a state directory', async () => {
  const dirs = stateDirs();
  return {
    store: async (options) => new MemoryUsageStore({ ...options, journal: await dirs.journal() }),
    twin: (store) => store,
    close: () => dirs.close(),
  };
});

const skip = redisUnavailable();
suite('redis', () => prefixedRedisStores((url, prefix, options) => new RedisUsageStore({ url, prefix, ...options })), skip);
suite('redis cluster (three masters)', () => prefixedClusterStores((url, prefix, options) => new RedisUsageStore({ url, prefix, ...options })), skip);

describe('redis usage store: layout, retention, restart and failure', { skip }, () => {
  const redisFx = useRedisServer();

  it('keeps every key in the {usage} hash tag, each entry with a TTL, and forgets entries older than the retention', async () => {
    const store = new RedisUsageStore({ url: redisFx.server.url, prefix: 'lay', retentionDays: 1 });
    await ready(store);
    try {
      const now = Date.now();
      await store.apply('dep-a', 'v3:old', { kind: 'provider', durationMs: 1_000 }, now - 2 * 86_400_000);
      await store.apply('dep-a', 'v3:new', { kind: 'gateway', durationMs: 1_000 }, now);
      await store.apply('dep-a', 'v3:ghost', { kind: 'unknown', durationMs: 1_000 }, now + 1);
      const keys = (await redisFx.raw.keys('lay:*')).sort();
      assert.deepEqual(keys, ['lay:{usage}:dep:dep-a', 'lay:{usage}:index', 'lay:{usage}:kcount', 'lay:{usage}:kdep:dep-a', 'lay:{usage}:u:dep-a|v3:ghost', 'lay:{usage}:u:dep-a|v3:new']);
      for (const entry of ['lay:{usage}:u:dep-a|v3:new', 'lay:{usage}:u:dep-a|v3:ghost']) {
        const ttl = await redisFx.raw.ttl(entry);
        assert.ok(ttl > 86_000 && ttl <= 86_400, `the entry expires within the retention (${ttl} s)`);
      }
      assert.deepEqual((await store.list()).map((e) => e.callControlId), ['v3:new', 'v3:ghost']);
    } finally {
      await store.close();
    }
  });

  it('a report before a restart is compared with a settlement after it (store level)', async () => {
    const first = new RedisUsageStore({ url: redisFx.server.url, prefix: 'rst' });
    await ready(first);
    const now = Date.now();
    await first.apply('dep-a', 'v3:kept', { kind: 'gateway', durationMs: 1_000 }, now);
    await first.close();
    const second = new RedisUsageStore({ url: redisFx.server.url, prefix: 'rst' });
    await ready(second);
    try {
      const settled = await second.apply('dep-a', 'v3:kept', { kind: 'provider', durationMs: 45_000 }, now + 1);
      assert.deepEqual({ compared: settled.compared, added: settled.added, g: settled.entry?.gatewayMs }, { compared: true, added: ['duration_mismatch'], g: 1_000 });
    } finally {
      await second.close();
    }
  });

  it('a damaged flags field shows only known flag names', async () => {
    const store = new RedisUsageStore({ url: redisFx.server.url, prefix: 'dmg' });
    await ready(store);
    try {
      await store.apply('dep-a', 'v3:d', { kind: 'gateway', durationMs: 1_000 }, Date.now());
      await redisFx.raw.hset('dmg:{usage}:u:dep-a|v3:d', 'flags', 'unreported,<script>');
      assert.deepEqual((await store.get('dep-a', 'v3:d'))?.flags, ['unreported']);
    } finally {
      await store.close();
    }
  });

  it('fails fast with TTMA_ERR_STORE_UNAVAILABLE without a server', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisUsageStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      await assert.rejects(store.apply('dep-a', 'v3:x', { kind: 'gateway', durationMs: 1 }, Date.now()), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(store.get('dep-a', 'v3:x'), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(store.list(), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_500, 'refusal is immediate, not queued');
    } finally {
      await store.close();
    }
  });
});
