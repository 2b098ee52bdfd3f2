/**
 * The gateway's outbound control connection through the whole system
 * (simulator, platform, gateway with real workers): a cap reached mid-call
 * reaches the ControlActor, which ends the live call and refuses new ones
 * until the operator raises the cap; the call's usage report arrives over the
 * connection and agrees with the provider; after the platform restarts the
 * gateway reconnects by itself and notices flow again.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { NUMBER, TUNNEL_HOST, startStack, waitFor, type Stack } from '../helpers/stack.js';

const stacks: Stack[] = [];
const extra: PlatformServer[] = [];
after(async () => {
  for (const s of stacks) await s.stop();
  for (const p of extra) await p.stop();
});

test('a cap reached mid-call: the notice reaches the ControlActor, the live call ends, new calls are refused until the cap is raised', async () => {
  const stack = await startStack(
    { controlChannel: { baseDelayMs: 50, maxDelayMs: 500 } },
    { platform: { capUnitMs: 400, capGoodbyeMs: 300, rateLimit: { ratePerSec: 1_000, burst: 1_000 }, cdr: { attempts: 5, backoffMs: 50 } } },
  );
  stacks.push(stack);
  const { gateway, platform, sim } = stack;
  await platform.deployments.update('test', { caps: { dayMinutes: 2, monthMinutes: 100 } });
  await waitFor('the control connection', () => gateway.channel.state === 'open' && platform.control.connections('test') === 1);

  // Reserves 1 at answer, tops up to 2 after one unit, is refused at the next: cap reached at ~800 ms.
  const live = sim.placeInboundCall({ from: '+15550300001', to: NUMBER, durationMs: 15_000 });
  const report = await live.done;
  assert.equal(gateway.control.counters.callsEndedForCap, 1, 'the ControlActor ended the call on the notice');
  assert.notEqual(report.endedBy, 'caller');
  assert.ok(report.framesSent < 5 * 50, `the call ended long before its 15 s (${report.framesSent} frames)`);
  const record = gateway.control.recentCalls(5).find((r) => r.call_control_id === live.id);
  assert.equal(record?.state, 'ended');
  assert.equal(record?.end_reason, 'minute cap reached (day)');
  const cap = gateway.control.capState();
  assert.equal(cap.capped, true);
  assert.match(cap.capped ? cap.message : '', /daily minute cap reached \(2 of 2 minutes used\)/);

  // The gateway's duration went over the connection and agrees with the provider's record.
  await waitFor('the usage report and settlement', async () => {
    const entry = await platform.ledger.get('test', live.id);
    return entry?.gatewayMs != null && entry.providerMs != null;
  });
  const entry = (await platform.ledger.get('test', live.id))!;
  assert.deepEqual(entry.flags, [], `gateway ${entry.gatewayMs} ms vs provider ${entry.providerMs} ms`);
  assert.equal(gateway.channel.counters.reportsAcked, 1);

  // While capped the gateway refuses new calls itself, inbound and outbound.
  const refusedCall = await sim.placeInboundCall({ from: '+15550300002', to: NUMBER, durationMs: 1_000 }).done;
  assert.equal(refusedCall.framesSent, 0, 'never answered');
  assert.equal(gateway.control.counters.callsRefusedForCap, 1);
  await assert.rejects(gateway.control.dial('+15551230000'), (err: Error & { code?: string }) => err.code === 'TTMA_ERR_CAP_REACHED');
  assert.equal(gateway.control.counters.callsRefusedForCap, 2);

  // The operator raises the cap: the platform says so, and calls flow again.
  await platform.deployments.update('test', { caps: { dayMinutes: 100, monthMinutes: 100 } });
  await waitFor('the cap lifted on the gateway', () => !gateway.control.capState().capped);
  const after = await sim.placeInboundCall({ from: '+15550300003', to: NUMBER, durationMs: 600 }).done;
  assert.equal(after.endedBy, 'caller', after.endReason);
  assert.ok(after.framesReturned > 0);
});

test('the gateway reconnects by itself after the platform restarts, and notices flow on the new connection', async () => {
  const stack = await startStack({ controlChannel: { baseDelayMs: 50, maxDelayMs: 400 } });
  stacks.push(stack);
  const { gateway, platform } = stack;
  await waitFor('the first connection', () => gateway.channel.state === 'open');
  assert.equal(gateway.channel.counters.connects, 1);

  await platform.stop();
  await waitFor('the gateway to notice the platform is gone', () => gateway.channel.state !== 'open');
  // Let it fail a few times against the closed port (backoff, never a tight loop).
  await new Promise((r) => setTimeout(r, 600));
  const attemptsWhileDown = gateway.channel.counters.connects;
  assert.equal(attemptsWhileDown, 1);

  const restarted = new PlatformServer({
    providerBaseUrl: `http://127.0.0.1:${stack.ports.sim}`,
    providerApiKey: 'k'.repeat(24),
    connectionId: 'test-connection',
    webhookPublicKeyBase64: stack.publicKeyBase64,
    adminToken: null,
    port: stack.ports.platform,
    logger: createLogger('test', 'silent'),
  });
  extra.push(restarted);
  await restarted.start();
  await restarted.deployments.register({ id: 'test', numbers: [NUMBER], tunnelHost: TUNNEL_HOST, agentSecret: gateway.config.agentSecret });
  await waitFor('the reconnection', () => gateway.channel.state === 'open' && restarted.control.connections('test') === 1, 5_000);
  assert.equal(gateway.channel.counters.connects, 2);
  assert.equal(gateway.status().control.state, 'open');

  // A notice on the new connection reaches the ControlActor: a cap of zero minutes refuses new calls.
  await restarted.deployments.update('test', { caps: { dayMinutes: 0, monthMinutes: 100 } });
  await waitFor('the cap state on the gateway', () => gateway.control.capState().capped);
  await assert.rejects(gateway.control.dial('+15551230001'), /daily minute cap reached \(0 of 0 minutes used\)/);
});
