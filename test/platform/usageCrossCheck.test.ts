/**
 * Usage cross-check (FAQ-14): a tampered gateway report changes neither
 * billing nor caps (both come from the provider's call detail record) and is
 * flagged; unreported calls and calls the provider never saw are flagged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { durationsDisagree } from '../../src/platform/UsageLedger.js';
import { adminHeaders, agentHeaders, call, dialledAndEnded, startHarness, type Harness } from './helpers.js';

const DEP = { id: 'usage-dep', numbers: ['+15557770001'], tunnelHost: 'usage.trycloudflare.com', caps: { dayMinutes: 1000, monthMinutes: 10000 } };
const UNIT_MS = 1_000;

describe('usage cross-check', () => {
  let h: Harness;
  let headers: Record<string, string>;
  before(async () => {
    h = await startHarness({ capUnitMs: UNIT_MS, usageReportGraceMs: 200, cdr: { attempts: 2, backoffMs: 10 }, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    headers = agentHeaders(DEP.id, (await h.platform.deployments.register(DEP)).agentSecret);
  });
  after(() => h.close());

  async function endedCall(providerMs: number): Promise<string> {
    const id = await dialledAndEnded(h, headers, DEP.tunnelHost, providerMs, '+15551234567');
    for (let i = 0; i < 200 && !(await h.platform.calls.get(id))?.billing; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok((await h.platform.calls.get(id))?.billing, 'settled');
    return id;
  }

  it('flags by max(2 s, 2 %)', () => {
    assert.equal(durationsDisagree(10_000, 12_000), false);
    assert.equal(durationsDisagree(10_000, 12_001), true);
    assert.equal(durationsDisagree(200_000, 204_000), false);
    assert.equal(durationsDisagree(200_000, 195_999), true);
  });

  it('a tampered gateway report leaves billing and caps on the provider figure, and is flagged', async () => {
    const honest = await endedCall(30_500);
    const ok = await call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(honest)}/usage`, { headers, body: { duration_ms: 30_000 } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.flags, []);
    const usageBefore = await h.platform.caps.usage(DEP.id);

    const tampered = await endedCall(90_200);
    const lie = await call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(tampered)}/usage`, { headers, body: { duration_ms: 1_000 } });
    assert.equal(lie.status, 200);
    assert.deepEqual(lie.body.flags, ['duration_mismatch']);
    // A second, "corrected" report cannot revise the first.
    const again = await call(h.base, 'POST', `/v1/signal/calls/${encodeURIComponent(tampered)}/usage`, { headers, body: { duration_ms: 90_000 } });
    assert.deepEqual(again.body.flags, ['duration_mismatch']);

    const billing = (await h.platform.calls.get(tampered))?.billing;
    assert.deepEqual(billing, { source: 'cdr', durationMs: 90_200, billedMinutes: 91, costMicroUsd: 910_000 });
    assert.deepEqual(await h.platform.caps.usage(DEP.id), { day: usageBefore.day + 91, month: usageBefore.month + 91 });
    const listed = await call(h.base, 'GET', `/v1/admin/calls?deployment=${DEP.id}&flagged=1`, { headers: adminHeaders() });
    assert.equal(listed.body.calls.length, 1);
    assert.equal(listed.body.calls[0].call_control_id, tampered);
    assert.equal(listed.body.calls[0].duration_ms, 90_200);
    assert.equal(listed.body.calls[0].billed_minutes, 91);
    assert.equal(listed.body.calls[0].cost_usd, '0.9100');
    assert.equal(listed.body.calls[0].gateway_reported_ms, 1_000);
    assert.ok(h.lines.some((l) => l.includes('"flag":"duration_mismatch"') && l.includes(tampered)));
  });

  it('flags a call the gateway never reported, and a report for a call the provider never saw', async () => {
    const silent = await endedCall(5_000);
    await new Promise((r) => setTimeout(r, 300));
    const unknown = await call(h.base, 'POST', '/v1/signal/calls/v3%3Aghost-call/usage', { headers, body: { duration_ms: 5_000 } });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.error.code, 'TTMA_ERR_CALL_NOT_OWNED');
    const usage = await call(h.base, 'GET', `/v1/admin/usage?deployment=${DEP.id}&flagged=1`, { headers: adminHeaders() });
    const byId = new Map(usage.body.usage.map((u: { call_control_id: string; flags: string[] }) => [u.call_control_id, u.flags]));
    assert.deepEqual(byId.get(silent), ['unreported']);
    assert.deepEqual(byId.get('v3:ghost-call'), ['unknown_to_provider']);
  });
});
