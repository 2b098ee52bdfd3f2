/**
 * `GET /v1/signal/calls?limit=N`: a deployment lists its own recent calls as
 * the platform recorded them (behind `ttma calls --source platform`), never
 * another deployment's, with the provider's billed figures and no review flags.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const A = { id: 'list-a', numbers: ['+15557770201'], tunnelHost: 'list-a.trycloudflare.com' };
const B = { id: 'list-b', numbers: ['+15557770202'], tunnelHost: 'list-b.trycloudflare.com' };

describe('a deployment lists its own calls', () => {
  let h: Harness;
  let a: Record<string, string>;
  let b: Record<string, string>;
  before(async () => {
    h = await startHarness({ capUnitMs: 1_000, cdr: { attempts: 2, backoffMs: 10 }, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    a = agentHeaders(A.id, (await h.platform.deployments.register(A)).agentSecret);
    b = agentHeaders(B.id, (await h.platform.deployments.register(B)).agentSecret);
  });
  after(() => h.close());

  async function dial(headers: Record<string, string>, host: string, to: string): Promise<string> {
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers, body: { to, stream_url: `wss://${host}/v1/media/list-${to.slice(-4)}-abcdefgh`, stream_auth_token: STREAM_TOKEN } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.call_control_id as string;
  }

  it('newest first, billed from the provider, only its own', async () => {
    const first = await dial(a, A.tunnelHost, '+15551230101');
    await new Promise((r) => setTimeout(r, 5));
    const second = await dial(a, A.tunnelHost, '+15551230102');
    const others = await dial(b, B.tunnelHost, '+15551230103');
    const fake = h.provider.calls.get(first)!;
    fake.alive = false;
    fake.durationMs = 61_500;
    await postWebhook(h, envelope('call.hangup', { call_control_id: first, from: fake.from, to: fake.to, direction: 'outgoing', hangup_cause: 'normal_clearing' }));
    for (let i = 0; i < 200 && !(await h.platform.calls.get(first))?.billing; i++) await new Promise((r) => setTimeout(r, 10));

    const listed = await call(h.base, 'GET', '/v1/signal/calls?limit=10', { headers: a });
    assert.equal(listed.status, 200);
    const ids = listed.body.calls.map((c: { call_control_id: string }) => c.call_control_id);
    assert.deepEqual(ids, [second, first]);
    assert.ok(!ids.includes(others));
    const ended = listed.body.calls[1];
    assert.equal(ended.direction, 'outgoing');
    assert.equal(ended.from, A.numbers[0]);
    assert.equal(ended.state, 'ended');
    assert.equal(ended.duration_ms, 61_500);
    assert.equal(ended.billed_minutes, 62);
    assert.equal(ended.cost_usd, '0.6200');
    assert.equal(ended.hangup_cause, 'normal_clearing');
    assert.equal('usage_flags' in ended || 'deployment_id' in ended || 'timeline' in ended, false, 'no review or internal fields');

    const one = await call(h.base, 'GET', '/v1/signal/calls?limit=1', { headers: a });
    assert.deepEqual(one.body.calls.map((c: { call_control_id: string }) => c.call_control_id), [second]);
    assert.deepEqual((await call(h.base, 'GET', '/v1/signal/calls', { headers: b })).body.calls.map((c: { call_control_id: string }) => c.call_control_id), [others]);
    for (const bad of ['0', '101', 'x', '-1']) {
      const refused = await call(h.base, 'GET', `/v1/signal/calls?limit=${bad}`, { headers: a });
      assert.equal(refused.status, 400, bad);
    }
    const anonymous = await call(h.base, 'GET', '/v1/signal/calls');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'TTMA_ERR_AUTH');
  });
});
