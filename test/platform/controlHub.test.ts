/**
 * The gateways' outbound control connection, platform side, with real
 * WebSocket clients on loopback: authentication at the upgrade (wrong secret,
 * unknown deployment, secret in the query), revocation on secret rotation and
 * disable, usage reports over the connection (a tampered one changes neither
 * billing nor caps), and the gateway's ControlChannel refused and retrying.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlChannel } from '../../src/control/ControlChannel.js';
import { createLogger } from '../../src/log.js';
import { CLOSE_REVOKED } from '../../src/wire/controlChannel.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { openControl, opened, refused } from './controlClient.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, waitFor } from './helpers.js';

const DEP = { id: 'control-dep', numbers: ['+15557770101'], tunnelHost: 'control.trycloudflare.com', caps: { dayMinutes: 1000, monthMinutes: 10000 } };

describe('control connection (platform side)', () => {
  let h: Harness;
  let secret: string;
  let headers: Record<string, string>;
  before(async () => {
    h = await startHarness({ capUnitMs: 1_000, usageReportGraceMs: 60_000, cdr: { attempts: 2, backoffMs: 10 }, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    secret = (await h.platform.deployments.register(DEP)).agentSecret;
    headers = agentHeaders(DEP.id, secret);
  });
  after(() => h.close());

  async function endedCall(providerMs: number): Promise<string> {
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers,
      body: { to: '+15551234567', stream_url: `wss://${DEP.tunnelHost}/v1/media/ctl-${Date.now()}`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.call_control_id as string;
    const fake = h.provider.calls.get(id)!;
    fake.alive = false;
    fake.durationMs = providerMs;
    await postWebhook(h, envelope('call.hangup', { call_control_id: id, from: fake.from, to: fake.to, direction: 'outgoing', hangup_cause: 'normal_clearing' }));
    await waitFor('settled', async () => Boolean((await h.platform.calls.get(id))?.billing));
    return id;
  }

  it('authenticates at the upgrade: the right secret gets a hello; a wrong one, an unknown deployment or none get 401', async () => {
    const ok = opened(await openControl(h.base, headers));
    const hello = await ok.next('hello');
    assert.deepEqual(hello, { type: 'hello', deployment: DEP.id, cap_state: { capped: false }, heartbeat_ms: 15_000 });
    assert.equal(h.platform.control.connections(DEP.id), 1);
    ok.ws.close();
    await ok.closed;

    const wrong = refused(await openControl(h.base, agentHeaders(DEP.id, `${secret.slice(0, -1)}x`)));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'TTMA_ERR_AUTH');
    const unknown = refused(await openControl(h.base, agentHeaders('no-such-dep', secret)));
    assert.deepEqual([unknown.status, unknown.body], [wrong.status, wrong.body], 'one answer for every identity failure');
    const none = refused(await openControl(h.base, {}));
    assert.equal(none.status, 401);
    // Never in the URL: a query on the control path is refused whatever it holds.
    const query = refused(await openControl(h.base, headers, `?secret=${secret}`));
    assert.equal(query.status, 400);
    assert.ok(h.lines.some((l) => l.includes('control connection refused') && l.includes('"audit":true') && l.includes('TTMA_ERR_AUTH')));
    assert.ok(!h.lines.some((l) => l.includes(secret)), 'the secret is never logged');
    await waitFor('connections closed', () => h.platform.control.connections(DEP.id) === 0);
  });

  it('a usage report over the connection is cross-checked; a tampered one changes neither billing nor caps', async () => {
    const c = opened(await openControl(h.base, headers));
    await c.next('hello');
    const honest = await endedCall(20_400);
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: honest, duration_ms: 20_000 }));
    assert.deepEqual(await c.next('usage.ack'), { type: 'usage.ack', call_control_id: honest, ok: true, flags: [] });
    const usageBefore = await h.platform.caps.usage(DEP.id);

    const tampered = await endedCall(45_100);
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: tampered, duration_ms: 1_000 }));
    assert.deepEqual(await c.next('usage.ack'), { type: 'usage.ack', call_control_id: tampered, ok: true, flags: ['duration_mismatch'] });
    // The first report counts: a "correction" over HTTP or the connection cannot revise it.
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: tampered, duration_ms: 45_000 }));
    assert.deepEqual(await c.next('usage.ack'), { type: 'usage.ack', call_control_id: tampered, ok: true, flags: ['duration_mismatch'] });
    assert.deepEqual((await h.platform.calls.get(tampered))?.billing, { source: 'cdr', durationMs: 45_100, billedMinutes: 46, costMicroUsd: 460_000 });
    assert.deepEqual(await h.platform.caps.usage(DEP.id), { day: usageBefore.day + 46, month: usageBefore.month + 46 });
    const listed = await call(h.base, 'GET', `/v1/admin/calls?deployment=${DEP.id}&flagged=1`, { headers: adminHeaders() });
    assert.deepEqual(listed.body.calls.map((x: { call_control_id: string }) => x.call_control_id), [tampered]);
    assert.equal(listed.body.calls[0].gateway_reported_ms, 1_000);

    // A call the provider never told us about, and malformed reports.
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: 'v3:ghost-ws', duration_ms: 5_000 }));
    const ghost = await c.next('usage.ack');
    assert.deepEqual(ghost, { type: 'usage.ack', call_control_id: 'v3:ghost-ws', ok: false, code: 'TTMA_ERR_CALL_NOT_OWNED', message: 'call not found or not owned by this deployment' });
    assert.deepEqual((await h.platform.ledger.get(DEP.id, 'v3:ghost-ws'))?.flags, ['unknown_to_provider']);
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: honest, duration_ms: -1 }));
    assert.equal(((await c.next('usage.ack')) as { code: string }).code, 'TTMA_ERR_BAD_REQUEST');
    c.ws.send(JSON.stringify({ type: 'answer', call_control_id: honest }));
    assert.equal(((await c.next('error')) as { code: string }).code, 'TTMA_ERR_BAD_REQUEST');
    c.ws.send('not json');
    assert.equal((await c.closed).code, 1008);
  });

  it("another deployment's connection cannot report this deployment's calls", async () => {
    const other = { id: 'control-other', numbers: ['+15557770102'], tunnelHost: 'other.trycloudflare.com' };
    const otherSecret = (await h.platform.deployments.register(other)).agentSecret;
    const mine = await endedCall(3_000);
    const c = opened(await openControl(h.base, agentHeaders(other.id, otherSecret)));
    await c.next('hello');
    c.ws.send(JSON.stringify({ type: 'usage', call_control_id: mine, duration_ms: 3_000 }));
    assert.equal(((await c.next('usage.ack')) as { code: string }).code, 'TTMA_ERR_CALL_NOT_OWNED');
    assert.equal((await h.platform.ledger.get(DEP.id, mine))?.gatewayMs ?? null, null, 'nothing recorded for the owner');
    assert.equal(await h.platform.ledger.get(other.id, mine), undefined, 'nor for the reporter');
    c.ws.close();
  });

  it('rotating the secret or disabling the deployment closes its connections (4401); the old secret is then refused', async () => {
    const dep = { id: 'control-rotate', numbers: ['+15557770103'], tunnelHost: 'rotate.trycloudflare.com' };
    const first = (await h.platform.deployments.register(dep)).agentSecret;
    const c = opened(await openControl(h.base, agentHeaders(dep.id, first)));
    await c.next('hello');
    const rotated = await call(h.base, 'POST', `/v1/admin/deployments/${dep.id}/rotate-secret`, { headers: adminHeaders(), body: {} });
    assert.equal(rotated.status, 200);
    assert.deepEqual(await c.closed, { code: CLOSE_REVOKED, reason: 'agent secret rotated' });
    assert.equal(refused(await openControl(h.base, agentHeaders(dep.id, first))).status, 401);
    const next = opened(await openControl(h.base, agentHeaders(dep.id, rotated.body.agentSecret)));
    await next.next('hello');
    assert.equal((await call(h.base, 'POST', `/v1/admin/deployments/${dep.id}/disable`, { headers: adminHeaders(), body: {} })).status, 200);
    assert.equal((await next.closed).code, CLOSE_REVOKED);
    const disabled = refused(await openControl(h.base, agentHeaders(dep.id, rotated.body.agentSecret)));
    assert.deepEqual([disabled.status, disabled.body.error.code], [403, 'TTMA_ERR_DEPLOYMENT_DISABLED']);
  });

  it("the gateway's ControlChannel with a wrong secret is refused, keeps retrying with backoff, and never connects", async () => {
    const channel = new ControlChannel({
      platformUrl: h.base,
      deploymentId: DEP.id,
      agentSecret: 'w'.repeat(43),
      log: createLogger('test', 'silent'),
      onMessage: () => assert.fail('no message on a refused connection'),
      baseDelayMs: 20,
      maxDelayMs: 80,
    });
    channel.start();
    try {
      await waitFor('three refusals', () => channel.counters.refusals >= 3);
      assert.equal(channel.counters.connects, 0);
      assert.match(channel.lastError ?? '', /refused by the platform: TTMA_ERR_AUTH \(HTTP 401\)/);
      assert.equal(h.platform.control.connections(DEP.id), 0);
    } finally {
      channel.stop();
    }
  });

  it('backoff doubles from the base up to the cap, with half of each delay random', () => {
    const at = (random: number) =>
      new ControlChannel({ platformUrl: h.base, deploymentId: DEP.id, agentSecret: secret, log: createLogger('test', 'silent'), onMessage: () => undefined, baseDelayMs: 100, maxDelayMs: 1_000, random: () => random });
    const low = at(0);
    const high = at(0.999999);
    assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => low.retryDelayMs(n)), [50, 100, 200, 400, 500, 500]);
    assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => high.retryDelayMs(n)), [100, 200, 400, 800, 1_000, 1_000]);
  });
});
