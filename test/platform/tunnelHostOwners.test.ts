/**
 * One tunnel host, one deployment (FAQ-13), through the operator API an operator uses: a create,
 * an update or an import naming a host another deployment holds is refused (409
 * TTMA_ERR_TUNNEL_HOST_TAKEN, naming the holder) and leaves nothing behind; a deployment may name
 * its own host again. Deployments stored sharing a host before the rule keep working and are
 * named once at the platform's start. The store-level rule (every store, concurrent claims) is in
 * deploymentStore.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { legacyMemoryStore, storedDeployment } from '../helpers/legacyDeployments.js';
import { adminHeaders, call, startHarness, waitFor, type Harness } from './helpers.js';

const SHARED = 'shared.trycloudflare.com';
const OLD_A = storedDeployment('old-a', ['+15551760001'], SHARED);
const OLD_B = storedDeployment('old-b', ['+15551760002'], SHARED);
const OWN = { id: 'own-host', numbers: ['+15551760003'], tunnelHost: 'own-host.trycloudflare.com' };

describe('one tunnel host, one deployment, through the operator API', () => {
  let h: Harness;
  let closeStore: () => Promise<void>;
  before(async () => {
    const legacy = await legacyMemoryStore([OLD_A, OLD_B]);
    closeStore = legacy.close;
    h = await startHarness({ deploymentStore: legacy.store });
    await h.platform.deployments.register(OWN);
  });
  after(async () => {
    await h?.close();
    await closeStore?.();
  });

  const shared = () => h.lines.filter((l) => l.includes(`tunnel host ${SHARED} is registered to 2 deployments`));
  const refusal = (res: { status: number; body: { error?: { code?: string; message?: string } } }) => [res.status, res.body.error?.code, res.body.error?.message];

  it('at start: a host stored for two deployments is named once, with both, and both keep working', async () => {
    await waitFor('the start warning', () => shared().length > 0);
    const line = JSON.parse(shared()[0]!) as { level: number; msg: string; tunnelHost: string; deployments: string[]; code: string };
    assert.equal(line.level, 40, 'a warning');
    assert.deepEqual([line.tunnelHost, line.deployments, line.code], [SHARED, ['old-a', 'old-b'], 'TTMA_ERR_TUNNEL_HOST_TAKEN']);
    assert.match(line.msg, /give each its own tunnel host \(PATCH tunnelHost\)/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(shared().length, 1, 'once');
    const patched = await call(h.base, 'PATCH', '/v1/admin/deployments/old-b', { headers: adminHeaders(), body: { caps: { dayMinutes: 3 } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  });

  it('create: a host another deployment holds is refused, naming it; nothing is stored', async () => {
    const res = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: { id: 'thief', numbers: ['+15551760009'], tunnelHost: OWN.tunnelHost } });
    const [status, code, message] = refusal(res);
    assert.deepEqual([status, code], [409, 'TTMA_ERR_TUNNEL_HOST_TAKEN']);
    assert.match(String(message), /tunnel host own-host\.trycloudflare\.com is already registered to deployment own-host/);
    assert.equal(await h.platform.deployments.get('thief'), undefined);
    assert.equal(await h.platform.deployments.findByNumber('+15551760009'), undefined);
  });

  it('update: PATCH to a host another holds is refused and changes nothing; to its own host it is fine', async () => {
    const res = await call(h.base, 'PATCH', '/v1/admin/deployments/old-a', { headers: adminHeaders(), body: { tunnelHost: OWN.tunnelHost, caps: { dayMinutes: 4 } } });
    assert.deepEqual(refusal(res).slice(0, 2), [409, 'TTMA_ERR_TUNNEL_HOST_TAKEN']);
    const kept = await h.platform.deployments.get('old-a');
    assert.deepEqual([kept?.tunnelHost, kept?.caps.dayMinutes], [SHARED, 600], 'nothing changed');
    const own = await call(h.base, 'PATCH', `/v1/admin/deployments/${OWN.id}`, { headers: adminHeaders(), body: { tunnelHost: OWN.tunnelHost, recording: false } });
    assert.equal(own.status, 200, JSON.stringify(own.body));
  });

  it('import: a record holding a taken host is refused with its reason; another record still imports', async () => {
    const exported = await call(h.base, 'GET', '/v1/admin/deployments-export', { headers: adminHeaders() });
    const own = (exported.body.deployments as Array<Record<string, unknown>>).find((d) => d['id'] === OWN.id)!;
    const clash = await call(h.base, 'POST', '/v1/admin/deployments-import', { headers: adminHeaders(), body: { ...own, id: 'imported-clash', numbers: ['+15551760010'] } });
    assert.deepEqual(refusal(clash).slice(0, 2), [409, 'TTMA_ERR_TUNNEL_HOST_TAKEN']);
    assert.equal(await h.platform.deployments.get('imported-clash'), undefined);
    const fine = await call(h.base, 'POST', '/v1/admin/deployments-import', {
      headers: adminHeaders(),
      body: { ...own, id: 'imported-fine', numbers: ['+15551760011'], tunnelHost: 'imported-fine.trycloudflare.com' },
    });
    assert.equal(fine.status, 201, JSON.stringify(fine.body));
  });
});
