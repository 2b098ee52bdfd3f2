/**
 * A call.hangup webhook lost for good, with the real provider simulator: a
 * relay between the simulator and the platform passes every signed webhook
 * through untouched except the hang-up, which it refuses (a 4xx, so the
 * simulator does not retry). The platform must still find that the call
 * ended, from the simulator's call status (is_alive false) and its call
 * detail record, and settle it once at the provider's figure. The relay also
 * holds back the stream's failure (sent as the call ends), delivered once the
 * call is settled: a webhook that loses the race to the status poll, as one
 * did under load, must still sort before the hang-up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, until, simProviderOptions } from './helpers.js';
import { relayedSimulator, startLossyRelay, type LossyRelay } from './lossyRelay.js';

const API_KEY = 'sim-provider-key-for-lost-hangup';
const A = { id: 'lost-a', numbers: ['+15552220101'], tunnelHost: 'lost-a.trycloudflare.com' };
const UNIT_MS = 200;

describe('a lost call.hangup, with the real provider simulator', () => {
  let sim: ProviderSimulator;
  let platform: PlatformServer;
  let relay: LossyRelay;
  let base = '';
  let secret = '';
  const { logger, lines } = capturingLogger();

  before(async () => {
    let platformPort = 0;
    relay = await startLossyRelay(() => platformPort, new Set(['call.hangup', 'streaming.failed']));
    sim = relayedSimulator(API_KEY, relay, { outboundTalkMs: 3 * UNIT_MS });
    const { port: simPort } = await sim.start();
    platform = new PlatformServer({
      ...simProviderOptions(simPort, API_KEY, sim),
      adminToken: null,
      capUnitMs: UNIT_MS,
      cdr: { attempts: 3, backoffMs: 20 },
      logger,
    });
    platformPort = (await platform.start()).port;
    base = `http://127.0.0.1:${platformPort}`;
    secret = (await platform.deployments.register({ ...A, caps: { dayMinutes: 100, monthMinutes: 1_000 } })).agentSecret;
  });
  after(async () => {
    await platform.stop();
    await sim.stop();
    await relay.close();
  });

  it('settles the call from the provider status and record, once', async () => {
    const res = await call(base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(A.id, secret),
      body: { to: '+15553334444', stream_url: `wss://${A.tunnelHost}/v1/media/lost-00001`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.call_control_id as string;
    const settled = await until('the call settled without its hang-up event', async () => {
      const found = await platform.calls.get(id);
      return found?.billing ? found : undefined;
    });
    // The platform may find the end (status poll at a top-up) before the simulator's hang-up reaches the relay.
    await until('the simulator sent a hang-up and the relay refused it', async () => (relay.dropped.includes('call.hangup') ? true : undefined));
    const failed = relay.droppedWebhooks.find((w) => w.eventType === 'streaming.failed' && w.callControlId === id);
    assert.ok(failed, 'the stream failed as the call ended (its webhook held back)');
    const late = await fetch(`${base}/v1/provider/webhooks`, { method: 'POST', headers: failed.headers as Record<string, string>, body: failed.body });
    assert.equal(late.status, 200);
    const record = await until('the late stream failure on the timeline', async () => {
      const found = await platform.calls.get(id);
      return found?.timeline.some((e) => e.event === 'streaming.failed') ? found : undefined;
    });
    assert.deepEqual(record.billing, settled.billing, 'the late event changed no settlement');
    assert.equal(record.state, 'ended');
    assert.equal(record.billing?.source, 'cdr');
    const summary = sim.callSummary(id);
    assert.ok(summary, 'the simulator knows the call');
    assert.equal(record.timeline.at(-1)?.event, 'call.hangup');
    // The end comes from the detail record's finished_at, to the second: within that second and after
    // every event the provider reported (the stream failing as the call ends); the record has no cause.
    assert.equal(record.hangupCause, null);
    const endedAt = record.endedAt ?? '';
    assert.ok(record.timeline.every((e) => e.occurred_at <= endedAt), JSON.stringify(record.timeline));
    assert.deepEqual(await platform.caps.liveOf(A.id), []);
    const used = await platform.caps.usage(A.id);
    assert.equal(used.day, record.billing?.billedMinutes, 'the reservation settled at the billed units');
    await new Promise((resolve) => setTimeout(resolve, 3 * UNIT_MS));
    assert.deepEqual(await platform.caps.usage(A.id), used, 'no top-ups after settlement');
    assert.equal(lines.filter((l) => l.includes('call settled from the provider figure') && l.includes(id)).length, 1);
  });
});
