/**
 * One behavioural suite for the call record store, run against the embedded
 * store and against a real redis-server started for this file: lock-once
 * (also under concurrent writers, and for Redis from two separate clients
 * as two platform processes would be), timelines, accounting and recording
 * fields, listing and the retention bounds.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import type { CallStore } from '../../src/platform/store/CallStore.js';
import { MemoryCallStore } from '../../src/platform/store/MemoryCallStore.js';
import { RedisCallStore } from '../../src/platform/store/RedisCallStore.js';
import { freePorts } from '../../src/cli/processes.js';
import { isTtmaError } from '../../src/errors.js';
import { prefixedRedisStores, redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { prefixedClusterStores } from '../helpers/redisCluster.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { stateDirs } from '../helpers/stateDirs.js';

const inbound = { direction: 'incoming' as const, from: '+15550000001', to: '+15551230001' };
const outbound = { direction: 'outgoing' as const, from: '+15551230001', to: '+15559990000' };

interface Made {
  /** A fresh store on empty state. */
  store(options?: { maxCalls?: number }): CallStore | Promise<CallStore>;
  /** Another client on the same state (Redis: a second connection, as a second platform process). */
  twin?(store: CallStore): CallStore;
  close(): Promise<void>;
}

/** A networked store refuses commands until connected (no offline queue): wait for it. */
async function ready(store: CallStore): Promise<CallStore> {
  if (store.ready) assert.equal(await store.ready(), true, 'store connected');
  return store;
}

function suite(name: string, make: () => Promise<Made>, skip?: string): void {
  describe(`call store contract: ${name}`, { skip }, () => {
    let made: Made;
    const opened: CallStore[] = [];
    const open = async (options?: { maxCalls?: number }): Promise<CallRegistry> => {
      const store = await ready(await made.store(options));
      opened.push(store);
      return new CallRegistry({ store });
    };
    before(async () => (made = await make()));
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await made?.close();
    });
    const id = (): string => `v3:${randomUUID()}`;

    it('locks a call at first sight and never re-assigns it', async () => {
      const calls = await open();
      const c1 = id();
      assert.equal((await calls.lock(c1, 'dep-a', inbound)).ok, true);
      assert.equal((await calls.lock(c1, 'dep-a', inbound)).ok, true);
      const stolen = await calls.lock(c1, 'dep-b', inbound);
      assert.deepEqual({ ok: stolen.ok, owner: stolen.deploymentId }, { ok: false, owner: 'dep-a' });
      assert.deepEqual(await calls.ownerOf(c1), { locked: true, deploymentId: 'dep-a' });
      assert.equal((await calls.get(c1))?.deploymentId, 'dep-a');
      // Unowned is a lock too.
      const c2 = id();
      await calls.lock(c2, null, inbound);
      assert.equal((await calls.lock(c2, 'dep-b', inbound)).ok, false);
      assert.deepEqual(await calls.ownerOf(c2), { locked: true, deploymentId: null });
      assert.equal(await calls.ownerOf(id()), undefined);
    });

    it('keeps an outgoing call seen first by webhook unlocked until the dial locks it', async () => {
      const calls = await open();
      const o1 = id();
      const seen = await calls.recordEvent(o1, outbound, { event_type: 'call.initiated', occurred_at: '2025-01-01T00:00:00.000Z' });
      assert.deepEqual(seen, { deploymentId: null, locked: false, state: 'initiated' });
      assert.deepEqual(await calls.ownerOf(o1), { locked: false, deploymentId: null });
      await calls.recordEvent(o1, outbound, { event_type: 'call.hangup', occurred_at: '2025-01-01T00:00:02.000Z' });
      const locked = await calls.lock(o1, 'dep-a', outbound, { reservationId: 'dial-1' });
      // The dial learns that the call already ended (so it settles now).
      assert.deepEqual(locked, { ok: true, deploymentId: 'dep-a', state: 'ended' });
      const record = await calls.get(o1);
      assert.equal(record?.timeline.length, 2);
      assert.equal(record?.reservationId, 'dial-1');
      assert.equal((await calls.lock(o1, 'dep-b', outbound, { reservationId: 'dial-evil' })).ok, false);
      assert.equal((await calls.get(o1))?.reservationId, 'dial-1', 'a refused lock changes nothing');
      // The reservation names its call (LiveCallAudit's look for reservations no call carries).
      assert.equal(await calls.callOfReservation('dial-1'), o1);
      assert.equal(await calls.callOfReservation('dial-evil'), null);
      assert.equal(await calls.callOfReservation(`dial-${randomUUID()}`), null);
    });

    it('a later event never changes the owner', async () => {
      const calls = await open();
      const c = id();
      await calls.lock(c, 'dep-a', inbound);
      const other = { ...inbound, to: '+15557770000', from: '+15551112222' };
      const after = await calls.recordEvent(c, other, { event_type: 'call.answered', occurred_at: '2025-01-01T00:00:01.000Z' });
      assert.deepEqual(after, { deploymentId: 'dep-a', locked: true, state: 'answered' });
      const record = await calls.get(c);
      assert.deepEqual([record?.deploymentId, record?.to], ['dep-a', inbound.to], 'first facts and owner kept');
    });

    it('gives one owner to a call claimed by 40 concurrent writers', async () => {
      const first = await open();
      const writers = [first, ...(made.twin ? [new CallRegistry({ store: track(await ready(made.twin(first.store))) })] : [])];
      const c = id();
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, i) => writers[i % writers.length]!.lock(c, `dep-${i}`, inbound)),
      );
      const winners = outcomes.filter((o) => o.ok);
      assert.equal(winners.length, 1, 'exactly one lock wins');
      const owner = winners[0]!.deploymentId;
      assert.ok(outcomes.every((o) => o.deploymentId === owner), 'every loser is told the winner');
      for (const w of writers) assert.deepEqual(await w.ownerOf(c), { locked: true, deploymentId: owner });
      function track(store: CallStore): CallStore {
        opened.push(store);
        return store;
      }
    });

    it('orders the timeline by occurred_at, keeps arrival order on ties, and only moves the state forward', async () => {
      const calls = await open();
      const c = id();
      await calls.lock(c, 'dep-a', inbound);
      await calls.recordEvent(c, inbound, { event_type: 'call.hangup', occurred_at: '2025-01-01T00:00:09.000Z', hangup_cause: 'normal_clearing' });
      await calls.recordEvent(c, inbound, { event_type: 'call.initiated', occurred_at: '2025-01-01T00:00:00.000Z' });
      await calls.recordEvent(c, inbound, { event_type: 'call.answered', occurred_at: '2025-01-01T00:00:01.000Z' });
      await calls.recordEvent(c, inbound, { event_type: 'streaming.started', occurred_at: '2025-01-01T00:00:01.000Z' });
      await calls.recordEvent(c, inbound, { event_type: 'call.answered', occurred_at: '2025-01-01T00:00:00.500Z' });
      await calls.recordEvent(c, inbound, { event_type: 'call.hangup', occurred_at: '2025-01-01T00:00:10.000Z', hangup_cause: 'timeout' });
      const record = await calls.get(c);
      assert.deepEqual(
        record?.timeline.map((e) => `${e.occurred_at.slice(17)} ${e.event}`),
        ['00.000Z call.initiated', '00.500Z call.answered', '01.000Z call.answered', '01.000Z streaming.started', '09.000Z call.hangup', '10.000Z call.hangup'],
      );
      assert.equal(record?.state, 'ended');
      assert.equal(record?.answeredAt, '2025-01-01T00:00:00.500Z', 'earliest answer');
      assert.equal(record?.endedAt, '2025-01-01T00:00:09.000Z', 'first hang-up');
      assert.equal(record?.hangupCause, 'timeout', 'latest cause');
    });

    it('patches accounting and merges recording fields; an unknown call is not created', async () => {
      const calls = await open();
      const c = id();
      assert.equal(await calls.patch(c, { reservationId: 'r' }), false);
      assert.equal(await calls.patchRecording(c, { url: 'x' }), false);
      assert.equal(await calls.get(c), undefined);
      await calls.lock(c, 'dep-a', inbound);
      assert.equal((await calls.get(c))?.recording, null);
      assert.equal(await calls.patch(c, { reservationId: c, billing: { source: 'cdr', durationMs: 61_000, billedMinutes: 2, costMicroUsd: 20_000 } }), true);
      // Concurrent partial recording patches keep each other's fields.
      await Promise.all([
        calls.patchRecording(c, { started: true }),
        calls.patchRecording(c, { url: 'https://provider.example/r.mp3', legId: '428c31b6-7af4-4bcb-b7f5-5013ef9657c1' }),
        calls.patchRecording(c, { sha256: 'ab'.repeat(32), bytes: 1234, file: 'dep-a/x.mp3' }),
        calls.patchRecording(c, { discarded: 'recording turned off during the call' }),
      ]);
      const record = await calls.get(c);
      assert.equal(record?.reservationId, c);
      assert.deepEqual(record?.billing, { source: 'cdr', durationMs: 61_000, billedMinutes: 2, costMicroUsd: 20_000 });
      assert.deepEqual(record?.recording, {
        started: true,
        url: 'https://provider.example/r.mp3',
        file: 'dep-a/x.mp3',
        sha256: 'ab'.repeat(32),
        bytes: 1234,
        error: null,
        legId: '428c31b6-7af4-4bcb-b7f5-5013ef9657c1',
        discarded: 'recording turned off during the call',
      });
    });

    it("lists newest first, a deployment's own calls only, with a limit", async () => {
      const calls = await open();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const c = id();
        ids.push(c);
        await calls.lock(c, i % 2 === 0 ? 'dep-even' : 'dep-odd', inbound, { nowIso: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString() });
      }
      const unlocked = id();
      await calls.recordEvent(unlocked, outbound, { event_type: 'call.initiated', occurred_at: '2030-01-01T00:00:09.000Z' }, '2030-01-01T00:00:09.000Z');
      const all = (await calls.list()).map((r) => r.callControlId);
      assert.deepEqual(all.slice(0, 6), [unlocked, ...[...ids].reverse()]);
      assert.deepEqual((await calls.list({ deploymentId: 'dep-even' })).map((r) => r.callControlId), [ids[4], ids[2], ids[0]]);
      assert.deepEqual((await calls.list({ deploymentId: 'dep-odd', limit: 1 })).map((r) => r.callControlId), [ids[3]]);
      // Pages: newest first from an offset.
      assert.deepEqual((await calls.list({ deploymentId: 'dep-even', limit: 2, offset: 1 })).map((r) => r.callControlId), [ids[2], ids[0]]);
      assert.deepEqual((await calls.list({ deploymentId: 'dep-even', limit: 2, offset: 3 })).map((r) => r.callControlId), []);
    });

    it('indexes the ended calls of a deployment until billing is written on them (what a start resumes)', async () => {
      const calls = await open();
      const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s)).toISOString();
      const hangup = (c: string, facts: typeof inbound | typeof outbound, s: number) => calls.recordEvent(c, facts, { event_type: 'call.hangup', occurred_at: at(s) }, at(s));
      const [owned, unowned, dialled, live, later] = [id(), id(), id(), id(), id()];
      await calls.lock(owned, 'dep-a', inbound);
      await hangup(owned, inbound, 1);
      await hangup(owned, inbound, 9);
      await calls.lock(unowned, null, inbound);
      await hangup(unowned, inbound, 2);
      // An outgoing call's hang-up before its dial locked it: indexed when it is locked.
      await hangup(dialled, outbound, 3);
      assert.deepEqual(await calls.store.unsettled(10), [{ callControlId: owned, sinceMs: Date.parse(at(1)) }], 'owned and ended only, at its first hang-up');
      await calls.lock(dialled, 'dep-a', outbound, { nowIso: at(4), reservationId: 'dial-x' });
      await calls.lock(live, 'dep-a', inbound);
      await calls.recordEvent(live, inbound, { event_type: 'call.answered', occurred_at: at(5) }, at(5));
      await calls.lock(later, 'dep-b', inbound);
      await hangup(later, inbound, 6);
      const ids = async (limit: number, fromMs?: number) => (await calls.store.unsettled(limit, fromMs)).map((u) => u.callControlId);
      assert.deepEqual(await ids(10), [owned, dialled, later], 'oldest first');
      assert.deepEqual(await ids(2), [owned, dialled]);
      assert.deepEqual(await ids(10, Date.parse(at(4))), [dialled, later], 'from a time on, inclusive');
      await calls.patch(owned, { reservationId: owned });
      assert.deepEqual(await ids(10), [owned, dialled, later], 'only billing settles it');
      await calls.patch(owned, { billing: { source: 'cdr', durationMs: 1_000, billedMinutes: 1, costMicroUsd: 10_000 } });
      await calls.store.dropUnsettled(later);
      assert.deepEqual(await ids(10), [dialled]);
      await hangup(owned, inbound, 12);
      assert.deepEqual(await ids(10), [dialled], 'a late hang-up does not put a settled call back');
    });

    it('indexes a call the platform hung up, ended or not, until billing is written on it', async () => {
      const calls = await open();
      const at = (s: number) => new Date(Date.UTC(2030, 0, 2, 0, 0, s)).toISOString();
      const [hungUp, unowned, unknown, billed] = [id(), id(), id(), id()];
      await calls.lock(hungUp, 'dep-a', outbound, { nowIso: at(0), reservationId: 'dial-h' });
      await calls.lock(unowned, null, inbound);
      await calls.lock(billed, 'dep-a', inbound);
      await calls.patch(billed, { billing: { source: 'cdr', durationMs: 1_000, billedMinutes: 1, costMicroUsd: 10_000 } });
      for (const c of [hungUp, unowned, unknown, billed]) await calls.store.markHungUp(c, at(1));
      await calls.store.markHungUp(hungUp, at(2));
      assert.deepEqual(await calls.store.unsettled(10), [{ callControlId: hungUp, sinceMs: Date.parse(at(1)) }], 'owned and unbilled only, at its first mark');
      assert.equal((await calls.get(hungUp))?.state, 'initiated', 'the mark ends nothing');
      await calls.recordEvent(hungUp, outbound, { event_type: 'call.hangup', occurred_at: at(3) }, at(3));
      assert.deepEqual(await calls.store.unsettled(10), [{ callControlId: hungUp, sinceMs: Date.parse(at(1)) }], 'its hang-up event keeps the first time');
      await calls.patch(hungUp, { billing: { source: 'cdr', durationMs: 1_000, billedMinutes: 1, costMicroUsd: 10_000 } });
      assert.deepEqual(await calls.store.unsettled(10), []);
      await calls.store.markHungUp(hungUp, at(4));
      assert.deepEqual(await calls.store.unsettled(10), [], 'a settled call is not put back');
    });

    it('reads the records first seen in a time range, oldest first, at most a limit (the unowned-dials pass)', async () => {
      const calls = await open();
      const at = (s: number) => new Date(Date.UTC(2030, 0, 3, 0, 0, s)).toISOString();
      const [before, dialled, unlocked, inboundCall, after] = [id(), id(), id(), id(), id()];
      await calls.recordEvent(before, outbound, { event_type: 'call.initiated', occurred_at: at(0) }, at(0));
      await calls.lock(dialled, 'dep-a', outbound, { nowIso: at(2) });
      await calls.recordEvent(unlocked, outbound, { event_type: 'call.answered', occurred_at: at(3) }, at(3));
      await calls.recordEvent(inboundCall, inbound, { event_type: 'call.initiated', occurred_at: at(4) }, at(4));
      await calls.recordEvent(after, outbound, { event_type: 'call.initiated', occurred_at: at(9) }, at(9));
      const range = async (from: number, to: number, limit: number) =>
        (await calls.store.firstSeenBetween(Date.parse(at(from)), Date.parse(at(to)), limit)).map((r) => [r.callControlId, r.locked, r.state]);
      assert.deepEqual(await range(2, 4, 10), [[dialled, true, 'initiated'], [unlocked, false, 'answered'], [inboundCall, false, 'initiated']]);
      assert.deepEqual(await range(2, 4, 2), [[dialled, true, 'initiated'], [unlocked, false, 'answered']]);
      assert.deepEqual(await range(5, 8, 10), []);
    });

    it('stays bounded: never more than maxCalls, the newest kept', async () => {
      const calls = await open({ maxCalls: 3 });
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const c = id();
        ids.push(c);
        await calls.lock(c, 'dep-a', inbound, { nowIso: new Date(Date.now() + i).toISOString() });
        await calls.recordEvent(c, inbound, { event_type: 'call.hangup', occurred_at: new Date().toISOString() });
      }
      const listed = (await calls.list()).map((r) => r.callControlId);
      assert.deepEqual(listed, [ids[5], ids[4], ids[3]]);
      assert.deepEqual((await calls.list({ deploymentId: 'dep-a' })).map((r) => r.callControlId), [ids[5], ids[4], ids[3]]);
      assert.equal(await calls.get(ids[0]!), undefined);
    });
  });
}

suite('embedded', async () => ({
  // One process: a "twin" is the same store.
  store: (options) => new MemoryCallStore(options),
  twin: (store) => store,
  close: async () => undefined,
}));

suite('embedded, journaled to a state directory', async () => {
  const dirs = stateDirs();
  return {
    store: async (options) => new MemoryCallStore({ ...options, journal: await dirs.journal() }),
    twin: (store) => store,
    close: () => dirs.close(),
  };
});

it('the embedded store finds its unsettled calls again when its state directory is opened again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-unsettled-'));
  try {
    const journal = await StateJournal.open(dir);
    const first = new MemoryCallStore({ journal });
    const now = new Date().toISOString();
    await first.lock('v3:waiting', 'dep-a', inbound, now);
    await first.recordEvent('v3:waiting', inbound, { event_type: 'call.hangup', occurred_at: now }, now);
    await first.lock('v3:billed', 'dep-a', inbound, now);
    await first.recordEvent('v3:billed', inbound, { event_type: 'call.hangup', occurred_at: now }, now);
    await first.patch('v3:billed', { billing: { source: 'cdr', durationMs: 1_000, billedMinutes: 1, costMicroUsd: 10_000 } });
    // Hung up by the platform, no hang-up on the record: only the journaled mark shows it.
    const markedAt = new Date(Date.parse(now) - 5_000).toISOString();
    await first.lock('v3:hung-up', 'dep-a', outbound, markedAt);
    await first.markHungUp('v3:hung-up', markedAt);
    await first.lock('v3:hung-up-billed', 'dep-a', outbound, markedAt);
    await first.markHungUp('v3:hung-up-billed', markedAt);
    await first.patch('v3:hung-up-billed', { billing: { source: 'cdr', durationMs: 1_000, billedMinutes: 1, costMicroUsd: 10_000 } });
    await journal.close();
    const reopened = await StateJournal.open(dir);
    try {
      // Rebuilt from the records (at the call's end) and the marks (at the mark's time).
      assert.deepEqual(await new MemoryCallStore({ journal: reopened }).unsettled(10), [
        { callControlId: 'v3:hung-up', sinceMs: Date.parse(markedAt) },
        { callControlId: 'v3:waiting', sinceMs: Date.parse(now) },
      ]);
    } finally {
      await reopened.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const skip = redisUnavailable();
suite('redis', () => prefixedRedisStores((url, prefix, options) => new RedisCallStore({ url, prefix, ...options })), skip);
suite('redis cluster (three masters)', () => prefixedClusterStores((url, prefix, options) => new RedisCallStore({ url, prefix, ...options })), skip);

describe('redis call store: layout, retention and failure', { skip }, () => {
  const redisFx = useRedisServer();

  it('keeps every key in the {calls} hash tag with a TTL, and forgets index entries older than the retention', async () => {
    const store = new RedisCallStore({ url: redisFx.server.url, prefix: 'lay', retentionDays: 1 });
    await ready(store);
    try {
      const calls = new CallRegistry({ store });
      const old = 'v3:old';
      await calls.lock(old, 'dep-a', inbound, { nowIso: new Date(Date.now() - 2 * 86_400_000).toISOString() });
      await calls.recordEvent(old, inbound, { event_type: 'call.initiated', occurred_at: new Date().toISOString() });
      await calls.lock('v3:new', 'dep-a', inbound);
      const keys = (await redisFx.raw.keys('lay:*')).sort();
      assert.deepEqual(keys, [
        'lay:{calls}:call:v3:new', 'lay:{calls}:call:v3:old', 'lay:{calls}:call:v3:old:tl', 'lay:{calls}:dep:dep-a', 'lay:{calls}:index',
      ]);
      for (const key of keys.filter((k) => k.includes(':call:'))) {
        const ttl = await redisFx.raw.ttl(key);
        assert.ok(ttl > 86_000 && ttl <= 86_400, `${key} expires within the retention (${ttl} s)`);
      }
      // The new call's creation dropped the 2-day-old one from the history.
      assert.deepEqual((await calls.list()).map((r) => r.callControlId), ['v3:new']);
      assert.deepEqual((await calls.list({ deploymentId: 'dep-a' })).map((r) => r.callControlId), ['v3:new']);
      // The unsettled index shares the tag (its scripts change it with the record, in one slot).
      await calls.recordEvent('v3:new', inbound, { event_type: 'call.hangup', occurred_at: new Date().toISOString() });
      assert.deepEqual(await redisFx.raw.zrange('lay:{calls}:unsettled', '0', '-1'), ['v3:new']);
    } finally {
      await store.close();
    }
  });

  it('a second process on the same Redis sees the owner and the record (restart at the store level)', async () => {
    const first = new RedisCallStore({ url: redisFx.server.url, prefix: 'rst' });
    await ready(first);
    await first.lock('v3:kept', 'dep-a', inbound, new Date().toISOString());
    await first.recordEvent('v3:kept', inbound, { event_type: 'call.hangup', occurred_at: new Date().toISOString(), hangup_cause: 'normal_clearing' }, new Date().toISOString());
    await first.close();
    const second = new RedisCallStore({ url: redisFx.server.url, prefix: 'rst' });
    await ready(second);
    try {
      assert.deepEqual(await second.ownerOf('v3:kept'), { locked: true, deploymentId: 'dep-a' });
      assert.equal((await second.lock('v3:kept', 'dep-b', inbound, new Date().toISOString())).ok, false);
      assert.equal((await second.get('v3:kept'))?.hangupCause, 'normal_clearing');
    } finally {
      await second.close();
    }
  });

  it('fails fast with TTMA_ERR_STORE_UNAVAILABLE without a server', async () => {
    const [port] = (await freePorts(1)) as [number];
    const store = new RedisCallStore({ url: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      await assert.rejects(store.lock('v3:x', 'dep-a', inbound, new Date().toISOString()), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(store.ownerOf('v3:x'), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      await assert.rejects(store.list(), (err) => isTtmaError(err, 'TTMA_ERR_STORE_UNAVAILABLE'));
      assert.ok(Date.now() - started < 1_500, 'refusal is immediate, not queued');
    } finally {
      await store.close();
    }
  });
});
