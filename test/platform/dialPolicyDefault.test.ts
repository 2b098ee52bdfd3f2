/**
 * A new deployment's default dialling policy is its own numbers' country calling codes, not
 * every "+" number (toll fraud): +1 and +44 numbers may dial +1 and +44, not +33
 * (TTMA_ERR_DIAL_POLICY, nothing reaching the provider). An explicit ["+"] still allows
 * anywhere; a stored policy is kept when the numbers change.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultDialPrefixes } from '../../src/platform/DeploymentRegistry.js';
import { countryCallingCode } from '../../src/wire/countryCallingCodes.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, startHarness, type Harness } from './helpers.js';

const TWO = { id: 'dial-two', numbers: ['+15550100001', '+442071234567'], tunnelHost: 'two.trycloudflare.com' };
const ANY = { id: 'dial-any', numbers: ['+15550100002'], tunnelHost: 'any.trycloudflare.com', dialPolicy: { allowPrefixes: ['+'] } };

describe('the default dialling policy', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
  });
  after(() => h.close());

  let seq = 0;
  const dial = (d: { id: string; tunnelHost: string }, secret: string, to: string) =>
    call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(d.id, secret),
      body: { to, stream_url: `wss://${d.tunnelHost}/v1/media/dial-${Date.now()}-${++seq}`, stream_auth_token: STREAM_TOKEN },
    });

  it('country calling codes from the ITU list: one per number, the longest assigned', () => {
    const cases: Array<[string, string | null]> = [
      ['+15550100001', '+1'], ['+442071234567', '+44'], ['+33612345678', '+33'], ['+4915112345678', '+49'],
      ['+79161234567', '+7'], ['+35312345678', '+353'], ['+8613812345678', '+86'], ['+97142345678', '+971'],
      ['+2812345678', null], ['12345678', null],
    ];
    for (const [number, code] of cases) assert.equal(countryCallingCode(number), code, number);
    assert.deepEqual(defaultDialPrefixes(['+15550100001', '+15550100003', '+442071234567']), ['+1', '+44']);
    assert.deepEqual(defaultDialPrefixes(['+2812345678']), ['+281'], 'a spare code stands for its first three digits');
  });

  it('a new deployment with +1 and +44 numbers dials +1 and +44, and is refused +33 with TTMA_ERR_DIAL_POLICY', async () => {
    const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: TWO });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.dialPolicy, { allowPrefixes: ['+1', '+44'] });
    const secret = created.body.agentSecret as string;
    for (const to of ['+15557654321', '+447700900123']) {
      const ok = await dial(TWO, secret, to);
      assert.equal(ok.status, 200, `${to}: ${JSON.stringify(ok.body)}`);
    }
    const dialsBefore = h.provider.requests.filter((r) => r.method === 'POST').length;
    for (const to of ['+33612345678', '+4915112345678', '+8613812345678']) {
      const refused = await dial(TWO, secret, to);
      assert.equal(refused.status, 403, to);
      assert.equal(refused.body.error.code, 'TTMA_ERR_DIAL_POLICY', to);
    }
    assert.equal(h.provider.requests.filter((r) => r.method === 'POST').length, dialsBefore, 'nothing reached the provider');
  });

  it('an explicit ["+"] still allows +33 (the premium-rate ranges stay refused)', async () => {
    const { agentSecret } = await h.platform.deployments.register(ANY);
    const ok = await dial(ANY, agentSecret, '+33612345678');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await dial(ANY, agentSecret, '+19005550123')).status, 403);
  });

  it('the policy is set once: new numbers of another country do not widen it, a stored ["+"] is not narrowed', async () => {
    const patched = await call(h.base, 'PATCH', `/v1/admin/deployments/${TWO.id}`, { headers: adminHeaders(), body: { numbers: [...TWO.numbers, '+33140000000'] } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.dialPolicy, { allowPrefixes: ['+1', '+44'] });
    const any = await call(h.base, 'PATCH', `/v1/admin/deployments/${ANY.id}`, { headers: adminHeaders(), body: { numbers: ['+15550100009'] } });
    assert.deepEqual(any.body.dialPolicy, { allowPrefixes: ['+'] });
  });
});
