/**
 * The live call audit's own rules (the end-to-end cases, with a fake
 * provider and both stores, are in caps.test.ts): which call a reservation
 * is for after a restart, how often the records are scanned for it, and
 * that only a clear `is_alive: false` settles anything.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TtmaError, ErrorCodes } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import { LiveCallAudit } from '../../src/platform/LiveCallAudit.js';
import type { ProviderCall } from '../../src/platform/ProviderClient.js';
import { ReservationCalls } from '../../src/platform/ReservationCalls.js';

const FACTS = { direction: 'outgoing' as const, from: '+15551230001', to: '+15557654321' };

function setup(status: (callId: string) => Promise<Partial<ProviderCall>>, finalRecord = true) {
  const calls = new CallRegistry();
  /** What the cap store holds per reservation (units, settled), and the give-backs asked for. */
  const held = new Map<string, { reserved: number; settled: boolean }>();
  const withdrawn: string[] = [];
  const reservations = new ReservationCalls();
  const asked: string[] = [];
  const settled: string[] = [];
  const recordReads: Array<number | undefined> = [];
  let lists = 0;
  let now = 0;
  const listing = calls.list.bind(calls);
  calls.list = (scope) => {
    lists += 1;
    return listing(scope);
  };
  const audit = new LiveCallAudit({
    provider: {
      async getCall(callId: string) {
        asked.push(callId);
        return { call_control_id: callId, is_alive: null, ...(await status(callId)) };
      },
    },
    calls,
    settlement: {
      async onUnreportedEnd(callId: string, cdrAttempts?: number) {
        recordReads.push(cdrAttempts);
        if (finalRecord) settled.push(callId);
        return finalRecord;
      },
    },
    reservations,
    caps: {
      unitMs: 60_000,
      async reservation(_deploymentId: string, reservationId: string) {
        const h = held.get(reservationId);
        return h ? { ...h, billed: null } : null;
      },
      async withdraw(_deploymentId: string, reservationId: string) {
        withdrawn.push(reservationId);
        held.set(reservationId, { reserved: held.get(reservationId)?.reserved ?? 0, settled: true });
      },
    },
    logger: createLogger('test', 'silent'),
    scanEveryMs: 1_000,
    now: () => now,
  });
  return { calls, reservations, audit, asked, settled, recordReads, held, withdrawn, lists: () => lists, tick: (ms: number) => (now += ms) };
}

describe('LiveCallAudit', () => {
  it('settles only on a clear is_alive false', async () => {
    const answers: Array<() => Promise<Partial<ProviderCall>>> = [
      async () => ({ is_alive: true }),
      async () => ({ is_alive: null }),
      async () => {
        throw new TtmaError(ErrorCodes.PROVIDER, 'provider unavailable', 502);
      },
      async () => ({ is_alive: false }),
    ];
    let i = 0;
    const t = setup(() => answers[i++]!());
    for (let k = 0; k < answers.length; k++) {
      await t.audit.check('dep-a', 'v3:in-1');
      t.tick(60_000); // past the pause a failed answer starts
    }
    assert.deepEqual(t.asked, ['v3:in-1', 'v3:in-1', 'v3:in-1', 'v3:in-1']);
    assert.deepEqual(t.settled, ['v3:in-1']);
  });

  it('pauses every check for a while when the provider fails or rate-limits one, but not for a 404', async () => {
    let answer: () => Promise<Partial<ProviderCall>> = async () => {
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider get call failed after 3 attempts: HTTP 429 (10011)', 502);
    };
    const t = setup(() => answer());
    await t.audit.check('dep-a', 'v3:in-1');
    await t.audit.check('dep-a', 'v3:in-2');
    t.tick(59_999);
    await t.audit.check('dep-a', 'v3:in-3');
    assert.deepEqual(t.asked, ['v3:in-1'], 'paused after the failure');
    t.tick(1);
    answer = async () => {
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider get call refused: HTTP 404 (90015)', 404);
    };
    await t.audit.check('dep-a', 'v3:in-4');
    await t.audit.check('dep-a', 'v3:in-5');
    assert.deepEqual(t.asked, ['v3:in-1', 'v3:in-4', 'v3:in-5'], 'a 404 pauses nothing');
    assert.deepEqual(t.settled, ['v3:in-4', 'v3:in-5'], 'a 404 looks at the call record, which here is final');
    assert.deepEqual(t.recordReads, [1, 1], 'once each');
  });

  it('a 404 without a final call record settles nothing', async () => {
    const t = setup(async () => {
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider get call refused: HTTP 404 (90015)', 404);
    }, false);
    await t.audit.check('dep-a', 'v3:in-1');
    t.tick(60_000);
    await t.audit.check('dep-a', 'v3:in-1');
    assert.deepEqual(t.recordReads, [1, 1], 'the record is read at each check');
    assert.deepEqual(t.settled, []);
  });

  it("finds a dial placed before a restart in the records, scanning a deployment at most once an interval", async () => {
    const t = setup(async () => ({ is_alive: false }));
    // Locked before the store kept reservation entries: only the records name these dials' calls.
    t.calls.callOfReservation = async () => null;
    await t.calls.lock('v3:out-1', 'dep-a', FACTS, { reservationId: 'dial-one' });
    await t.calls.lock('v3:out-2', 'dep-a', FACTS, { reservationId: 'dial-two' });
    await t.calls.lock('v3:out-3', 'dep-a', FACTS, { reservationId: 'dial-three' });
    await t.calls.recordEvent('v3:out-3', FACTS, { event_type: 'call.hangup', occurred_at: new Date().toISOString() });
    await t.audit.check('dep-a', 'dial-one');
    assert.equal(t.lists(), 1);
    assert.deepEqual(t.settled, ['v3:out-1']);
    // The same scan found the other live dial; an ended one is not picked up.
    assert.equal(t.reservations.callOf('dial-two'), 'v3:out-2');
    assert.equal(t.reservations.callOf('dial-three'), undefined);
    await t.audit.check('dep-a', 'dial-two');
    assert.equal(t.lists(), 1);
    // Unknown and the interval not over: no scan, no question to the provider.
    await t.audit.check('dep-a', 'dial-unknown');
    assert.equal(t.lists(), 1);
    assert.deepEqual(t.asked, ['v3:out-1', 'v3:out-2']);
    t.tick(1_000);
    await t.audit.check('dep-a', 'dial-unknown');
    assert.equal(t.lists(), 2);
    assert.deepEqual(t.asked, ['v3:out-1', 'v3:out-2']);
  });

  it('asks once at a time per call', async () => {
    let release: () => void = () => undefined;
    const t = setup(() => new Promise((resolve) => (release = () => resolve({ is_alive: false }))));
    const first = t.audit.check('dep-a', 'v3:in-9');
    await t.audit.check('dep-a', 'v3:in-9');
    release();
    await first;
    assert.deepEqual(t.asked, ['v3:in-9']);
    assert.deepEqual(t.settled, ['v3:in-9']);
  });

  it('gives back, once, a dial reservation no call was locked with, once it is past the grace (2 min)', async () => {
    const t = setup(async () => ({ is_alive: true }));
    // Admitted, then topped up once: a unit old. The dial may still be on its way to the lock.
    t.held.set('dial-dead', { reserved: 2, settled: false });
    await t.audit.check('dep-a', 'dial-dead');
    assert.deepEqual(t.withdrawn, []);
    t.held.set('dial-dead', { reserved: 3, settled: false });
    t.tick(1_000);
    await t.audit.check('dep-a', 'dial-dead');
    assert.deepEqual(t.withdrawn, ['dial-dead']);
    // Settled now: nothing more, whichever process looks.
    await t.audit.check('dep-a', 'dial-dead');
    assert.deepEqual(t.withdrawn, ['dial-dead']);
    assert.deepEqual(t.asked, [], 'no call to ask the provider about');
  });

  it('never gives back a dial reservation a call was locked with (by another process), nor an answered call\'s', async () => {
    const t = setup(async () => ({ is_alive: true }));
    await t.calls.lock('v3:out-7', 'dep-a', FACTS, { reservationId: 'dial-7' });
    t.held.set('dial-7', { reserved: 30, settled: false });
    t.held.set('v3:in-5', { reserved: 30, settled: false });
    await t.audit.check('dep-a', 'dial-7');
    await t.audit.check('dep-a', 'v3:in-5');
    assert.deepEqual(t.withdrawn, []);
    assert.deepEqual(t.asked, ['v3:out-7', 'v3:in-5']);
    assert.equal(t.reservations.callOf('dial-7'), 'v3:out-7');
  });
});

describe('ReservationCalls', () => {
  it('forgets a call both ways, and never another reservation of the same call', () => {
    const r = new ReservationCalls();
    r.set('dial-a', 'v3:x');
    r.set('dial-b', 'v3:x'); // the provider reused an id: dial-b now owns the reverse entry
    r.forgetReservation('dial-a');
    assert.equal(r.callOf('dial-b'), 'v3:x');
    r.forgetCall('v3:x');
    assert.equal(r.callOf('dial-b'), undefined);
    assert.equal(r.size, 0);
  });

  it('stays bounded', () => {
    const r = new ReservationCalls();
    for (let i = 0; i < 100_005; i++) r.set(`dial-${i}`, `v3:${i}`);
    assert.equal(r.size, 100_000);
    assert.equal(r.callOf('dial-0'), undefined);
    assert.equal(r.callOf('dial-100004'), 'v3:100004');
  });
});
