/**
 * "+1" in a dialling policy is the US and Canada, not the whole North American Numbering Plan
 * (toll fraud: +1 876 Jamaica, +1 809 the Dominican Republic and the rest of the Caribbean are
 * billed at international rates and dialled like domestic numbers). A number of another NANP
 * country, a US territory or a non-geographic service code is refused with the reason unless
 * the policy names its area ("+1876") or is "+"; "+7" is Russia, not Kazakhstan (+76, +77).
 * The default policy and one the operator sets behave alike; other countries are unaffected.
 *
 * Before, "+1" matched every +1 number: the Caribbean dials below were placed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultDialPrefixes } from '../../src/platform/DeploymentRegistry.js';
import { dialPrefixRefusal } from '../../src/wire/dialPrefixes.js';
import { SHARED_CODE_AREAS } from '../../src/wire/sharedCodeAreas.js';
import { countryCallingCode } from '../../src/wire/countryCallingCodes.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { adminHeaders, agentHeaders, call, envelope, postWebhook, type Harness } from './helpers.js';
import { startDialPolicyHarness, type DialPolicyHarness, type DialTarget } from './dialPolicyHarness.js';

const US = { id: 'nanp-us', numbers: ['+12125550100'], tunnelHost: 'us.trycloudflare.com' };
const SET = { id: 'nanp-set', numbers: ['+15550100200'], tunnelHost: 'set.trycloudflare.com', dialPolicy: { allowPrefixes: ['+1'] } };
const UK = { id: 'nanp-uk', numbers: ['+442071234567'], tunnelHost: 'uk.trycloudflare.com' };
const JM = { id: 'nanp-jm', numbers: ['+18765550100'], tunnelHost: 'jm.trycloudflare.com' };
const RU = { id: 'nanp-ru', numbers: ['+74951234567'], tunnelHost: 'ru.trycloudflare.com' };
const ANY = { id: 'nanp-any', numbers: ['+15550100300'], tunnelHost: 'any.trycloudflare.com', dialPolicy: { allowPrefixes: ['+'] } };

const NEW_YORK = '+12125550123';
const TORONTO = '+14165550123';
const TOLL_FREE = '+18005550123';
const JAMAICA = '+18765550123';
const DOMINICAN = '+18095550123';
const PREMIUM = '+19005550123';

describe('a dialling policy of +1 is the US and Canada', () => {
  let p: DialPolicyHarness;
  let h: Harness;
  before(async () => {
    p = await startDialPolicyHarness([US, SET, UK, JM, RU, ANY], 'nanp');
    h = p.h;
  });
  after(() => h.close());
  const allowed = (d: DialTarget, to: string) => p.allowed(d, to);
  const refused = (d: DialTarget, to: string, reason: RegExp, code?: string) => p.refused(d, to, reason, code);

  it('the area table: every +1 prefix is an NPA, once, and no US or Canadian geographic NPA', () => {
    const all = SHARED_CODE_AREAS.flatMap((a) => a.prefixes);
    assert.equal(new Set(all).size, all.length, 'no prefix twice');
    for (const p of all.filter((q) => q.startsWith('+1'))) assert.match(p, /^\+1[2-9]\d\d$/, p);
    // US and Canadian NPAs, toll-free and 555 (the tests' numbers) stay with "+1".
    for (const npa of ['212', '416', '604', '907', '808', '800', '833', '844', '855', '866', '877', '888', '555']) {
      assert.ok(!all.includes(`+1${npa}`), npa);
    }
    assert.equal(countryCallingCode(JAMAICA), '+1', 'still +1 for the country code table');
  });

  it('the match: "+1" refuses another NANP country with the reason; its NPA, or "+", allows it', () => {
    assert.equal(dialPrefixRefusal(['+1'], NEW_YORK), null);
    assert.equal(dialPrefixRefusal(['+1'], TOLL_FREE), null);
    assert.equal(
      dialPrefixRefusal(['+1'], JAMAICA),
      '+1876 is Jamaica, a separate country in the +1 plan: add +1876 to the dial policy to allow it',
    );
    assert.match(dialPrefixRefusal(['+1', '+44'], '+18295550123') ?? '', /^\+1829 is the Dominican Republic/);
    assert.match(dialPrefixRefusal(['+18'], JAMAICA) ?? '', /add \+1876/, 'a prefix shorter than the NPA does not name it');
    assert.equal(dialPrefixRefusal(['+1', '+1876'], JAMAICA), null);
    assert.equal(dialPrefixRefusal(['+18765'], JAMAICA), null, 'a longer prefix names the NPA too');
    assert.equal(dialPrefixRefusal(['+'], JAMAICA), null, '"+" is anywhere');
    assert.match(dialPrefixRefusal(['+1', '+1876'], '+16585550123') ?? '', /^\+1658 is Jamaica/, "one NPA does not open the country's other");
    assert.equal(dialPrefixRefusal(['+44'], JAMAICA), "outside the deployment's allowed prefixes");
    assert.match(dialPrefixRefusal(['+7'], '+77011234567') ?? '', /^\+77 is Kazakhstan, a separate country in the \+7 plan/);
    assert.equal(dialPrefixRefusal(['+7'], '+79161234567'), null);
  });

  it('the default policy: a US number gives ["+1"], a Jamaican one its own NPAs, a Russian one ["+7"]', () => {
    assert.deepEqual(defaultDialPrefixes(US.numbers), ['+1']);
    assert.deepEqual(defaultDialPrefixes(JM.numbers), ['+1658', '+1876']);
    assert.deepEqual(defaultDialPrefixes(['+17875550100', '+12125550100']), ['+1787', '+1939', '+1']);
    assert.deepEqual(defaultDialPrefixes(RU.numbers), ['+7']);
    assert.deepEqual(defaultDialPrefixes(['+77172123456']), ['+76', '+77']);
  });

  for (const [label, d] of [['the default policy of a +1 US number', US], ['an explicit "+1" set by the operator', SET]] as const) {
    it(`${label}: the US, Canada and toll-free are dialled; Jamaica, the Dominican Republic, Puerto Rico and a personal number are refused with the reason; +1 900 stays refused`, async () => {
      const stored = await call(h.base, 'GET', `/v1/admin/deployments/${d.id}`, { headers: adminHeaders() });
      assert.deepEqual(stored.body.dialPolicy, { allowPrefixes: ['+1'] });
      for (const to of [NEW_YORK, TORONTO, TOLL_FREE]) await allowed(d, to);
      await refused(d, JAMAICA, /^destination refused by the dialling policy: \+1876 is Jamaica, a separate country in the \+1 plan: add \+1876 to the dial policy to allow it$/);
      await refused(d, DOMINICAN, /\+1809 is the Dominican Republic, a separate country in the \+1 plan: add \+1809/);
      await refused(d, '+12845550123', /\+1284 is the British Virgin Islands, a separate territory in the \+1 plan/);
      await refused(d, '+17875550123', /\+1787 is Puerto Rico, a US territory/);
      await refused(d, '+15005550123', /\+1500 is a personal-number code/);
      await refused(d, PREMIUM, /premium-rate/, 'TTMA_ERR_DESTINATION_REFUSED');
    });
  }

  it('with "+1876" added, Jamaica is dialled; the Dominican Republic still is not', async () => {
    const patched = await call(h.base, 'PATCH', `/v1/admin/deployments/${US.id}`, { headers: adminHeaders(), body: { dialPolicy: { allowPrefixes: ['+1', '+1876'] } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await allowed(US, JAMAICA);
    await allowed(US, NEW_YORK);
    await refused(US, DOMINICAN, /\+1809 is the Dominican Republic/);
  });

  it('a transfer is held to the same policy', async () => {
    const callId = 'v3:nanp-transfer';
    h.provider.calls.set(callId, { direction: 'incoming', from: '+15550009999', to: SET.numbers[0]!, alive: true });
    await postWebhook(h, envelope('call.initiated', { call_control_id: callId, from: '+15550009999', to: SET.numbers[0]!, direction: 'incoming' }));
    const headers = agentHeaders(SET.id, p.secret(SET.id));
    const res = await call(h.base, 'POST', PLATFORM_PATHS.transfer(callId), { headers, body: { to: JAMAICA } });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'TTMA_ERR_DIAL_POLICY');
    assert.match(res.body.error.message, /\+1876 is Jamaica/);
  });

  it('a UK deployment is unaffected: +44 is dialled, +33 and Jamaica are outside its prefixes', async () => {
    await allowed(UK, '+447700900123');
    await refused(UK, '+33612345678', /outside the deployment's allowed prefixes/);
    await refused(UK, JAMAICA, /outside the deployment's allowed prefixes/);
  });

  it('a Jamaican deployment dials Jamaica by default, not the US', async () => {
    await allowed(JM, '+18765550999');
    await allowed(JM, '+16585550123');
    await refused(JM, NEW_YORK, /outside the deployment's allowed prefixes/);
  });

  it('"+7" is Russia: Kazakhstan is refused with the reason', async () => {
    await allowed(RU, '+79161234567');
    await refused(RU, '+77011234567', /\+77 is Kazakhstan, a separate country in the \+7 plan: add \+77/);
  });

  it('an explicit "+" still reaches the Caribbean (the premium-rate ranges stay refused)', async () => {
    await allowed(ANY, JAMAICA);
    await refused(ANY, PREMIUM, /premium-rate/, 'TTMA_ERR_DESTINATION_REFUSED');
  });
});
