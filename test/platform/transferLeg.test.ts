/**
 * A transfer end to end through the real provider simulator, whose transfer is Telnyx's: the
 * destination is dialled as a new outgoing leg (its own call_control_id, the session of the call
 * transferred, `target_leg_client_state` as the client_state of every one of its webhooks), bridged
 * to the call transferred on answer, the pair ending when either side hangs up
 * (developers.telnyx.com/api-reference/call-commands/transfer-call). The gateway asks the platform
 * for the transfer; the platform asks the simulator; the new leg's webhooks reach the platform.
 * The leg must not be hung up as a dial nobody owns (before, every transfer was cut about 19 s in),
 * must not be relayed to the gateway nor listed for a starting gateway to take over, and the call
 * transferred must not be hung up as streamless once its stream ends at the bridge. The leg is an
 * outbound call the provider bills (FAQ-14): it draws on the deployment's caps from the transfer
 * on, is ended at the cap, and is settled from its call detail record into the call records. A
 * deployment at its cap cannot transfer at all. On the embedded store and on a real redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { LOCK_MARGIN_MS } from '../../src/platform/UnownedDials.js';
import { transferLegState, transferReservationId, transferredFrom } from '../../src/platform/transferLegs.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, until, waitFor, simProviderOptions } from './helpers.js';
import { relayedSimulator, startLossyRelay, type LossyRelay } from './lossyRelay.js';

const API_KEY = 'sim-provider-key-for-transfers';
const PROVIDER = { timeoutMs: 300, maxAttempts: 1, backoffMs: 5 };
/** How long an unlocked outgoing call is left before it is hung up as a dial nobody owns. */
const GRACE_MS = PROVIDER.timeoutMs + LOCK_MARGIN_MS;
const UNIT_MS = 500;
/** The transfer's callee talks this long, then hangs up (ending the bridged pair). */
const LEG_TALK_MS = GRACE_MS + 3_000;
const CALLER = '+15550001111';
const TARGET = '+15557654321';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const store of ['embedded', 'redis'] as const) {
  describe(`a transfer through the real simulator (${store} store)`, { skip: store === 'redis' ? redisUnavailable() : undefined }, () => {
    const redisFx = store === 'redis' ? useRedisServer() : null;
    const D = { id: `transfer-${store}`, numbers: [store === 'redis' ? '+15551720002' : '+15551720001'], tunnelHost: `transfer-${store}.trycloudflare.com`, caps: { dayMinutes: 1_000, monthMinutes: 1_000 } };
    /** At its cap once one call is answered. */
    const FULL = { id: `transfer-full-${store}`, numbers: [store === 'redis' ? '+15551720004' : '+15551720003'], tunnelHost: `transfer-full-${store}.trycloudflare.com`, caps: { dayMinutes: 1, monthMinutes: 1 } };
    /** Room for a few units: the call and its leg reach the cap while the leg talks. */
    const TIGHT = { id: `transfer-tight-${store}`, numbers: [store === 'redis' ? '+15551720006' : '+15551720005'], tunnelHost: `transfer-tight-${store}.trycloudflare.com`, caps: { dayMinutes: 4, monthMinutes: 4 } };
    let sim: ProviderSimulator;
    let platform: PlatformServer;
    let base = '';
    /** Passes every webhook on: the platform's port is known only once it started. */
    let relayIn: LossyRelay;
    const secrets = new Map<string, string>();
    const { logger, lines } = capturingLogger();
    /** Every webhook the platform relayed to a gateway: its call id. */
    const relayed: string[] = [];

    before(async () => {
      let platformPort = 0;
      relayIn = await startLossyRelay(() => platformPort, new Set());
      sim = relayedSimulator(API_KEY, relayIn, {
        answerTimeoutMs: 5_000,
        outboundTalkMs: LEG_TALK_MS,
        // No gateway media server here: the stream fails and the call goes on without media.
        onStreamFailure: 'continue',
      });
      const { port: simPort } = await sim.start();
      platform = new PlatformServer({
        ...simProviderOptions(simPort, API_KEY, sim),
        adminToken: null,
        capUnitMs: UNIT_MS,
        capGoodbyeMs: 0,
        cdr: { attempts: 3, backoffMs: 20 },
        provider: PROVIDER,
        unownedDialSweepMs: 200,
        // A call whose stream is gone this long is hung up, unless a bridge carries it.
        streamlessGraceMs: 1_000,
        ...(redisFx ? { redisUrl: redisFx.server.url } : {}),
        logger,
      });
      platformPort = (await platform.start()).port;
      base = `http://127.0.0.1:${platformPort}`;
      const relay = platform.control.relayWebhook.bind(platform.control);
      platform.control.relayWebhook = (deploymentId, signature, timestamp, body) => {
        relayed.push(String((JSON.parse(body.toString()) as { data: { payload: { call_control_id: string } } }).data.payload.call_control_id));
        return relay(deploymentId, signature, timestamp, body);
      };
      for (const d of [D, FULL, TIGHT]) secrets.set(d.id, (await platform.deployments.register(d)).agentSecret);
    });
    after(async () => {
      await platform?.stop();
      await sim?.stop();
      await relayIn?.close();
    });

    /** An incoming call to `d`, answered by its gateway through the platform. */
    async function answered(d: typeof D): Promise<SimCall> {
      const a = sim.placeInboundCall({ from: CALLER, to: d.numbers[0]!, durationMs: 60_000 });
      await until('the platform locked the incoming call', async () => ((await platform.calls.get(a.id))?.locked ? true : undefined));
      const res = await call(base, 'POST', PLATFORM_PATHS.answer(a.id), {
        headers: agentHeaders(d.id, secrets.get(d.id)!),
        body: { stream_url: `wss://${d.tunnelHost}/v1/media/${a.id}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await waitFor('the call answered', () => a.state === 'answered');
      return a;
    }

    function transfer(d: typeof D, a: SimCall): ReturnType<typeof call> {
      return call(base, 'POST', PLATFORM_PATHS.transfer(a.id), { headers: agentHeaders(d.id, secrets.get(d.id)!), body: { to: TARGET } });
    }

    /** The leg the simulator placed for a transfer of `a`: outgoing, on its session. */
    function legOf(a: SimCall): SimCall | undefined {
      const found = sim.callSummaries().find((s) => s.direction === 'outgoing' && sim.callInfo(s.callId)?.call_session_id === a.sessionId);
      return found ? sim.liveCall(found.callId) : undefined;
    }

    it('the new leg is the deployment\'s: not hung up, not relayed, bridged until its callee hangs up, then both settled into the call records', async () => {
      const a = await answered(D);
      const res = await transfer(D, a);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const leg = await until('the simulator placed the new leg', async () => legOf(a));
      const legId = leg.id;
      await waitFor('the legs bridged', () => leg.bridged && a.bridged);
      // The grace of an unowned dial, several passes over the records, the streamless grace: nothing is hung up.
      await sleep(GRACE_MS + 1_500);
      assert.equal(leg.isAlive, true, 'the new leg was hung up');
      assert.equal(a.isAlive, true, 'the call transferred was hung up');
      assert.ok(!lines.some((l) => l.includes('no deployment owns')), 'no unowned-dial line');
      assert.ok(!lines.some((l) => l.includes(a.id) && l.includes('streamless')), 'the bridged call was not taken for a streamless one');
      const record = await platform.calls.get(legId);
      assert.equal(record?.locked, true);
      assert.equal(record?.deploymentId, D.id);
      assert.equal(record?.direction, 'outgoing');
      assert.equal(record?.to, TARGET);
      assert.equal(transferredFrom(sim.callInfo(legId)?.client_state)?.callId, a.id, 'the leg carries the platform\'s mark');
      assert.ok(record?.reservationId?.startsWith('dial-transfer-'), String(record?.reservationId));
      assert.ok(!relayed.includes(legId), 'a webhook of the leg was relayed to the gateway');
      assert.ok(relayed.includes(a.id), 'the call transferred\'s webhooks are relayed');
      const live = await call(base, 'GET', PLATFORM_PATHS.liveCalls, { headers: agentHeaders(D.id, secrets.get(D.id)!) });
      assert.equal(live.status, 200);
      const listed = (live.body.calls as { call_control_id: string }[]).map((c) => c.call_control_id);
      assert.ok(listed.includes(a.id) && !listed.includes(legId), `a starting gateway takes over the call, not its leg: ${JSON.stringify(listed)}`);
      // The callee hangs up: the bridge ends both; both are settled from the provider's records.
      const [aReport, legReport] = await Promise.all([a.done, leg.done]);
      assert.equal(legReport.endedBy, 'callee');
      assert.equal(aReport.endedBy, 'callee', 'the call transferred ended with its bridged leg');
      const settled = await until('both calls settled', async () => {
        const both = await Promise.all([platform.calls.get(a.id), platform.calls.get(legId)]);
        return both.every((r) => r?.billing) ? both : undefined;
      });
      const legBilling = settled[1]!.billing!;
      assert.equal(legBilling.source, 'cdr');
      assert.ok(legBilling.billedMinutes >= 1 && legBilling.costMicroUsd > 0, JSON.stringify(legBilling));
      // The provider's record, in whole seconds (src/sim/detailRecords.ts).
      assert.ok(Math.abs(legBilling.durationMs - legReport.cdr.duration_ms) < 1_000, `the provider's figure: ${legBilling.durationMs} / ${legReport.cdr.duration_ms}`);
      const history = await call(base, 'GET', '/v1/signal/calls?limit=10', { headers: agentHeaders(D.id, secrets.get(D.id)!) });
      assert.equal(history.status, 200);
      const row = (history.body.calls as Record<string, unknown>[]).find((c) => c['call_control_id'] === legId);
      assert.ok(row, 'the leg is in the deployment\'s call records');
      assert.equal(row['direction'], 'outgoing');
      assert.equal(row['from'], D.numbers[0]);
      assert.equal(row['to'], TARGET);
      assert.ok(Number(row['duration_ms']) > 0 && Number(row['cost_usd']) > 0, JSON.stringify(row));
      const usage = await platform.caps.usage(D.id);
      assert.ok(usage.day >= settled[0]!.billing!.billedMinutes + legBilling.billedMinutes, `the leg's minutes count against the caps: ${JSON.stringify(usage)}`);
    });

    it('a deployment at its cap cannot transfer: refused before the provider is asked', async () => {
      const a = await answered(FULL);
      const res = await transfer(FULL, a);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TTMA_ERR_CAP_REACHED');
      await sleep(300);
      assert.equal(legOf(a), undefined, 'no leg placed');
      assert.ok(!sim.callSummaries().some((s) => s.direction === 'outgoing' && sim.callInfo(s.callId)?.call_session_id === a.sessionId));
    });

    it('the leg draws on the caps while live: at the cap it is hung up with the call', async () => {
      const a = await answered(TIGHT);
      const res = await transfer(TIGHT, a);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const leg = await until('the simulator placed the new leg', async () => legOf(a));
      const [report, aReport] = await Promise.all([leg.done, a.done]);
      // The platform hangs up both at the cap; whichever goes first ends the other through the bridge.
      assert.ok(report.endedBy === 'gateway' || aReport.endedBy === 'gateway', `hung up by the platform at the cap: ${report.endReason} / ${aReport.endReason}`);
      assert.ok(report.cdr.duration_ms < LEG_TALK_MS, 'before its callee hung up');
      const record = await until('the leg settled', async () => {
        const r = await platform.calls.get(leg.id);
        return r?.billing ? r : undefined;
      });
      assert.equal(record.deploymentId, TIGHT.id);
      assert.ok(lines.some((l) => l.includes(leg.id) && l.includes('minute cap reached')), 'ended as a call at the cap');
    });

    it('a mark naming no call of a deployment\'s makes no leg of the deployment\'s; a gateway cannot put the mark on its own dial', async () => {
      const forged = transferLegState('v3:no-such-call', transferReservationId('00000000-0000-4000-8000-000000000000'));
      const res = await call(base, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(D.id, secrets.get(D.id)!),
        body: { to: TARGET, stream_url: `wss://${D.tunnelHost}/v1/media/transfer-mark-1`, stream_auth_token: STREAM_TOKEN, client_state: forged },
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error.message, /transfer-leg mark/);
      assert.equal(transferredFrom(forged)?.callId, 'v3:no-such-call');
    });
  });
}
