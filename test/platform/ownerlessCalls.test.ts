/**
 * A live call whose record and deployment the platform's store lost is no longer capped, billed
 * or endable by its gateway (its hang-up is refused 401): the platform finds it in the
 * provider's list of the connection's active calls and hangs it up (FAQ-14, fail closed), while
 * a call its deployment still owns is left alone. On a real redis-server flushed under the
 * platform, and on the embedded store restarted without its state (a second platform on the same
 * simulator, which never saw the call). Real simulator, real platforms on loopback.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import type { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, capturingLogger, simProviderOptions, until, waitFor } from './helpers.js';
import { relayedSimulator, startLossyRelay, type LossyRelay } from './lossyRelay.js';

const API_KEY = 'sim-provider-key-for-ownerless-calls';
const GRACE_MS = 1_000;
const SWEEP_MS = 200;
const HUNG_UP = 'no deployment owns';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const store of ['embedded', 'redis'] as const) {
  describe(`live calls no deployment owns any more (${store} store)`, { skip: store === 'redis' ? redisUnavailable() : undefined }, () => {
    const redisFx = store === 'redis' ? useRedisServer() : null;
    const D = { id: `ownerless-${store}`, numbers: [store === 'redis' ? '+15551740002' : '+15551740001'], tunnelHost: `ownerless-${store}.trycloudflare.com` };
    const cleanup: Array<() => Promise<void>> = [];
    after(async () => {
      for (const step of cleanup.reverse()) await step().catch(() => undefined);
    });
    let platformPort = 0;
    let sim: ProviderSimulator;
    let relay: LossyRelay;
    /** Platforms started so far: a later test stops them, or their sweeps would race its own on the same simulator. */
    const running: PlatformServer[] = [];

    /** `beforeStart`: what the store holds when the platform starts (its first pass comes a pass after). */
    async function platformOn(simPort: number, logger: ReturnType<typeof capturingLogger>['logger'], beforeStart?: (p: PlatformServer) => Promise<void>): Promise<{ platform: PlatformServer; base: string }> {
      const platform = new PlatformServer({
        ...simProviderOptions(simPort, API_KEY, sim),
        adminToken: null,
        capUnitMs: 500,
        provider: { timeoutMs: 1_000, maxAttempts: 1, backoffMs: 5 },
        ownerlessCalls: { sweepMs: SWEEP_MS, graceMs: GRACE_MS, unreservedAfterMs: GRACE_MS },
        ...(redisFx ? { redisUrl: redisFx.server.url } : {}),
        logger,
      });
      await beforeStart?.(platform);
      platformPort = (await platform.start()).port;
      running.push(platform);
      cleanup.push(() => platform.stop());
      return { platform, base: `http://127.0.0.1:${platformPort}` };
    }

    /** An incoming call to D, answered through the platform (no media server: the stream fails, the call goes on). */
    async function answered(platform: PlatformServer, base: string, secret: string): Promise<SimCall> {
      const a: SimCall = sim.placeInboundCall({ from: '+15550001111', to: D.numbers[0]!, durationMs: 120_000 });
      await until('the platform locked the incoming call', async () => ((await platform.calls.get(a.id))?.locked ? true : undefined));
      const res = await call(base, 'POST', PLATFORM_PATHS.answer(a.id), {
        headers: agentHeaders(D.id, secret),
        body: { stream_url: `wss://${D.tunnelHost}/v1/media/${a.id}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await waitFor('the call answered', () => a.state === 'answered');
      return a;
    }

    /** Hung up through the provider's API within 10 s, with one audit line saying why. */
    async function hungUpAsOwnerless(a: SimCall, lines: string[], why: RegExp): Promise<void> {
      const report = await Promise.race([a.done, sleep(10_000).then(() => null)]);
      assert.ok(report, 'the call went on with no owner (not hung up within 10 s)');
      assert.equal(report.endedBy, 'gateway', 'ended through the provider\'s API, not by its caller');
      const said = lines.filter((l) => l.includes(HUNG_UP));
      assert.equal(said.length, 1, said.join('\n'));
      const line = JSON.parse(said[0]!) as Record<string, unknown>;
      assert.deepEqual([line['level'], line['audit'], line['callId']], [40, true, a.id]);
      assert.match(String(line['msg']), why);
    }

    it('a call its deployment owns is left; once the store lost both, it is hung up through the provider', async () => {
      relay = await startLossyRelay(() => platformPort, new Set());
      cleanup.push(() => relay.close());
      // No gateway media server: the stream fails and the call goes on without media, as long as its caller talks.
      sim = relayedSimulator(API_KEY, relay, { answerTimeoutMs: 5_000, onStreamFailure: 'continue' });
      const { port: simPort } = await sim.start();
      cleanup.push(() => sim.stop());
      const first = capturingLogger();
      const { platform, base } = await platformOn(simPort, first.logger);
      const secret = (await platform.deployments.register(D)).agentSecret;

      const a = await answered(platform, base, secret);
      // A dial is reserved under its own reservation id, not its call id: it must be found too.
      const dial = await call(base, 'POST', PLATFORM_PATHS.dial, {
        headers: agentHeaders(D.id, secret),
        body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/ownerless-dial-${store}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(dial.status, 200, JSON.stringify(dial.body));
      const dialled = sim.liveCall(dial.body.call_control_id as string)!;
      await waitFor('the dial answered', () => dialled.state === 'answered');
      // Past the grace, several passes: the deployment's own calls are not touched.
      await sleep(GRACE_MS + 5 * SWEEP_MS);
      assert.equal(a.isAlive, true, 'a call its deployment owns was hung up');
      assert.equal(dialled.isAlive, true, 'a dial its deployment owns was hung up');
      assert.ok(!first.lines.some((l) => l.includes(HUNG_UP)), 'no ownerless line for an owned call');
      // The dial ends before the loss: the one left is the call the loss orphans.
      assert.equal((await call(base, 'POST', PLATFORM_PATHS.hangup(dialled.id), { headers: agentHeaders(D.id, secret), body: {} })).status, 200);
      await waitFor('the dial ended', () => !dialled.isAlive);

      let lines = first.lines;
      if (redisFx) {
        // Only a process that saw the marker tells a wipe; the flush takes the records and the deployment.
        await waitFor('the marker written', async () => (await redisFx.raw.exists('ttma:{meta}:epoch')) === 1, 5_000);
        await redisFx.raw.flushall();
        await waitFor('the platform to notice', async () => (await call(base, 'GET', '/readyz')).body.data_lost === true, 5_000);
        // What the gateway can no longer do: its identity went with the data.
        const refused = await call(base, 'POST', PLATFORM_PATHS.hangup(a.id), { headers: agentHeaders(D.id, secret), body: {} });
        assert.equal(refused.status, 401, JSON.stringify(refused.body));
      } else {
        // The embedded store restarted without its state: a new platform that never saw the call.
        await platform.stop();
        assert.equal(a.isAlive, true, 'the stop itself ended the call');
        const second = capturingLogger();
        await platformOn(simPort, second.logger);
        lines = second.lines;
      }
      await hungUpAsOwnerless(a, lines, /the platform has no record of it/);
    });

    it('the deployment back (imported or re-created) but not the call\'s minutes: hung up too', { skip: store === 'redis' ? 'the embedded restart stands for both stores here' : undefined }, async () => {
      for (const earlier of running.splice(0)) await earlier.stop();
      const first = capturingLogger();
      const { platform, base } = await platformOn(sim.port, first.logger);
      const secret = (await platform.deployments.register(D)).agentSecret;
      const a = await answered(platform, base, secret);
      const facts = { direction: 'incoming' as const, from: '+15550001111', to: D.numbers[0]! };
      await platform.stop();
      // Restarted without its state: the operator re-creates the deployment, and a later webhook of
      // the call locks a new record of it to the deployment again (ProviderWebhooks), with no reservation.
      const second = capturingLogger();
      await platformOn(sim.port, second.logger, async (p) => {
        await p.deployments.register(D);
        assert.equal((await p.calls.lock(a.id, D.id, facts)).ok, true);
      });
      await hungUpAsOwnerless(a, second.lines, /holds no minutes reserved for it/);
    });
  });
}
