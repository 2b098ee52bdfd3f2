/**
 * A platform stop (a deploy, a crash) while a call waits for its provider
 * record no longer loses the call: the next start finds it on the call
 * store's unsettled index and settles it, once, at the provider's billed
 * figure, with the record's window counted from the call's end. Real
 * simulator (its detail records filed `detailRecordDelayMs` after a call
 * ends, as Telnyx files them minutes later), gateway and platform processes'
 * worth of PlatformServer, on a real redis-server and on the embedded store
 * journaled to a state directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PlatformServer, type PlatformServerOptions } from '../../src/platform/PlatformServer.js';
import { lookTimes } from '../../src/platform/Settlement.js';
import type { CallReservation } from '../../src/platform/store/CapStore.js';
import { MemoryCapStore } from '../../src/platform/store/MemoryCapStore.js';
import { RedisCapStore } from '../../src/platform/store/RedisCapStore.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { capturingLogger } from './helpers.js';

const DEPLOYMENT = 'test';
/** The simulator files a call's record this long after it ends: the first platform stops before. */
const RECORD_DELAY_MS = 1_500;
/** Looks at 0, 60, 180... 2 700 ms: the record comes within the window. */
const CDR = { attempts: 10, backoffMs: 60 };
const SETTLED = 'call settled from the provider figure';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One platform process: its server and what it logged. */
interface Process {
  platform: PlatformServer;
  lines: string[];
}

/** A platform process on the stack's store (the options it was built with), logging to its own lines. */
async function startPlatform(stack: Stack, overrides: Partial<PlatformServerOptions> = {}): Promise<Process> {
  const { logger, lines } = capturingLogger();
  const platform = new PlatformServer({ ...stack.platformOptions, logger, ...overrides });
  await platform.start();
  return { platform, lines };
}

/** Settlement log lines: how many, and how many applied the figure (first). */
function settlements(processes: Process[], callId: string): { logged: number; first: number } {
  const lines = processes.flatMap((p) => p.lines).filter((l) => l.includes(SETTLED) && l.includes(callId));
  return { logged: lines.length, first: lines.filter((l) => l.includes('"first":true')).length };
}

/**
 * A call that ends while the platform runs; the platform stops while it waits for the call's
 * record (not filed yet). Resolves with the call's id and the units its record bills.
 */
async function endThenStop(stack: Stack, from: string): Promise<{ id: string; billedUnits: number; durationMs: number }> {
  const placed = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 1_200 });
  const report = await placed.done;
  await waitFor('the hang-up recorded', async () => (await stack.platform.calls.get(placed.id))?.state === 'ended', 5_000);
  await stack.platform.stop();
  const endedAt = Date.parse(report.cdr.ended_at ?? '');
  assert.ok(Date.now() - endedAt < RECORD_DELAY_MS, 'stopped before the record was filed');
  const record = await stack.platform.calls.get(placed.id).catch(() => undefined);
  if (record) assert.equal(record.billing, null, 'not settled before the stop');
  // The record's call_sec (whole seconds) is the billed figure; a minute a unit.
  const durationMs = Math.round(report.cdr.duration_ms / 1000) * 1000;
  return { id: placed.id, billedUnits: Math.ceil(durationMs / 60_000), durationMs };
}

describe('settlements resumed after a restart, on Redis', { skip: redisUnavailable() }, () => {
  /** A stack whose platform keeps its state on `server` (a fresh one per test: counters start at 0). */
  async function withStack(server: RedisServer, run: (stack: Stack, probe: RedisCapStore) => Promise<void>): Promise<void> {
    const stack = await startStack({ workers: 1 }, { signWith: 'node', sim: { detailRecordDelayMs: RECORD_DELAY_MS }, platform: { redisUrl: server.url, cdr: CDR } });
    // A store client of its own (as an operator's tool would be), outliving the platforms.
    const probe = new RedisCapStore({ url: server.url });
    try {
      await run(stack, probe);
    } finally {
      await probe.close();
      await stack.stop();
    }
  }

  async function withRedis(run: (server: RedisServer) => Promise<void>): Promise<void> {
    const server = await startRedisServer();
    try {
      await run(server);
    } finally {
      await server.stop();
    }
  }

  it('settles a call the stopped platform was waiting for, once, at the provider figure; a second restart does not settle it again', async () => {
    await withRedis((server) => withStack(server, async (stack, probe) => {
      const { id, billedUnits, durationMs } = await endThenStop(stack, '+15550700001');
      assert.equal((await probe.reservation(DEPLOYMENT, id))?.settled, false, 'still held after the stop');
      const second = await startPlatform(stack);
      try {
        // The log line comes last (after the record and the usage cross-check).
        await waitFor('settled by the new process', () => settlements([second], id).logged > 0, 8_000);
        assert.deepEqual((await second.platform.calls.get(id))?.billing, { source: 'cdr', durationMs, billedMinutes: billedUnits, costMicroUsd: billedUnits * 10_000 });
        assert.deepEqual(pickReservation(await probe.reservation(DEPLOYMENT, id)), { settled: true, billed: billedUnits });
        assert.deepEqual(await second.platform.caps.liveOf(DEPLOYMENT), [], 'no longer live');
        assert.deepEqual(await second.platform.caps.usage(DEPLOYMENT), { day: billedUnits, month: billedUnits }, 'counted at the billed figure');
        assert.equal((await second.platform.ledger.get(DEPLOYMENT, id))?.providerMs, durationMs, 'the usage cross-check has the figure');
        assert.deepEqual(settlements([second], id), { logged: 1, first: 1 });
        assert.ok(second.lines.some((l) => l.includes(SETTLED) && l.includes('"resumed":true')));
        assert.deepEqual(await second.platform.calls.store.unsettled(10), [], 'off the index');
      } finally {
        await second.platform.stop();
      }
      const third = await startPlatform(stack);
      try {
        await waitFor('the start pass', () => third.lines.some((l) => l.includes('unsettled calls resumed')), 5_000);
        await sleep(300);
        assert.deepEqual(settlements([third], id), { logged: 0, first: 0 }, 'nothing settled again');
        assert.deepEqual(await third.platform.caps.usage(DEPLOYMENT), { day: billedUnits, month: billedUnits });
        assert.deepEqual(pickReservation(await probe.reservation(DEPLOYMENT, id)), { settled: true, billed: billedUnits });
      } finally {
        await third.platform.stop();
      }
    }));
  });

  it('two processes starting at once settle it once', async () => {
    await withRedis((server) => withStack(server, async (stack, probe) => {
      const { id, billedUnits } = await endThenStop(stack, '+15550700002');
      const pair = await Promise.all([startPlatform(stack), startPlatform(stack, { port: 0 })]);
      try {
        await waitFor('settled', () => settlements(pair, id).first > 0, 8_000);
        // Both looked for the record; give the slower one time to finish its settlement too.
        await sleep(CDR.backoffMs * CDR.attempts + 500);
        assert.equal(settlements(pair, id).first, 1, 'one process applied the figure');
        assert.deepEqual(pickReservation(await probe.reservation(DEPLOYMENT, id)), { settled: true, billed: billedUnits });
        assert.deepEqual(await pair[1].platform.caps.usage(DEPLOYMENT), { day: billedUnits, month: billedUnits }, 'counted once');
        assert.equal((await pair[1].platform.calls.get(id))?.billing?.billedMinutes, billedUnits);
      } finally {
        await Promise.all(pair.map((p) => p.platform.stop()));
      }
    }));
  });

  it('Redis unreachable at start: the start does not wait for it, and the call is settled once Redis is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ttma-resume-redis-'));
    let own = await startRedisServer(undefined, { dataDir });
    try {
      await withStack(own, async (stack, probe) => {
        const { id, billedUnits } = await endThenStop(stack, '+15550700003');
        await own.stop();
        const startedAt = Date.now();
        const second = await startPlatform(stack, { settlementSweep: { retryMs: 200 } });
        try {
          // The stores' own wait for a first connection is 2 s; nothing more.
          assert.ok(Date.now() - startedAt < 4_000, `started in ${Date.now() - startedAt} ms`);
          await waitFor('the pass to fail', () => second.lines.some((l) => l.includes('unsettled calls could not be read')), 5_000);
          own = await startRedisServer(own.port, { dataDir });
          await waitFor('settled once Redis is back', () => settlements([second], id).logged > 0, 10_000);
          assert.deepEqual(pickReservation(await probe.reservation(DEPLOYMENT, id)), { settled: true, billed: billedUnits });
          assert.deepEqual(settlements([second], id), { logged: 1, first: 1 });
          assert.equal(second.lines.filter((l) => l.includes('unsettled calls could not be read')).length, 1, 'the outage logged once');
        } finally {
          await second.platform.stop();
        }
      });
    } finally {
      await own.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('settlements resumed after a restart, on the embedded store (state directory)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-resume-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The platform process of each step opens the journal, and closes it after it stopped. */
  async function journaled(stack: Stack, journal: StateJournal, overrides: Partial<PlatformServerOptions> = {}): Promise<Process> {
    return startPlatform(stack, { stateJournal: journal, ...overrides });
  }

  async function reservationIn(id: string): Promise<CallReservation | null> {
    const journal = await StateJournal.open(dir);
    try {
      return await new MemoryCapStore(journal).reservation(DEPLOYMENT, id);
    } finally {
      await journal.close();
    }
  }

  it('settles the call the stopped platform was waiting for, once, at the provider figure, and not again at the next start', async () => {
    let journal = await StateJournal.open(dir);
    const stack = await startStack({ workers: 1 }, { signWith: 'node', sim: { detailRecordDelayMs: RECORD_DELAY_MS }, platform: { stateJournal: journal, cdr: CDR } });
    try {
      const { id, billedUnits, durationMs } = await endThenStop(stack, '+15550700011');
      await journal.close();
      assert.equal((await reservationIn(id))?.settled, false, 'still held after the stop');

      journal = await StateJournal.open(dir);
      // Stopped whatever the checks do: a platform left listening keeps the file's process alive.
      const second = await journaled(stack, journal);
      try {
        // The log line comes last (after the record and the usage cross-check).
        await waitFor('settled by the new process', () => settlements([second], id).logged > 0, 8_000);
        assert.deepEqual((await second.platform.calls.get(id))?.billing, { source: 'cdr', durationMs, billedMinutes: billedUnits, costMicroUsd: billedUnits * 10_000 });
        assert.deepEqual(await second.platform.caps.liveOf(DEPLOYMENT), []);
        assert.deepEqual(await second.platform.caps.usage(DEPLOYMENT), { day: billedUnits, month: billedUnits });
        assert.equal((await second.platform.ledger.get(DEPLOYMENT, id))?.providerMs, durationMs);
        assert.deepEqual(settlements([second], id), { logged: 1, first: 1 });
      } finally {
        await second.platform.stop();
      }
      await journal.close();
      assert.deepEqual(pickReservation(await reservationIn(id)), { settled: true, billed: billedUnits });

      journal = await StateJournal.open(dir);
      const third = await journaled(stack, journal);
      try {
        await waitFor('the start pass', () => third.lines.some((l) => l.includes('unsettled calls resumed')), 5_000);
        await sleep(300);
        assert.deepEqual(settlements([third], id), { logged: 0, first: 0 }, 'nothing settled again');
        assert.deepEqual(await third.platform.calls.store.unsettled(10), []);
        assert.deepEqual(await third.platform.caps.usage(DEPLOYMENT), { day: billedUnits, month: billedUnits });
      } finally {
        await third.platform.stop();
      }
    } finally {
      await stack.stop();
      await journal.close();
    }
  });

  it('a call whose window ran out while no platform ran gets one look, then its webhooks\' figure', async () => {
    const own = await mkdtemp(join(tmpdir(), 'ttma-resume-late-'));
    let journal = await StateJournal.open(own);
    // Looks at 0, 400 and 1 200 ms; the record is filed after ten minutes (never, here).
    const cdr = { attempts: 3, backoffMs: 400 };
    const stack = await startStack({ workers: 1 }, { signWith: 'node', sim: { detailRecordDelayMs: 600_000 }, platform: { stateJournal: journal, cdr } });
    try {
      const placed = stack.sim.placeInboundCall({ from: '+15550700012', to: NUMBER, durationMs: 1_200 });
      const report = await placed.done;
      await waitFor('the hang-up recorded', async () => (await stack.platform.calls.get(placed.id))?.state === 'ended', 5_000);
      await stack.platform.stop();
      await journal.close();
      // Past the window, counted from the call's end.
      await sleep(Math.max(0, Date.parse(report.cdr.ended_at ?? '') + 1_500 - Date.now()));
      journal = await StateJournal.open(own);
      const startedAt = Date.now();
      const next = await startPlatform(stack, { stateJournal: journal });
      try {
        await waitFor('settled', () => settlements([next], placed.id).logged > 0, 5_000);
        // One look, not the window again (1.2 s).
        assert.ok(Date.now() - startedAt < 1_000, `settled ${Date.now() - startedAt} ms after the start`);
        assert.equal((await next.platform.calls.get(placed.id))?.billing?.source, 'webhooks');
        assert.ok(next.lines.some((l) => l.includes('no final call detail record from the provider') && l.includes(placed.id)));
      } finally {
        await next.platform.stop();
      }
    } finally {
      await stack.stop();
      await journal.close();
      await rm(own, { recursive: true, force: true });
    }
  });
});

it('resumed, the look for the record goes on from where its window is', () => {
  assert.deepEqual(lookTimes(5, 100), [0, 100, 300, 600, 1_000], 'from the start: the usual schedule');
  assert.deepEqual(lookTimes(5, 100, 350), [0, 250, 650], 'one look now, then those still ahead');
  assert.deepEqual(lookTimes(5, 100, 5_000), [0], 'past the window: one look');
});

function pickReservation(reservation: CallReservation | null): { settled: boolean; billed: number | null } | null {
  return reservation ? { settled: reservation.settled, billed: reservation.billed } : null;
}
