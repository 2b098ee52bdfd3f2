/**
 * A shared country code's short prefix now means only its main country (src/wire/sharedCodeAreas.ts),
 * so a deployment stored earlier with a Jersey number and `+44`, or a Jamaican one and `+1`, is
 * refused its own area. The platform says so: once per such deployment at start (naming it, the
 * area and the prefixes to add), and in the operator API's answer (`warnings`) when one is created,
 * updated or imported with such a policy, which is stored as given (it refuses more, spending nothing).
 * A policy that never named the country, or names part of the area, is the operator's intent: no
 * warning. Before, nothing was said until a dial failed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryDeploymentStore, type Deployment } from '../../src/platform/DeploymentRegistry.js';
import { unreachedOwnAreas } from '../../src/platform/dialPolicyReach.js';
import { adminHeaders, call, waitFor, startHarness, type Harness } from './helpers.js';

const JERSEY = '+441534123456';
const JAMAICA = '+18765550100';
const LONDON = '+442071234567';

function stored(id: string, numbers: string[], allowPrefixes: string[]): Deployment {
  return {
    id,
    numbers,
    tunnelHost: `${id}.trycloudflare.com`,
    agentSecretSha256: Buffer.alloc(32, 1),
    disabled: false,
    caps: { dayMinutes: 600, monthMinutes: 6_000 },
    recording: true,
    dialPolicy: { allowPrefixes },
  };
}

describe('a dialling policy that does not reach the area of its own numbers', () => {
  it('the check: "+44" misses Jersey, "+1" Jamaica; naming the area, "+", or never naming the country does not count', () => {
    assert.deepEqual(unreachedOwnAreas(stored('a', [JERSEY], ['+44'])), [
      { number: JERSEY, area: 'Jersey', add: ['+441534', '+447509', '+4477003', '+4477007', '+4477008', '+447797', '+447829', '+447937'] },
    ]);
    assert.deepEqual(unreachedOwnAreas(stored('a', [LONDON, JAMAICA, '+18765550101'], ['+1', '+44'])), [{ number: JAMAICA, area: 'Jamaica', add: ['+1658', '+1876'] }], 'one entry per area');
    assert.deepEqual(unreachedOwnAreas(stored('a', [JAMAICA], ['+1', '+1876'])), [{ number: JAMAICA, area: 'Jamaica', add: ['+1658'] }], "the area's other NPA");
    assert.deepEqual(unreachedOwnAreas(stored('a', [JERSEY], ['+441534'])), [], 'part of the area, by name: intent');
    assert.deepEqual(unreachedOwnAreas(stored('a', [JERSEY], ['+'])), []);
    assert.deepEqual(unreachedOwnAreas(stored('a', [JERSEY], ['+1'])), [], 'a policy that never named +44');
    assert.deepEqual(unreachedOwnAreas(stored('a', [JERSEY], [])), []);
    assert.deepEqual(unreachedOwnAreas(stored('a', [LONDON], ['+44'])), [], 'the main country');
    assert.deepEqual(unreachedOwnAreas(stored('a', ['+77172123456'], ['+7'])), [{ number: '+77172123456', area: 'Kazakhstan', add: ['+76', '+77'] }]);
  });

  describe('on the embedded store', () => {
    let h: Harness;
    before(async () => {
      const store = new MemoryDeploymentStore();
      // Stored before the shared codes' stricter meaning.
      await store.insert(stored('old-jersey', [JERSEY], ['+44']));
      await store.insert(stored('old-jamaica', [JAMAICA], ['+1']));
      await store.insert(stored('old-london', [LONDON], ['+44']));
      await store.insert(stored('old-uk-only', ['+441534999999'], ['+441534']));
      h = await startHarness({ deploymentStore: store });
    });
    after(() => h.close());

    const warningsFor = (id: string) => h.lines.filter((l) => l.includes(`deployment ${id}: its dialling policy does not reach`));

    it('at start: one warning per stored deployment cut off from its own area, with the prefixes to add', async () => {
      await waitFor('the start warnings', () => warningsFor('old-jersey').length > 0 && warningsFor('old-jamaica').length > 0);
      const [jersey] = warningsFor('old-jersey');
      const line = JSON.parse(jersey!) as { level: number; msg: string; deployment: string; areas: string[]; add: string[] };
      assert.equal(line.level, 40, 'a warning');
      assert.equal(line.deployment, 'old-jersey');
      assert.deepEqual(line.areas, ['Jersey']);
      assert.match(line.msg, new RegExp(`reach Jersey, the area of its number \\${JERSEY} .*: add \\+441534, \\+447509`));
      assert.match(warningsFor('old-jamaica')[0]!, /reach Jamaica, the area of its number \+18765550100 .*add \+1658, \+1876 to dialPolicy\.allowPrefixes/);
      assert.equal(warningsFor('old-jersey').length, 1, 'once');
      assert.equal(warningsFor('old-london').length, 0);
      assert.equal(warningsFor('old-uk-only').length, 0);
    });

    it('create: such a policy is stored as given, and the answer warns', async () => {
      const res = await call(h.base, 'POST', '/v1/admin/deployments', {
        headers: adminHeaders(),
        body: { id: 'new-jersey', numbers: ['+441534555555'], tunnelHost: 'new-jersey.trycloudflare.com', dialPolicy: { allowPrefixes: ['+44'] } },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.dialPolicy, { allowPrefixes: ['+44'] });
      assert.equal(res.body.warnings.length, 1);
      assert.match(res.body.warnings[0], /^deployment new-jersey: its dialling policy does not reach Jersey, .*add \+441534, /);
      assert.equal(warningsFor('new-jersey').length, 1, 'and logs it');
      const byDefault = await call(h.base, 'POST', '/v1/admin/deployments', {
        headers: adminHeaders(),
        body: { id: 'new-jersey-default', numbers: ['+441534666666'], tunnelHost: 'new-jersey-default.trycloudflare.com' },
      });
      assert.equal(byDefault.status, 201, JSON.stringify(byDefault.body));
      assert.equal(byDefault.body.warnings, undefined, 'the default policy names the area');
    });

    it('import: a deployment exported before is stored as exported, and the answer warns', async () => {
      const exported = await call(h.base, 'GET', '/v1/admin/deployments-export', { headers: adminHeaders() });
      assert.equal(exported.status, 200, JSON.stringify(exported.body));
      const jamaica = (exported.body.deployments as { id: string }[]).find((d) => d.id === 'old-jamaica')!;
      // As if into another platform: a new id, number and tunnel host, so the import does not conflict.
      const res = await call(h.base, 'POST', '/v1/admin/deployments-import', {
        headers: adminHeaders(),
        body: { ...jamaica, id: 'imported-jamaica', numbers: ['+18765550199'], tunnelHost: 'imported-jamaica.trycloudflare.com' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.warnings?.[0] ?? '', /^deployment imported-jamaica: its dialling policy does not reach Jamaica/);
    });

    it('update: adding a number the policy does not reach warns; adding its prefixes clears it', async () => {
      const res = await call(h.base, 'PATCH', '/v1/admin/deployments/old-london', { headers: adminHeaders(), body: { numbers: [LONDON, '+441481123456'] } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.warnings?.[0] ?? '', /does not reach Guernsey, the area of its number \+441481123456/);
      const fixed = await call(h.base, 'PATCH', '/v1/admin/deployments/old-london', {
        headers: adminHeaders(),
        body: { dialPolicy: { allowPrefixes: ['+44', '+441481', '+447781', '+447839', '+4479111', '+4479117'] } },
      });
      assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
      assert.equal(fixed.body.warnings, undefined);
    });
  });
});
