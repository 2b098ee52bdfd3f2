/**
 * A call the platform hung up itself (a minute cap reached, a deployment disabled) whose
 * call.hangup webhook is lost for good: the real provider simulator, a lossy relay in front of a
 * real platform on a real redis-server refusing every call.hangup (a 4xx: the simulator does not
 * retry). At a cap the call's reservation is released once hung up, so no top-up (and no live
 * call audit after one) looks at it again; a disabled deployment's is looked at only at its next
 * top-up, a unit later. The platform must settle the call once, at the provider's figure, within
 * its hung-up check (HungUpCalls), and the hang-up webhook delivered late must settle nothing again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, until } from './helpers.js';
import { simBehindLossyRelay, type LossyRelay } from './lossyRelay.js';

const skip = redisUnavailable();
const API_KEY = 'sim-provider-key-for-hung-up-calls';
/** The hung-up check: far inside a cap unit of the disable case, so only it can settle the call in time. */
const CHECK_AFTER_MS = 300;
const CAP = { id: 'hung-up-cap', numbers: ['+15552220201'], tunnelHost: 'hung-up-cap.trycloudflare.com' };
const OFF = { id: 'hung-up-off', numbers: ['+15552220202'], tunnelHost: 'hung-up-off.trycloudflare.com' };

interface Stack {
  sim: ProviderSimulator;
  platform: PlatformServer;
  relay: LossyRelay;
  base: string;
  lines: string[];
  stop(): Promise<void>;
}

describe('a call the platform hung up, its call.hangup lost for good', { skip }, () => {
  const redisFx = useRedisServer();

  async function stack(unitMs: number): Promise<Stack> {
    const { logger, lines } = capturingLogger();
    const { sim, simPort, relay, platformPort, stop: stopSim } = await simBehindLossyRelay(API_KEY, [CAP.tunnelHost, OFF.tunnelHost]);
    const platform = new PlatformServer({
      providerBaseUrl: `http://127.0.0.1:${simPort}`,
      providerApiKey: API_KEY,
      connectionId: 'sim-connection',
      webhookPublicKeyBase64: sim.publicKeyBase64,
      adminToken: null,
      redisUrl: redisFx.server.url,
      capUnitMs: unitMs,
      capGoodbyeMs: 0,
      cdr: { attempts: 3, backoffMs: 20 },
      hungUpCheck: { afterMs: CHECK_AFTER_MS },
      logger,
    });
    const { port } = await platform.start();
    platformPort(port);
    return {
      sim, platform, relay, lines,
      base: `http://127.0.0.1:${port}`,
      stop: async () => {
        await platform.stop();
        await stopSim();
      },
    };
  }

  async function dial(s: Stack, dep: { id: string; tunnelHost: string }, secret: string): Promise<string> {
    const res = await call(s.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(dep.id, secret),
      body: { to: '+15553334444', stream_url: `wss://${dep.tunnelHost}/v1/media/hung-up-1`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.call_control_id as string;
  }

  /** Settled once, at the provider's figure; then the lost hang-up delivered late changes nothing. */
  async function assertSettledOnce(s: Stack, depId: string, id: string, withinMs: number): Promise<void> {
    const record = await until('the call settled without its hang-up event', async () => {
      const found = await s.platform.calls.get(id);
      return found?.billing ? found : undefined;
    }, withinMs);
    const lost = await until('the simulator sent its hang-up and the relay refused it', () => s.relay.droppedWebhooks.find((w) => w.callControlId === id));
    assert.equal(record.state, 'ended');
    assert.equal(record.timeline.at(-1)?.event, 'call.hangup');
    assert.equal(record.billing?.source, 'cdr');
    const cdr = s.sim.filedCallRecords().find((r) => r.call_control_id === id);
    assert.ok(cdr?.duration_ms !== null && cdr?.duration_ms !== undefined, 'the simulator filed the call\'s record');
    // Telnyx's record gives call_sec in whole seconds (src/sim/detailRecords.ts).
    assert.equal(record.billing?.durationMs, Math.round(cdr.duration_ms / 1000) * 1000);
    assert.equal(record.billing?.billedMinutes, s.platform.caps.unitsFor(record.billing?.durationMs ?? -1));
    const used = await s.platform.caps.usage(depId);
    assert.equal(used.day, record.billing?.billedMinutes, 'the reservation settled at the billed units');
    assert.equal((await s.platform.ledger.get(depId, id))?.providerMs, record.billing?.durationMs, 'the cross-check has the provider figure');
    assert.deepEqual(await s.platform.caps.liveOf(depId), []);
    assert.deepEqual(await redisFx.raw.zrange('ttma:{calls}:unsettled', '0', '-1'), [], 'off the unsettled index');

    // The lost webhook after all (a provider retry, late): accepted, and nothing settles again.
    const late = await fetch(`${s.base}/v1/provider/webhooks`, { method: 'POST', headers: lost.headers as Record<string, string>, body: lost.body });
    assert.equal(late.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2 * CHECK_AFTER_MS));
    assert.deepEqual(await s.platform.caps.usage(depId), used, 'nothing billed twice');
    assert.deepEqual((await s.platform.calls.get(id))?.billing, record.billing);
    assert.equal(s.lines.filter((l) => l.includes('call settled from the provider figure') && l.includes(id)).length, 1);
  }

  it('ended at a minute cap: settled once at the provider\'s figure', async () => {
    const s = await stack(400);
    try {
      const dep = CAP;
      const secret = (await s.platform.deployments.register({ ...dep, caps: { dayMinutes: 2, monthMinutes: 1_000 } })).agentSecret;
      const id = await dial(s, dep, secret);
      // 2 units of 400 ms: the second top-up is refused, the platform hangs the call up and releases its reservation.
      await until('the platform ended the call at the cap', () => s.lines.some((l) => l.includes('call ended by the platform: minute cap reached') && l.includes(id)));
      await assertSettledOnce(s, dep.id, id, 8_000);
    } finally {
      await s.stop();
    }
  });

  it('ended because its deployment was disabled: settled once, without waiting for a top-up', async () => {
    // A unit of a minute: the next top-up (and the live call audit after it) is far beyond the test's bound.
    const s = await stack(60_000);
    try {
      const dep = OFF;
      const secret = (await s.platform.deployments.register({ ...dep, caps: { dayMinutes: 100, monthMinutes: 1_000 } })).agentSecret;
      const id = await dial(s, dep, secret);
      await until('the call answered', async () => (await s.platform.calls.get(id))?.state === 'answered');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await s.platform.deployments.setDisabled(dep.id, true), true);
      await until('the platform ended the call', () => s.lines.some((l) => l.includes('call ended by the platform: deployment disabled') && l.includes(id)));
      await assertSettledOnce(s, dep.id, id, 8_000);
    } finally {
      await s.stop();
    }
  });
});
