/**
 * A platform restart on the same Redis forgets nothing that matters
 * (FAQ-13): deployments created through the operator API still
 * authenticate, the history still lists the calls with their owners and
 * billed figures, and a call stays locked to its owner; another deployment
 * is refused with the same code before and after, and a later webhook
 * cannot move the call. Two platform processes on one Redis cannot give one
 * number to two deployments, however close together the claims come. The
 * usage cross-check compares a report and a settlement on either side of a
 * restart (FAQ-14), and billing stays on the provider's figure. The same
 * two checks run on the embedded store journaled to a state directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { RedisCapStore } from '../../src/platform/store/RedisCapStore.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, signedHeaders, startHarness, type Harness, waitFor } from './helpers.js';

const A = { id: 'keep-a', numbers: ['+15551410001'], tunnelHost: 'keep-a.trycloudflare.com' };
const B = { id: 'keep-b', numbers: ['+15551410002'], tunnelHost: 'keep-b.trycloudflare.com' };
const CALLER = '+15550001111';

const skip = redisUnavailable();

describe('platform restart on the same Redis', { skip }, () => {
  let redis: RedisServer;
  const harnesses: Harness[] = [];
  const open = async (): Promise<Harness> => {
    const h = await startHarness({ redisUrl: redis.url, cdr: { attempts: 3, backoffMs: 20 } });
    harnesses.push(h);
    return h;
  };
  const retire = async (h: Harness): Promise<void> => {
    await h.close();
    harnesses.splice(harnesses.indexOf(h), 1);
  };
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    for (const h of harnesses) await h.close();
    await redis?.stop();
  });

  keepsStateAcrossRestart({ open, retire });

  it('keeps at most callRetention.maxCalls records in Redis, the newest', async () => {
    const h = await startHarness({ redisUrl: redis.url, callRetention: { maxCalls: 2, days: 1 } });
    harnesses.push(h);
    const ids = ['v3:ret-1', 'v3:ret-2', 'v3:ret-3'];
    for (const id of ids) {
      await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: CALLER, to: '+15551419000', direction: 'incoming' }));
      await new Promise((r) => setTimeout(r, 5));
    }
    const history = await call(h.base, 'GET', '/v1/admin/history.json', { headers: adminHeaders() });
    // The bound is global: the first test's calls in this Redis were trimmed too.
    assert.equal(history.body.total, 2);
    assert.deepEqual(history.body.calls.map((c: { call_control_id: string }) => c.call_control_id), ['v3:ret-3', 'v3:ret-2']);
    assert.equal(await h.platform.calls.get('v3:ret-1'), undefined);
  });

  it("refuses a usage report with 503 while Redis is away, even for a call and deployment this process knows", async () => {
    const own = await startRedisServer();
    try {
      const h = await startHarness({ redisUrl: own.url });
      harnesses.push(h);
      const W = { id: 'keep-w', numbers: ['+15551410004'], tunnelHost: 'keep-w.trycloudflare.com' };
      const headers = agentHeaders(W.id, (await h.platform.deployments.register(W)).agentSecret);
      const dial = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
        headers,
        body: { to: '+15557654321', stream_url: `wss://${W.tunnelHost}/v1/media/usage-away`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(dial.status, 200, JSON.stringify(dial.body));
      const id = dial.body.call_control_id as string;
      await own.kill();
      // Authentication and ownership are served from this process's caches; the ledger write is not.
      const refused = await call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(id)}/usage`, { headers, body: { duration_ms: 5_000 } });
      assert.deepEqual([refused.status, refused.body.error?.code], [503, 'TTMA_ERR_STORE_UNAVAILABLE']);
      assert.equal((await call(h.base, 'GET', '/readyz')).status, 503);
    } finally {
      // A failure before the kill must not leave the server running (the file's process would wait for it).
      await own.stop();
    }
  });

  it('refuses provider webhooks with 503 while Redis is away, and takes the same event when the provider retries', async () => {
    // Kept on disk: a Redis back without its data is a wipe, which the platform reports (redisDataLoss.test.ts).
    const dataDir = await mkdtemp(join(tmpdir(), 'ttma-redis-'));
    const own = await startRedisServer(undefined, { dataDir });
    const h = await startHarness({ redisUrl: own.url });
    harnesses.push(h);
    try {
      const body = envelope('call.initiated', { call_control_id: 'v3:while-away', from: CALLER, to: '+15551419001', direction: 'incoming' });
      await own.kill();
      const refused = await postWebhook(h, body);
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'TTMA_ERR_STORE_UNAVAILABLE');
      // The retry is not mistaken for a replay: still 503 while away...
      assert.equal((await postWebhook(h, body)).status, 503);
      // ...and recorded once Redis is back (started again on the same port and data).
      const back = await startRedisServer(own.port, { dataDir });
      try {
        await waitFor('the platform to reconnect', async () => (await call(h.base, 'GET', '/readyz')).status === 200, 10_000);
        const accepted = await postWebhook(h, body);
        assert.deepEqual([accepted.status, accepted.body], [200, { ok: true }]);
        assert.deepEqual(await h.platform.calls.ownerOf('v3:while-away'), { locked: true, deploymentId: null });
        assert.equal((await postWebhook(h, body)).body.duplicate, true, 'a real replay is still refused');
      } finally {
        await back.stop();
      }
    } finally {
      await own.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a rotation or disable through one platform closes the control connections held by another', async () => {
    const [p1, p2] = await Promise.all([open(), open()]);
    const D = { id: 'keep-ctl', numbers: ['+15551418888'], tunnelHost: 'keep-ctl.trycloudflare.com' };
    const created = await call(p1.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201);
    const connect = (secret: string) =>
      new Promise<{ ws: WebSocket; closed: Promise<number> }>((resolve, reject) => {
        const ws = new WebSocket(`${p2.base.replace(/^http/, 'ws')}/v1/control`, { headers: agentHeaders(D.id, secret) });
        const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
        ws.once('message', () => resolve({ ws, closed }));
        ws.once('error', reject);
      });
    const first = await connect(created.body.agentSecret as string);
    // A change that keeps the identity (caps) leaves the connection open.
    assert.equal((await call(p1.base, 'PATCH', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 5 } } })).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(first.ws.readyState, WebSocket.OPEN);
    const rotated = await call(p1.base, 'POST', `/v1/admin/deployments/${D.id}/rotate-secret`, { headers: adminHeaders(), body: {} });
    assert.equal(rotated.status, 200);
    assert.equal(await withinMs(first.closed, 2_000), 4401);
    const second = await connect(rotated.body.agentSecret as string);
    assert.equal((await call(p1.base, 'POST', `/v1/admin/deployments/${D.id}/disable`, { headers: adminHeaders(), body: {} })).status, 200);
    assert.equal(await withinMs(second.closed, 2_000), 4401);
  });

  it('a call live across a restart keeps being topped up by the new processes, once per unit, and settles exactly once', async () => {
    const UNIT = 300;
    const own = await startRedisServer();
    const opened: Harness[] = [];
    const start = async () => {
      const h = await startHarness({ redisUrl: own.url, capUnitMs: UNIT, capGoodbyeMs: 0, cdr: { attempts: 3, backoffMs: 20 } });
      opened.push(h);
      return h;
    };
    try {
      const L = { id: 'keep-live', numbers: ['+15551410005'], tunnelHost: 'keep-live.trycloudflare.com', caps: { dayMinutes: 100, monthMinutes: 1000 } };
      const first = await start();
      const headers = agentHeaders(L.id, (await first.platform.deployments.register(L)).agentSecret);
      const admittedAt = Date.now();
      const dial = await call(first.base, 'POST', PLATFORM_PATHS.dial, {
        headers,
        body: { to: '+15557654321', stream_url: `wss://${L.tunnelHost}/v1/media/live-restart`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(dial.status, 200, JSON.stringify(dial.body));
      const id = dial.body.call_control_id as string;
      const reservationId = (await first.platform.calls.get(id))!.reservationId!;
      // A store client of its own (as an operator's tool would be), outliving the platforms.
      const probe = new RedisCapStore({ url: own.url });
      const reserved = async () => (await probe.reservation(L.id, reservationId))?.reserved ?? 0;
      try {
        await waitFor('a top-up by the first process', async () => (await reserved()) >= 2);
        await first.close();
        const atStop = await reserved();
        await new Promise((r) => setTimeout(r, 2 * UNIT));
        assert.equal(await reserved(), atStop, 'nobody tops up while no platform runs');
        // Two processes from now on: the call is topped up once per unit, not once per process.
        const [second, third] = [await start(), await start()];
        await new Promise((r) => setTimeout(r, 6 * UNIT));
        const elapsedUnits = (Date.now() - admittedAt) / UNIT;
        const now = await reserved();
        assert.ok(now > atStop, `topped up after the restart (${atStop} -> ${now})`);
        // One unit at admission, then one per unit elapsed (a pass may be a quarter unit late); two processes
        // each topping up would give nearly twice that.
        assert.ok(now <= Math.floor(elapsedUnits) + 1 && now >= Math.floor(elapsedUnits) - 1, `reserved ${now} after ${elapsedUnits.toFixed(2)} units`);
        assert.deepEqual(await second.platform.caps.liveOf(L.id), [reservationId]);

        // The provider ends it: 1 s is 4 units. Settled once, by whichever process takes the webhook.
        for (const h of [second, third]) h.provider.calls.set(id, { direction: 'outgoing', from: L.numbers[0]!, to: '+15557654321', alive: false, durationMs: 1_000 });
        const hangup = envelope('call.hangup', { call_control_id: id, from: L.numbers[0]!, to: '+15557654321', direction: 'outgoing', hangup_cause: 'normal_clearing' });
        assert.deepEqual((await postWebhook(second, hangup)).body, { ok: true });
        // The same event delivered to the other process is a duplicate there too (the replay window is in Redis).
        const again = await call(third.base, 'POST', '/v1/provider/webhooks', { raw: hangup, headers: signedHeadersFor(third, hangup) });
        assert.deepEqual(again.body, { ok: true, duplicate: true });
        await waitFor('settled', async () => (await probe.reservation(L.id, reservationId))?.settled === true);
        const settledAt = await probe.reservation(L.id, reservationId);
        assert.equal(settledAt?.billed, 4);
        assert.deepEqual(await third.platform.caps.liveOf(L.id), [], 'no longer live');
        assert.deepEqual(await third.platform.caps.usage(L.id), { day: 4, month: 4 }, 'counted at the billed figure, once');
        await new Promise((r) => setTimeout(r, 3 * UNIT));
        assert.deepEqual(await probe.reservation(L.id, reservationId), settledAt, 'no top-up after settlement');
        assert.deepEqual(await third.platform.caps.usage(L.id), { day: 4, month: 4 });
      } finally {
        await probe.close();
      }
    } finally {
      for (const h of opened) await h.close();
      await own.stop();
    }
  });

  it('gives a contested number to one deployment when two platforms are asked at once', async () => {
    const [p1, p2] = await Promise.all([open(), open()]);
    const number = '+15551419999';
    for (let round = 0; round < 5; round++) {
      const claims = [p1, p2].map((p, i) =>
        call(p.base, 'POST', '/v1/admin/deployments', {
          headers: adminHeaders(),
          body: { id: `race-${round}-${i}`, numbers: [`+1555142${round}00${i}`, `${number.slice(0, -1)}${round}`], tunnelHost: `race${round}-${i}.trycloudflare.com` },
        }),
      );
      const results = await Promise.all(claims);
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 409], `round ${round}`);
      assert.equal(results.find((r) => r.status === 409)!.body.error.code, 'TTMA_ERR_CONFLICT');
      const winner = results.findIndex((r) => r.status === 201);
      const owner = await p2.platform.deployments.findByNumber(`${number.slice(0, -1)}${round}`);
      assert.equal(owner?.id, `race-${round}-${winner}`);
      // The loser left nothing behind.
      assert.equal(await p1.platform.deployments.get(`race-${round}-${1 - winner}`), undefined);
    }
  });
});

/** A platform process on the backend's store, and its stop (the next `open` is the restart). */
interface Backend {
  open(): Promise<Harness>;
  retire(h: Harness): Promise<void>;
}

/** What a persistent store keeps across a restart, whichever it is: Redis, or the embedded store's state directory. */
function keepsStateAcrossRestart(backend: Backend): void {
  it('keeps deployments, call owners and the history across a restart', async () => {
    const first = await backend.open();
    const created = await Promise.all([A, B].map((d) => call(first.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: d })));
    assert.deepEqual(created.map((r) => r.status), [201, 201]);
    const secretA = created[0]!.body.agentSecret as string;
    const secretB = created[1]!.body.agentSecret as string;

    // An inbound call to A, locked by the dialled number from the provider's webhook.
    const inbound = 'v3:restart-inbound';
    const inFacts = { call_control_id: inbound, from: CALLER, to: A.numbers[0]!, direction: 'incoming' as const };
    assert.equal((await postWebhook(first, envelope('call.initiated', inFacts))).status, 200);
    const stolenBefore = await call(first.base, 'POST', PLATFORM_PATHS.hangup(inbound), { headers: agentHeaders(B.id, secretB), body: {} });
    assert.equal(stolenBefore.status, 403);

    // An outbound call by B, dialled through the platform, ended and settled from the provider's record.
    const dial = await call(first.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(B.id, secretB),
      body: { to: '+15557654321', stream_url: `wss://${B.tunnelHost}/v1/media/out-restart1`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dial.status, 200, JSON.stringify(dial.body));
    const outbound = dial.body.call_control_id as string;
    const fake = first.provider.calls.get(outbound)!;
    fake.alive = false;
    fake.durationMs = 61_000;
    const outFacts = { call_control_id: outbound, from: fake.from, to: fake.to, direction: 'outgoing' as const };
    await postWebhook(first, envelope('call.hangup', { ...outFacts, hangup_cause: 'normal_clearing' }));
    await waitFor('outbound settled', async () => Boolean((await first.platform.calls.get(outbound))?.billing));

    await backend.retire(first);

    const second = await backend.open();
    // Deployments authenticate with the secrets issued by the first process; a wrong one is still refused.
    assert.equal((await call(second.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(A.id, secretA) })).status, 200);
    assert.equal((await call(second.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(B.id, secretB) })).status, 200);
    assert.equal((await call(second.base, 'GET', PLATFORM_PATHS.usage, { headers: agentHeaders(A.id, secretB) })).body.error.code, 'TTMA_ERR_AUTH');
    const listed = await call(second.base, 'GET', '/v1/admin/deployments', { headers: adminHeaders() });
    assert.deepEqual(listed.body.deployments.map((d: { id: string }) => d.id), [A.id, B.id]);

    // The history lists both calls with their owners and the billed figure.
    const history = await call(second.base, 'GET', '/v1/admin/history.json', { headers: adminHeaders() });
    assert.equal(history.status, 200);
    const byId = new Map(history.body.calls.map((c: { call_control_id: string }) => [c.call_control_id, c]));
    assert.equal(history.body.total, 2);
    assert.deepEqual(pick(byId.get(inbound), ['deployment_id', 'direction', 'from', 'to', 'state']), { deployment_id: A.id, direction: 'incoming', from: CALLER, to: A.numbers[0], state: 'initiated' });
    assert.deepEqual(pick(byId.get(outbound), ['deployment_id', 'direction', 'state', 'hangup_cause', 'billed_minutes', 'cost_usd']), {
      deployment_id: B.id, direction: 'outgoing', state: 'ended', hangup_cause: 'normal_clearing', billed_minutes: 2, cost_usd: '0.0200',
    });
    // B's gateway view (`ttma calls --source platform`) survives too.
    const own = await call(second.base, 'GET', '/v1/signal/calls?limit=10', { headers: agentHeaders(B.id, secretB) });
    assert.deepEqual(own.body.calls.map((c: { call_control_id: string }) => c.call_control_id), [outbound]);

    // The call stays A's: B is refused with the same answer as before the restart...
    const stolenAfter = await call(second.base, 'POST', PLATFORM_PATHS.hangup(inbound), { headers: agentHeaders(B.id, secretB), body: {} });
    assert.deepEqual([stolenAfter.status, stolenAfter.body], [stolenBefore.status, stolenBefore.body]);
    assert.equal(stolenAfter.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');
    // ...also after a signed event that names B's number as the called party,
    assert.equal((await postWebhook(second, envelope('call.answered', { ...inFacts, to: B.numbers[0]! }))).status, 200);
    assert.equal((await second.platform.calls.ownerOf(inbound))?.deploymentId, A.id);
    assert.equal((await call(second.base, 'POST', PLATFORM_PATHS.hangup(inbound), { headers: agentHeaders(B.id, secretB), body: {} })).status, 403);
    // ...while A still controls it (the new process's provider knows the live call).
    second.provider.calls.set(inbound, { direction: 'incoming', from: CALLER, to: A.numbers[0]!, alive: true });
    const hangup = await call(second.base, 'POST', PLATFORM_PATHS.hangup(inbound), { headers: agentHeaders(A.id, secretA), body: {} });
    assert.equal(hangup.status, 200, JSON.stringify(hangup.body));
    assert.equal(second.provider.commands('hangup').length, 1, 'only the owner reached the provider');
  });

  it('compares a usage report with a settlement across a restart, in either order, and bills a tampered report from the provider figure', async () => {
    const U = { id: 'keep-u', numbers: ['+15551410003'], tunnelHost: 'keep-u.trycloudflare.com' };
    const first = await backend.open();
    const created = await call(first.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: U });
    assert.equal(created.status, 201);
    const headers = agentHeaders(U.id, created.body.agentSecret as string);
    const dial = async (h: Harness, n: number): Promise<string> => {
      const r = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
        headers,
        body: { to: '+15557654321', stream_url: `wss://${U.tunnelHost}/v1/media/usage-restart${n}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.call_control_id as string;
    };
    const report = (h: Harness, id: string, ms: number) => call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(id)}/usage`, { headers, body: { duration_ms: ms } });
    const hangupEvent = (id: string) => envelope('call.hangup', { call_control_id: id, from: U.numbers[0]!, to: '+15557654321', direction: 'outgoing', hangup_cause: 'normal_clearing' });

    // Reported before the restart, settled after: a tampered report (1 s for a 61 s call).
    const reportedFirst = await dial(first, 1);
    assert.deepEqual((await report(first, reportedFirst, 1_000)).body.flags, [], 'nothing to compare yet');
    // Settled before the restart, reported after: an honest report (30.0 s for 30.5 s).
    const settledFirst = await dial(first, 2);
    Object.assign(first.provider.calls.get(settledFirst)!, { alive: false, durationMs: 30_500 });
    await postWebhook(first, hangupEvent(settledFirst));
    await waitFor('settled before the restart', async () => Boolean((await first.platform.calls.get(settledFirst))?.billing));
    await waitFor('the provider figure in the ledger', async () => (await first.platform.ledger.get(U.id, settledFirst))?.providerMs === 30_500);
    // Settled before the restart, tampered report after (1 s for 45 s).
    const tamperedLate = await dial(first, 3);
    Object.assign(first.provider.calls.get(tamperedLate)!, { alive: false, durationMs: 45_000 });
    await postWebhook(first, hangupEvent(tamperedLate));
    await waitFor('the third settled', async () => (await first.platform.ledger.get(U.id, tamperedLate))?.providerMs === 45_000);

    await backend.retire(first);
    const second = await backend.open();

    const honest = await report(second, settledFirst, 30_000);
    assert.deepEqual([honest.status, honest.body.flags], [200, []], 'compared with the figure settled before the restart: agrees');
    assert.deepEqual(pick(await second.platform.ledger.get(U.id, settledFirst), ['providerMs', 'gatewayMs', 'flags']), { providerMs: 30_500, gatewayMs: 30_000, flags: [] });
    const lie = await report(second, tamperedLate, 1_000);
    assert.deepEqual([lie.status, lie.body.flags], [200, ['duration_mismatch']], 'compared with the figure settled before the restart: flagged');

    second.provider.calls.set(reportedFirst, { direction: 'outgoing', from: U.numbers[0]!, to: '+15557654321', alive: false, durationMs: 61_000 });
    await postWebhook(second, hangupEvent(reportedFirst));
    await waitFor('settled after the restart', async () => Boolean((await second.platform.calls.get(reportedFirst))?.billing));
    await waitFor('the comparison', async () => (await second.platform.ledger.get(U.id, reportedFirst))?.providerMs === 61_000);
    // A "correction" after the restart cannot revise the report made before it.
    const corrected = await report(second, reportedFirst, 61_000);
    assert.deepEqual([corrected.status, corrected.body.flags], [200, ['duration_mismatch']]);

    // Billing and caps from the provider's figures only: 61 s is 2 minutes, 30.5 s and 45 s 1 each.
    assert.deepEqual((await second.platform.calls.get(reportedFirst))?.billing, { source: 'cdr', durationMs: 61_000, billedMinutes: 2, costMicroUsd: 20_000 });
    assert.deepEqual((await second.platform.calls.get(tamperedLate))?.billing, { source: 'cdr', durationMs: 45_000, billedMinutes: 1, costMicroUsd: 10_000 });
    assert.deepEqual(await second.platform.caps.usage(U.id), { day: 4, month: 4 });
    const flagged = await call(second.base, 'GET', `/v1/admin/usage?deployment=${U.id}&flagged=1`, { headers: adminHeaders() });
    assert.deepEqual(flagged.body.usage, [
      { call_control_id: reportedFirst, deployment_id: U.id, provider_ms: 61_000, gateway_ms: 1_000, flags: ['duration_mismatch'] },
      { call_control_id: tamperedLate, deployment_id: U.id, provider_ms: 45_000, gateway_ms: 1_000, flags: ['duration_mismatch'] },
    ]);
    const all = await call(second.base, 'GET', `/v1/admin/usage?deployment=${U.id}`, { headers: adminHeaders() });
    assert.deepEqual(all.body.usage.map((u: { call_control_id: string }) => u.call_control_id), [reportedFirst, settledFirst, tamperedLate]);
    const calls = await call(second.base, 'GET', `/v1/admin/calls?deployment=${U.id}&flagged=1`, { headers: adminHeaders() });
    assert.deepEqual(
      calls.body.calls.map((c: { call_control_id: string; gateway_reported_ms: number }) => [c.call_control_id, c.gateway_reported_ms]).sort(),
      [[reportedFirst, 1_000], [tamperedLate, 1_000]].sort(),
    );
    assert.ok(second.lines.some((l) => l.includes('"flag":"duration_mismatch"') && l.includes(reportedFirst)), 'flagged in the log of the process that compared');
  });
}

describe('platform restart on the same state directory (embedded store, no Redis)', () => {
  let dir = '';
  const harnesses: Harness[] = [];
  const journals = new Map<Harness, StateJournal>();
  const open = async (): Promise<Harness> => {
    const journal = await StateJournal.open(dir);
    const h = await startHarness({ stateJournal: journal, cdr: { attempts: 3, backoffMs: 20 } });
    harnesses.push(h);
    journals.set(h, journal);
    return h;
  };
  const retire = async (h: Harness): Promise<void> => {
    await h.close();
    await journals.get(h)?.close();
    harnesses.splice(harnesses.indexOf(h), 1);
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttma-restart-'));
  });
  after(async () => {
    for (const h of [...harnesses]) await retire(h);
    await rm(dir, { recursive: true, force: true });
  });

  keepsStateAcrossRestart({ open, retire });
});

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

function pick(value: unknown, keys: string[]): Record<string, unknown> {
  const source = value as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, source?.[k]]));
}

function signedHeadersFor(h: Harness, body: string): Record<string, string> {
  return signedHeaders(h.keyPair.secretKey, body);
}
