/**
 * One behavioural suite for the cap store contract, run against the embedded
 * store and against a real redis-server started for this file.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CapStore } from '../../src/platform/store/CapStore.js';
import { MemoryCapStore } from '../../src/platform/store/MemoryCapStore.js';
import { RedisCapStore } from '../../src/platform/store/RedisCapStore.js';
import { freePorts } from '../../src/cli/processes.js';
import { StoreDataLostError, isTtmaError } from '../../src/errors.js';
import { redisUnavailable, startRedisServer, useRedisServer } from '../helpers/redisServer.js';
import { startRedisCluster } from '../helpers/redisCluster.js';
import { SETTLE_SCRIPT } from '../../src/platform/store/capScripts.js';
import { stateDirs } from '../helpers/stateDirs.js';

const JAN = { day: '2025-01-31', month: '2025-01' };
const JAN_30 = { day: '2025-01-30', month: '2025-01' };
const FEB = { day: '2025-02-01', month: '2025-02' };

interface Made {
  store: CapStore;
  /** Another client on the same state (Redis: a second connection, as a second platform process). */
  twin: CapStore;
  close(): Promise<void>;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`cap store contract: ${name}`, { skip }, () => {
    let store: CapStore;
    let twin: CapStore;
    let close: () => Promise<void>;
    before(async () => ({ store, twin, close } = await make()));
    after(() => close?.());
    const dep = (): string => `dep-${randomUUID().slice(0, 8)}`;

    it('grants within both caps and counts the call, the day and the month', async () => {
      const d = dep();
      const first = await store.reserve(d, 'c1', 1, { day: 3, month: 10 }, JAN);
      assert.deepEqual(first, { ok: true, dayUsed: 1, monthUsed: 1, callReserved: 1 });
      const second = await store.reserve(d, 'c1', 1, { day: 3, month: 10 }, JAN);
      assert.deepEqual(second, { ok: true, dayUsed: 2, monthUsed: 2, callReserved: 2 });
      assert.deepEqual(await store.usage(d, JAN), { day: 2, month: 2 });
      assert.deepEqual(await store.reservation(d, 'c1'), { reserved: 2, settled: false, billed: null });
      assert.equal(await store.reservation(d, 'nope'), null);
    });

    it('refuses at the daily cap and changes nothing', async () => {
      const d = dep();
      for (let i = 0; i < 2; i++) assert.equal((await store.reserve(d, `c${i}`, 1, { day: 2, month: 10 }, JAN)).ok, true);
      const refused = await store.reserve(d, 'c9', 1, { day: 2, month: 10 }, JAN);
      assert.deepEqual(refused, { ok: false, reason: 'day', dayUsed: 2, monthUsed: 2 });
      assert.deepEqual(await store.usage(d, JAN), { day: 2, month: 2 });
      assert.equal(await store.reservation(d, 'c9'), null);
      // Another day of the same month has its own daily counter.
      assert.equal((await store.reserve(d, 'c9', 1, { day: 2, month: 10 }, JAN_30)).ok, true);
    });

    it('refuses at the monthly cap across days, and a new month starts again', async () => {
      const d = dep();
      assert.equal((await store.reserve(d, 'a', 2, { day: 5, month: 3 }, JAN_30)).ok, true);
      const refused = await store.reserve(d, 'b', 2, { day: 5, month: 3 }, JAN);
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.reason, 'month');
      assert.deepEqual(await store.usage(d, JAN), { day: 0, month: 2 });
      assert.equal((await store.reserve(d, 'b', 2, { day: 5, month: 3 }, FEB)).ok, true);
    });

    it('settles exactly once: gives back unused units, then refuses more reservations', async () => {
      const d = dep();
      for (let i = 0; i < 3; i++) await store.reserve(d, 'c', 1, { day: 10, month: 10 }, JAN);
      assert.deepEqual(await store.settle(d, 'c', 2, JAN), { first: true, billed: 2, reserved: 3 });
      assert.deepEqual(await store.usage(d, JAN), { day: 2, month: 2 });
      assert.deepEqual(await store.settle(d, 'c', 1, JAN), { first: false, billed: 2, reserved: 3 });
      assert.deepEqual(await store.usage(d, JAN), { day: 2, month: 2 });
      const after = await store.reserve(d, 'c', 1, { day: 10, month: 10 }, JAN);
      assert.equal(!after.ok && after.reason, 'settled');
      assert.deepEqual(await store.reservation(d, 'c'), { reserved: 3, settled: true, billed: 2 });
    });

    it('charges a shortfall when the provider bills more than was reserved, even past the cap', async () => {
      const d = dep();
      await store.reserve(d, 'c', 1, { day: 2, month: 2 }, JAN);
      assert.deepEqual(await store.settle(d, 'c', 4, JAN), { first: true, billed: 4, reserved: 1 });
      assert.deepEqual(await store.usage(d, JAN), { day: 4, month: 4 });
      // A call that never reserved (the store was away at answer) is charged in the given period.
      await store.settle(d, 'never', 2, JAN);
      assert.deepEqual(await store.usage(d, JAN), { day: 6, month: 6 });
    });

    it('admits a live call once: a second admission is refused and changes nothing', async () => {
      const d = dep();
      const limits = { day: 10, month: 100 };
      assert.equal((await store.reserve(d, 'once', 1, limits, JAN, { nextAtMs: 1_000 })).ok, true);
      const again = await twin.reserve(d, 'once', 1, limits, JAN, { nextAtMs: 9_000 });
      assert.deepEqual(again, { ok: false, reason: 'admitted', dayUsed: 1, monthUsed: 1 });
      assert.deepEqual(await store.live(d), ['once'], 'still live');
      assert.deepEqual(await store.due(d, 1_000), ['once'], 'its due time unmoved');
      assert.deepEqual(await store.reservation(d, 'once'), { reserved: 1, settled: false, billed: null });
      // Two admissions at once: one is granted.
      const both = await Promise.all([store, twin].map((s) => s.reserve(d, 'race', 1, limits, JAN, { nextAtMs: 1_000 })));
      assert.deepEqual(both.map((r) => r.ok).sort(), [false, true]);
      assert.deepEqual(await store.usage(d, JAN), { day: 2, month: 2 });
      // A released call is not admitted afresh either.
      await store.release(d, 'once');
      assert.equal(!(await store.reserve(d, 'once', 1, limits, JAN, { nextAtMs: 1_000 })).ok, true);
    });

    it('settles a call across midnight and a month end into each period: unused units back to the earliest first', async () => {
      const d = dep();
      const limits = { day: 100, month: 100 };
      // A dial that rang 3 units on Jan 31 and talked 2 on Feb 1: billed 2.
      await store.reserve(d, 'span', 1, limits, JAN, { nextAtMs: 0 });
      for (let i = 0; i < 2; i++) await store.reserve(d, 'span', 1, limits, JAN);
      for (let i = 0; i < 2; i++) await store.reserve(d, 'span', 1, limits, FEB);
      // Another call on Feb 1, which the settlement must not eat into.
      await store.reserve(d, 'other', 4, limits, FEB);
      assert.deepEqual(await twin.settle(d, 'span', 2, FEB), { first: true, billed: 2, reserved: 5 });
      assert.deepEqual(await store.usage(d, JAN), { day: 0, month: 0 });
      assert.deepEqual(await store.usage(d, FEB), { day: 6, month: 6 });
      // A shortfall goes to the latest period the call reserved in.
      await store.reserve(d, 'short', 1, limits, JAN_30);
      await store.reserve(d, 'short', 1, limits, JAN);
      await store.settle(d, 'short', 4, FEB);
      assert.deepEqual(await store.usage(d, JAN_30), { day: 1, month: 4 });
      assert.deepEqual(await store.usage(d, JAN), { day: 3, month: 4 });
      assert.deepEqual(await store.usage(d, FEB), { day: 6, month: 6 });
    });

    it('settles into the period of the last reservation', async () => {
      const d = dep();
      await store.reserve(d, 'c', 1, { day: 9, month: 9 }, JAN_30);
      await store.reserve(d, 'c', 1, { day: 9, month: 9 }, JAN_30);
      await store.settle(d, 'c', 1, JAN);
      assert.deepEqual(await store.usage(d, JAN_30), { day: 1, month: 1 });
      assert.deepEqual(await store.usage(d, JAN), { day: 0, month: 1 });
    });

    it('keeps live calls with their next due time; a top-up is made once when due and moves it one unit on', async () => {
      const d = dep();
      const limits = { day: 10, month: 100 };
      assert.equal((await store.reserve(d, 'live-1', 1, limits, JAN, { nextAtMs: 1_000 })).ok, true);
      assert.equal((await store.reserve(d, 'not-live', 1, limits, JAN)).ok, true);
      assert.deepEqual(await twin.live(d), ['live-1'], 'seen by the other client');
      assert.ok((await twin.liveDeployments()).includes(d));
      assert.deepEqual(await store.due(d, 999), []);
      assert.deepEqual(await store.topUp(d, 'live-1', 999, 500, JAN), { ok: false, reason: 'not_due' });
      assert.deepEqual(await twin.due(d, 1_000), ['live-1']);
      // Two processes ticking at once: 12 concurrent top-ups of the due unit, one granted.
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? twin : store).topUp(d, 'live-1', 1_200, 500, JAN)));
      assert.equal(results.filter((r) => r.ok).length, 1);
      assert.ok(results.every((r) => r.ok || r.reason === 'not_due'));
      assert.deepEqual(await store.due(d, 1_499), [], 'next due one unit after the last due time');
      assert.deepEqual(await store.due(d, 1_500), ['live-1']);
      assert.deepEqual(await store.reservation(d, 'live-1'), { reserved: 2, settled: false, billed: null });
      assert.deepEqual(await store.usage(d, JAN), { day: 3, month: 3 });
    });

    it('a live call stays live at a cap (looked at again a unit on, nothing reserved) until released or settled', async () => {
      const d = dep();
      const limits = { day: 3, month: 100 };
      for (const c of ['a', 'b', 'c']) assert.equal((await store.reserve(d, c, 1, limits, JAN, { nextAtMs: 0 })).ok, true);
      // At the cap: refused with the reason, and still live: its process ends the calls and releases
      // each once hung up; should it die first, the next look (any process's) ends them.
      const capped = await twin.topUp(d, 'a', 10, 100, JAN);
      assert.deepEqual(capped, { ok: false, reason: 'day', dayUsed: 3, monthUsed: 3 });
      assert.deepEqual(await store.due(d, 109), ['b', 'c'], 'not due again before a unit after the refusal');
      assert.deepEqual((await store.due(d, 110)).sort(), ['a', 'b', 'c']);
      assert.deepEqual(await store.topUp(d, 'a', 110, 100, JAN), { ok: false, reason: 'day', dayUsed: 3, monthUsed: 3 }, 'refused again, nothing reserved');
      assert.deepEqual(await store.reservation(d, 'a'), { reserved: 1, settled: false, billed: null });
      // Being ended: its next look waits (postpone); a call no longer live is not made live by it.
      await store.postpone(d, 'b', 500);
      assert.deepEqual((await twin.due(d, 499)).sort(), ['a', 'c']);
      await store.release(d, 'a');
      await store.release(d, 'b');
      await store.postpone(d, 'b', 600);
      assert.deepEqual(await store.live(d), ['c']);
      await twin.settle(d, 'c', 1, JAN);
      assert.deepEqual(await store.live(d), []);
      assert.deepEqual(await store.topUp(d, 'c', 10, 100, JAN), { ok: false, reason: 'not_due' }, 'settled: never topped up again');
      assert.deepEqual(await store.reservation(d, 'c'), { reserved: 1, settled: true, billed: 1 });
    });

    it('never grants more than the cap under 200 concurrent reservations', async () => {
      const d = dep();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => store.reserve(d, `c${i % 37}`, 1, { day: 10, month: 100 }, JAN)),
      );
      assert.equal(results.filter((r) => r.ok).length, 10);
      assert.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'day'));
      assert.deepEqual(await store.usage(d, JAN), { day: 10, month: 10 });
    });
  });
}

suite('embedded', async () => {
  const store = new MemoryCapStore();
  return { store, twin: store, close: () => store.close() };
});

suite('embedded, journaled to a state directory', async () => {
  const dirs = stateDirs();
  const store = new MemoryCapStore(await dirs.journal());
  return { store, twin: store, close: () => dirs.close() };
});

const skip = redisUnavailable();

/** Two clients on one prefix of a server (or cluster) started for the suite, stopped with it. */
async function redisPair(server: { url: string; stop(): Promise<void> }): Promise<Made> {
  const store = new RedisCapStore({ url: server.url, prefix: `t${process.pid}` });
  const twin = new RedisCapStore({ url: server.url, prefix: `t${process.pid}` });
  assert.equal(await store.ready(), true);
  assert.equal(await twin.ready(), true);
  return {
    store,
    twin,
    close: async () => {
      await store.close();
      await twin.close();
      await server.stop();
    },
  };
}

suite('redis', async () => redisPair(await startRedisServer()), skip);
suite('redis cluster (three masters)', async () => redisPair(await startRedisCluster()), skip);

describe('redis cap store: settling calls it reserved for before counts were kept per period, and a raced settlement', { skip }, () => {
  const redis = useRedisServer();
  const prefix = 'legacy';
  const tag = `${prefix}:{dep:d1}`;

  it('a call hash with no per-period counts settles into its last period, as before', async () => {
    const store = new RedisCapStore({ url: redis.server.url, prefix });
    try {
      await redis.raw.hset(`${tag}:call:old`, { reserved: '3', day: JAN.day, month: JAN.month });
      await redis.raw.set(`${tag}:day:${JAN.day}`, '5');
      await redis.raw.set(`${tag}:month:${JAN.month}`, '5');
      assert.deepEqual(await store.settle('d1', 'old', 1, FEB), { first: true, billed: 1, reserved: 3 });
      assert.deepEqual(await store.usage('d1', JAN), { day: 3, month: 3 });
      assert.deepEqual(await store.usage('d1', FEB), { day: 0, month: 0 });
    } finally {
      await store.close();
    }
  });

  it('the script refuses (-9, nothing changed) a settlement that does not list a period the call reserved in', async () => {
    await redis.raw.hset(`${tag}:call:raced`, { reserved: '2', [`d:${JAN_30.day}`]: '1', [`d:${JAN.day}`]: '1', [`m:${JAN.month}`]: '2' });
    const reply = await redis.raw.eval(
      SETTLE_SCRIPT, 4, `${tag}:call:raced`, `${tag}:live`, `${tag}:day:${JAN.day}`, `${tag}:month:${JAN.month}`,
      1, 60, 'raced', 1, 1, 60, 60, JAN.day, JAN.month,
    );
    assert.deepEqual(reply, [-9, 0, 0]);
    assert.equal(await redis.raw.hget(`${tag}:call:raced`, 'settled'), null);
  });
});

describe('redis cap store: reservations once Redis lost its data (FLUSHALL)', { skip }, () => {
  const redis = useRedisServer();
  const limits = { day: 10, month: 100 };

  /** Commands clients send from now on (MONITOR; a script's own commands left out), until the returned stop. */
  async function watchCommands(): Promise<() => Promise<string[]>> {
    const monitor = await redis.raw.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.startsWith('lua')) seen.push(String(args[0]).toLowerCase());
    });
    return async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      monitor.disconnect();
      return seen;
    };
  }

  it('refuses the next reservation itself (not a second later at the timer\'s look), reserving nothing; a client started on the wiped Redis accepts it', async () => {
    const store = new RedisCapStore({ url: redis.server.url, prefix: 'wipe' });
    const restarted = new RedisCapStore({ url: redis.server.url, prefix: 'wipe' });
    try {
      assert.equal((await store.reserve('d1', 'a', 1, limits, JAN, { nextAtMs: 0 })).ok, true);
      // Once the deployment's marker copy is written, a reservation is one script: no extra round trip.
      const stop = await watchCommands();
      assert.equal((await store.reserve('d1', 'b', 1, limits, JAN)).ok, true);
      const sent = await stop();
      assert.equal(sent.length, 1, `one command per reservation: ${sent.join(', ')}`);
      assert.match(sent[0]!, /^eval/);

      await redis.raw.flushall();
      for (const d of ['d1', 'd2']) {
        await assert.rejects(store.reserve(d, 'c', 1, limits, JAN, { nextAtMs: 0 }), (err) => err instanceof StoreDataLostError && isTtmaError(err, 'TTMA_ERR_STORE_DATA_LOST'));
      }
      assert.deepEqual(await store.usage('d1', JAN), { day: 0, month: 0 }, 'no fresh minutes');
      assert.equal(await store.dataKept(), false);
      // A restarted platform takes the empty Redis as a fresh start; the lost client's attempts do not disturb it.
      assert.equal((await restarted.reserve('d1', 'c', 1, limits, JAN, { nextAtMs: 0 })).ok, true);
      await assert.rejects(store.reserve('d1', 'd', 1, limits, JAN), (err) => err instanceof StoreDataLostError);
      assert.equal((await restarted.reserve('d1', 'e', 1, limits, JAN)).ok, true);
      assert.deepEqual(await restarted.usage('d1', JAN), { day: 2, month: 2 });
    } finally {
      await store.close();
      await restarted.close();
    }
  });

  /** Two clients on one prefix (two platform processes), closed after `use`. */
  async function twoClients(prefix: string, use: (a: RedisCapStore, b: RedisCapStore) => Promise<void>): Promise<void> {
    const a = new RedisCapStore({ url: redis.server.url, prefix });
    const b = new RedisCapStore({ url: redis.server.url, prefix });
    try {
      await use(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  }

  it('a client that has not noticed the wipe yet cannot make it look kept to another (two platform processes)', () =>
    twoClients('wipe2', async (a, b) => {
      assert.equal((await a.reserve('d1', 'a1', 1, limits, JAN, { nextAtMs: 0 })).ok, true);
      assert.equal((await b.reserve('d1', 'b1', 1, limits, JAN, { nextAtMs: 0 })).ok, true);
      await redis.raw.flushall();
      // A reserves first after the wipe: its attempt writes a copy of its old marker into the wiped Redis.
      await assert.rejects(a.reserve('d1', 'a2', 1, limits, JAN, { nextAtMs: 0 }), (err) => err instanceof StoreDataLostError);
      // Before, B's next reservation found that copy, took the store for kept and reserved afresh.
      await assert.rejects(b.reserve('d1', 'b2', 1, limits, JAN, { nextAtMs: 0 }), (err) => err instanceof StoreDataLostError);
      assert.deepEqual(await b.usage('d1', JAN), { day: 0, month: 0 }, 'no fresh minutes');
    }));

  it('two clients confirming a deployment\'s first copy at once both reserve', () =>
    twoClients('wipe3', async (a, b) => {
      const results = await Promise.all([
        a.reserve('d1', 'a1', 1, limits, JAN, { nextAtMs: 0 }),
        b.reserve('d1', 'b1', 1, limits, JAN, { nextAtMs: 0 }),
        a.reserve('d2', 'a2', 1, limits, JAN, { nextAtMs: 0 }),
        b.reserve('d2', 'b2', 1, limits, JAN, { nextAtMs: 0 }),
      ]);
      assert.deepEqual(results.map((r) => r.ok), [true, true, true, true]);
      assert.deepEqual(await a.usage('d1', JAN), { day: 2, month: 2 });
    }));
});

describe('redis cap store without a server', { skip }, () => {
  it('fails fast with TTMA_ERR_STORE_UNAVAILABLE instead of queueing', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisCapStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      await assert.rejects(store.reserve('dep-x', 'c', 1, { day: 1, month: 1 }, JAN), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(store.ping(), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_500, 'refusal is immediate, not queued');
      assert.equal(store.healthy, false);
    } finally {
      await store.close();
    }
  });
});

describe('embedded cap store: drops what Redis would expire (TTL_SECONDS), measured from the periods it is given', () => {
  const day = (iso: string) => ({ day: iso, month: iso.slice(0, 7) });
  const limits = { day: 100, month: 1000 };

  it('day counters after 3 days, month counters 62 days after their month, settled calls 62 days after their last reservation; live calls stay', async () => {
    const store = new MemoryCapStore();
    const jan10 = day('2026-01-10');
    await store.reserve('dep-x', 'settled', 2, limits, jan10);
    await store.settle('dep-x', 'settled', 2, jan10);
    await store.reserve('dep-x', 'live', 1, limits, jan10, { nextAtMs: 60_000 });
    // Three days after Jan 10 ends (Jan 14): nothing yet; the next day the day counter goes.
    await store.reserve('dep-y', 'a', 1, limits, day('2026-01-13'));
    assert.deepEqual(await store.usage('dep-x', jan10), { day: 3, month: 3 });
    await store.reserve('dep-y', 'b', 1, limits, day('2026-01-14'));
    assert.deepEqual(await store.usage('dep-x', jan10), { day: 0, month: 3 });
    // 62 days after Jan 10 ends: the settled call goes, the live one stays.
    await store.reserve('dep-y', 'c', 1, limits, day('2026-03-13'));
    assert.notEqual(await store.reservation('dep-x', 'settled'), null);
    await store.reserve('dep-y', 'd', 1, limits, day('2026-03-14'));
    assert.equal(await store.reservation('dep-x', 'settled'), null);
    assert.deepEqual(await store.reservation('dep-x', 'live'), { reserved: 1, settled: false, billed: null });
    // 62 days after January ends (April 3): the month counter goes.
    await store.reserve('dep-y', 'e', 1, limits, day('2026-04-03'));
    assert.equal((await store.usage('dep-x', jan10)).month, 3);
    await store.reserve('dep-y', 'f', 1, limits, day('2026-04-04'));
    assert.equal((await store.usage('dep-x', jan10)).month, 0);
    assert.deepEqual(await store.live('dep-x'), ['live']);
  });
});
