/**
 * The other shared country calling codes (src/wire/sharedCodeAreas.ts): a dialling policy's
 * "+44" is the UK, not Jersey, Guernsey or the Isle of Man; "+7" is not Abkhazia; "+39" not the
 * Vatican; "+47" not Svalbard; "+61" not Christmas Island or Cocos; "+358" not Åland; "+262" not
 * Mayotte; "+599" not the Caribbean Netherlands; "+212" not Western Sahara; "+290" not Tristan da
 * Cunha. Table-driven over every listed area: refused under its country code with the place and
 * the prefix to add, allowed by that prefix or "+"; numbers just outside each range still allowed
 * by the country code; the premium-rate floor still applies; a deployment of an island's number
 * defaults to the island's own prefixes.
 *
 * Before, the country code reached them all: every refusal below was placed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultDialPrefixes } from '../../src/platform/DeploymentRegistry.js';
import { countryCallingCode } from '../../src/wire/countryCallingCodes.js';
import { dialPrefixRefusal } from '../../src/wire/dialPrefixes.js';
import { SHARED_CODE_AREAS } from '../../src/wire/sharedCodeAreas.js';
import { adminHeaders, call } from './helpers.js';
import { startDialPolicyHarness, type DialPolicyHarness, type DialTarget } from './dialPolicyHarness.js';

interface Area {
  name: string;
  code: string;
  /** Digits after the country code in the area's numbers. */
  length: number;
  prefixes: readonly string[];
}

/** The table as the sources give it (the source file's comments cite them), kept apart on purpose. */
const AREAS: readonly Area[] = [
  { name: 'Abkhazia', code: '+7', length: 10, prefixes: ['+7840', '+7940'] },
  { name: 'Jersey', code: '+44', length: 10, prefixes: ['+441534', '+447509', '+4477003', '+4477007', '+4477008', '+447797', '+447829', '+447937'] },
  { name: 'Guernsey', code: '+44', length: 10, prefixes: ['+441481', '+447781', '+447839', '+4479111', '+4479117'] },
  { name: 'the Isle of Man', code: '+44', length: 10, prefixes: ['+441624', '+4474576', '+447524', '+447624', '+447924'] },
  { name: 'Vatican City', code: '+39', length: 10, prefixes: ['+3906698'] },
  { name: 'Svalbard and Jan Mayen', code: '+47', length: 8, prefixes: ['+4779'] },
  { name: 'Christmas Island', code: '+61', length: 9, prefixes: ['+6189164'] },
  { name: 'the Cocos (Keeling) Islands', code: '+61', length: 9, prefixes: ['+6189162'] },
  { name: 'Åland', code: '+358', length: 8, prefixes: ['+35818'] },
  { name: 'Mayotte', code: '+262', length: 9, prefixes: ['+262269', '+262639', '+26293980', '+26293981', '+26294780', '+26294781', '+2629769'] },
  { name: 'the Caribbean Netherlands (Bonaire, Sint Eustatius, Saba)', code: '+599', length: 7, prefixes: ['+5993', '+5994', '+5997'] },
  { name: 'Western Sahara', code: '+212', length: 9, prefixes: ['+2125288', '+2125289'] },
  { name: 'Tristan da Cunha', code: '+290', length: 4, prefixes: ['+2908'] },
];

/** Numbers next to the ranges above that stay with the main country: "+44" etc. still reaches them. */
const OUTSIDE: readonly string[] = [
  '+78312123456', '+78412123456', '+79391234567', '+79411234567',
  '+441535123456', '+441480123456', '+441482123456', '+441623123456', '+441625123456',
  '+447508123456', '+447510123456', '+447700012345', '+447700112345', '+447796123456', '+447798123456',
  '+447828123456', '+447830123456', '+447936123456', '+447938123456', '+447780123456', '+447782123456',
  '+447838123456', '+447840123456', '+447911012345', '+447911212345', '+447457512345', '+447457712345',
  '+447523123456', '+447525123456', '+447623123456', '+447625123456', '+447923123456', '+447925123456',
  '+390669712345', '+390669912345', '+393123456789',
  '+4778123456', '+4741234567',
  '+61891631234', '+61891651234', '+61412345678',
  '+35817123456', '+35819123456', '+358401234567',
  '+262262161234', '+262692123456', '+262939901234', '+262976221234',
  '+59995181234', '+59994351234', '+5996001234',
  '+212528012345', '+212528712345', '+212650123456',
  '+29022158', '+29051234',
];

const CODES = [...new Set(AREAS.map((a) => a.code))];
const NAMED = AREAS.flatMap((a) => a.prefixes);

/** A number of the area under `prefix`, `length` digits after the country code. */
function numberUnder(area: Area, prefix: string): string {
  const fill = '1234567890'.repeat(2);
  return prefix + fill.slice(0, area.length - (prefix.length - area.code.length));
}

function reason(area: Area, prefix: string): string {
  const listed = SHARED_CODE_AREAS.find((a) => a.name === area.name);
  assert.ok(listed, area.name);
  return `${prefix} is ${area.name}, ${listed.apart}: add ${prefix} to the dial policy to allow it`;
}

const cases = AREAS.flatMap((area) => area.prefixes.map((prefix) => ({ area, prefix, to: numberUnder(area, prefix) })));

describe('a shared country code reaches its main country only, not the territories behind it', () => {
  it('the table: every area the source lists is here, each prefix under its country code, none inside another', () => {
    const listed = SHARED_CODE_AREAS.filter((a) => !a.prefixes.some((p) => p.startsWith('+1')) && a.name !== 'Kazakhstan');
    assert.deepEqual(listed.map((a) => [a.name, a.prefixes]), AREAS.map((a) => [a.name, a.prefixes]));
    const all = SHARED_CODE_AREAS.flatMap((a) => a.prefixes);
    for (const p of all) {
      assert.ok(all.every((q) => q === p || !q.startsWith(p)), `${p} is not the start of another prefix`);
    }
    for (const { area, prefix, to } of cases) {
      assert.equal(countryCallingCode(to), area.code, `${prefix}: under ${area.code}`);
      assert.ok(prefix.length > area.code.length, prefix);
    }
  });

  it('the match, every area: refused by its country code with the place and what to add; allowed by its prefix or "+"', () => {
    for (const { area, prefix, to } of cases) {
      assert.equal(dialPrefixRefusal([area.code], to), reason(area, prefix), to);
      assert.equal(dialPrefixRefusal(CODES, to), reason(area, prefix), `${to}: every country code at once`);
      assert.equal(dialPrefixRefusal([area.code, prefix], to), null, to);
      assert.equal(dialPrefixRefusal([prefix], to), null, to);
      assert.equal(dialPrefixRefusal(['+'], to), null, to);
      const others = area.prefixes.filter((p) => p !== prefix);
      if (others.length > 0) assert.notEqual(dialPrefixRefusal([area.code, ...others], to), null, `${to}: another of its prefixes does not open it`);
    }
  });

  it('just outside each range: the country code still allows it', () => {
    for (const to of OUTSIDE) {
      assert.ok(CODES.includes(countryCallingCode(to) ?? ''), to);
      assert.equal(dialPrefixRefusal(CODES, to), null, to);
      assert.equal(dialPrefixRefusal([countryCallingCode(to)!], to), null, to);
    }
  });

  it("the default policy of a new deployment: an island's number gives the island's prefixes; a UK number \"+44\"", () => {
    for (const { area, to } of cases) assert.deepEqual(defaultDialPrefixes([to]), area.prefixes, to);
    assert.deepEqual(defaultDialPrefixes(['+442071234567']), ['+44']);
    assert.deepEqual(defaultDialPrefixes(['+442071234567', '+441534456789']), ['+44', ...AREAS[1]!.prefixes]);
  });
});

describe('the territories through the platform: dial refused with the reason, nothing reaching the provider', () => {
  const PARENTS = { id: 'terr-parents', numbers: ['+15550100400'], tunnelHost: 'parents.trycloudflare.com', dialPolicy: { allowPrefixes: CODES } };
  const OWN = { id: 'terr-own', numbers: ['+15550100401'], tunnelHost: 'own.trycloudflare.com', dialPolicy: { allowPrefixes: NAMED } };
  const ANY = { id: 'terr-any', numbers: ['+15550100402'], tunnelHost: 'anyterr.trycloudflare.com', dialPolicy: { allowPrefixes: ['+'] } };
  const UK = { id: 'terr-uk', numbers: ['+442071234500'], tunnelHost: 'ukterr.trycloudflare.com' };
  const JE = { id: 'terr-je', numbers: ['+441534456700'], tunnelHost: 'je.trycloudflare.com' };
  let p: DialPolicyHarness;
  before(async () => {
    p = await startDialPolicyHarness([PARENTS, OWN, ANY, UK, JE], 'terr');
  });
  after(() => p.h.close());
  const allowed = (d: DialTarget, to: string) => p.allowed(d, to);
  const refused = (d: DialTarget, to: string, reason: string | RegExp, code?: string) => p.refused(d, to, reason, code);

  it('a policy of the country codes: every area refused with its reason; the numbers next to them dialled', async () => {
    for (const { area, prefix, to } of cases) await refused(PARENTS, to, `destination refused by the dialling policy: ${reason(area, prefix)}`);
    for (const to of OUTSIDE) await allowed(PARENTS, to);
  });

  it("a policy naming the areas' prefixes: every area dialled, the main countries not", async () => {
    for (const { to } of cases) await allowed(OWN, to);
    for (const to of ['+442071234567', '+79161234567', '+390612345678']) await refused(OWN, to, /outside the deployment's allowed prefixes/);
  });

  it('"+": every area dialled; the premium-rate floor still refuses +44 9 (a Jersey premium number too)', async () => {
    for (const { area, prefix } of cases.filter((c) => c.prefix === c.area.prefixes[0])) await allowed(ANY, numberUnder(area, prefix));
    for (const d of [ANY, PARENTS, UK]) await refused(d, '+449018105678', /premium-rate/, 'TTMA_ERR_DESTINATION_REFUSED');
  });

  it('a UK deployment\'s default "+44" (stored as such, as before) no longer reaches Jersey; a Jersey deployment dials Jersey, not the UK', async () => {
    const stored = await call(p.h.base, 'GET', `/v1/admin/deployments/${UK.id}`, { headers: adminHeaders() });
    assert.deepEqual(stored.body.dialPolicy, { allowPrefixes: ['+44'] });
    await allowed(UK, '+442071234567');
    await refused(UK, '+441534456789', /^destination refused by the dialling policy: \+441534 is Jersey, a Crown Dependency in the \+44 plan, not the UK: add \+441534 to the dial policy to allow it$/);
    await refused(UK, '+447624123456', /\+447624 is the Isle of Man/);
    const je = await call(p.h.base, 'GET', `/v1/admin/deployments/${JE.id}`, { headers: adminHeaders() });
    assert.deepEqual(je.body.dialPolicy, { allowPrefixes: AREAS[1]!.prefixes });
    await allowed(JE, '+441534456789');
    await allowed(JE, '+447797712345');
    await refused(JE, '+442071234567', /outside the deployment's allowed prefixes/);
    await refused(JE, '+441481256789', /outside the deployment's allowed prefixes/);
  });
});
