/**
 * The local operator API: its own admin credential; create, read, update,
 * rotate the secret, disable and enable deployments; the secret returned
 * once and stored only as SHA-256; call records listed with filters.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { ADMIN_TOKEN, STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const NEW = { id: 'op-dep', numbers: ['+15556660001'], tunnelHost: 'op.trycloudflare.com' };

describe('operator API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
  });
  after(() => h.close());

  const dial = (to = '+15557654321') => ({ to, stream_url: `wss://${NEW.tunnelHost}/v1/media/op-${Date.now()}`, stream_auth_token: STREAM_TOKEN });

  it('refuses without the admin credential, and an agent secret is not one', async () => {
    for (const headers of [{}, adminHeaders('x'.repeat(30)), { authorization: ADMIN_TOKEN }]) {
      const res = await call(h.base, 'GET', '/v1/admin/deployments', { headers });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'TTMA_ERR_AUTH');
    }
  });

  it('a malformed %-escape in a deployment path: 401 without the token, 404 with it, never a 500 or an error line', async () => {
    const paths = ['/v1/admin/deployments/%E0%A4%A', '/v1/admin/deployments/%', '/v1/admin/deployments/%E0%A4%A/disable'];
    for (const path of paths) {
      const method = path.endsWith('/disable') ? 'POST' : 'GET';
      const anonymous = await call(h.base, method, path, method === 'POST' ? { body: {} } : {});
      assert.deepEqual([anonymous.status, anonymous.body.error.code], [401, 'TTMA_ERR_AUTH'], path);
      const admin = await call(h.base, method, path, { headers: adminHeaders(), ...(method === 'POST' ? { body: {} } : {}) });
      assert.deepEqual([admin.status, admin.body.error.code], [404, 'TTMA_ERR_NOT_FOUND'], path);
    }
    assert.ok(!h.lines.some((l) => l.includes('URIError') || l.includes('"level":50')), 'no error-level line, no stack');
  });

  let secret = '';
  it('creates a deployment with defaults, returning the secret once and storing only its SHA-256', async () => {
    const res = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: NEW });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    secret = res.body.agentSecret;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(res.body.recording, true, 'recording is on by default');
    assert.deepEqual(res.body.caps, { dayMinutes: 600, monthMinutes: 6000 });
    const stored = await h.platform.deployments.get(NEW.id);
    assert.deepEqual(stored?.agentSecretSha256, createHash('sha256').update(secret).digest());
    const read = await call(h.base, 'GET', `/v1/admin/deployments/${NEW.id}`, { headers: adminHeaders() });
    assert.equal(read.status, 200);
    assert.equal(read.body.agentSecret, undefined);
    assert.equal(JSON.stringify(read.body).includes(secret), false);
    assert.equal(JSON.stringify(read.body).includes(stored!.agentSecretSha256.toString('hex')), false);
    assert.deepEqual(read.body.usage_minutes, { day: 0, month: 0 });
    const list = await call(h.base, 'GET', '/v1/admin/deployments', { headers: adminHeaders() });
    assert.deepEqual(list.body.deployments.map((d: { id: string }) => d.id), [NEW.id]);
    const again = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: NEW });
    assert.equal(again.status, 409);
  });

  it('updates caps, recording, numbers and policy; refuses unknown fields and taken numbers', async () => {
    const patched = await call(h.base, 'PATCH', `/v1/admin/deployments/${NEW.id}`, {
      headers: adminHeaders(),
      body: { caps: { dayMinutes: 5 }, recording: false, dialPolicy: { allowPrefixes: ['+1555'] } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.caps, { dayMinutes: 5, monthMinutes: 6000 });
    assert.equal(patched.body.recording, false);
    const bad = await call(h.base, 'PATCH', `/v1/admin/deployments/${NEW.id}`, { headers: adminHeaders(), body: { agentSecretSha256: 'ab' } });
    assert.equal(bad.status, 400);
    const badCap = await call(h.base, 'PATCH', `/v1/admin/deployments/${NEW.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: -1 } } });
    assert.equal(badCap.status, 400);
    await h.platform.deployments.register({ id: 'other-dep', numbers: ['+15556660002'], tunnelHost: 'other.trycloudflare.com' });
    const taken = await call(h.base, 'PATCH', `/v1/admin/deployments/${NEW.id}`, { headers: adminHeaders(), body: { numbers: ['+15556660002'] } });
    assert.equal(taken.status, 409);
    const moved = await call(h.base, 'PATCH', `/v1/admin/deployments/${NEW.id}`, { headers: adminHeaders(), body: { numbers: ['+15556660003'] } });
    assert.equal(moved.status, 200);
    assert.equal((await h.platform.deployments.findByNumber('+15556660003'))?.id, NEW.id);
    assert.equal(await h.platform.deployments.findByNumber('+15556660001'), undefined);
    const missing = await call(h.base, 'PATCH', '/v1/admin/deployments/nobody-here', { headers: adminHeaders(), body: {} });
    assert.equal(missing.status, 404);
  });

  it('rotates the secret: the old one stops working at once, the new one works', async () => {
    const before = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(NEW.id, secret), body: dial() });
    assert.equal(before.status, 200, JSON.stringify(before.body));
    const rotated = await call(h.base, 'POST', `/v1/admin/deployments/${NEW.id}/rotate-secret`, { headers: adminHeaders(), body: {} });
    assert.equal(rotated.status, 200);
    const fresh = rotated.body.agentSecret as string;
    assert.notEqual(fresh, secret);
    const old = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(NEW.id, secret), body: dial() });
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'TTMA_ERR_AUTH');
    const ok = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(NEW.id, fresh), body: dial() });
    assert.equal(ok.status, 200);
    assert.ok(h.lines.some((l) => l.includes('agent secret rotated') && !l.includes(fresh)));
    secret = fresh;
  });

  it('a supplied secret is set, never echoed (rotate and create); a generated one is returned once', async () => {
    const supplied = `supplied-${'k'.repeat(40)}`;
    const rotated = await call(h.base, 'POST', `/v1/admin/deployments/${NEW.id}/rotate-secret`, { headers: adminHeaders(), body: { agentSecret: supplied } });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(JSON.stringify(rotated.body).includes(supplied), false, JSON.stringify(rotated.body));
    assert.equal(rotated.body.agentSecretSet, true);
    assert.equal(rotated.body.agentSecret, undefined);
    assert.equal((await h.platform.deployments.authenticate(NEW.id, supplied)).id, NEW.id, 'the supplied secret is the one set');
    const other = { id: 'dep-supplied', numbers: ['+15550107777'], tunnelHost: 'sup.trycloudflare.com', agentSecret: `created-${'c'.repeat(40)}` };
    const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: other });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(JSON.stringify(created.body).includes(other.agentSecret), false);
    assert.equal(created.body.agentSecretSet, true);
    assert.ok(!h.lines.some((l) => l.includes(supplied) || l.includes(other.agentSecret)), 'nor logged');
    // Back to a generated one: returned, this once.
    const generated = await call(h.base, 'POST', `/v1/admin/deployments/${NEW.id}/rotate-secret`, { headers: adminHeaders(), body: {} });
    assert.match(generated.body.agentSecret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(generated.body.agentSecretSet, undefined);
    secret = generated.body.agentSecret as string;
  });

  it('disables (refused with TTMA_ERR_DEPLOYMENT_DISABLED) and enables', async () => {
    assert.equal((await call(h.base, 'POST', `/v1/admin/deployments/${NEW.id}/disable`, { headers: adminHeaders(), body: {} })).status, 200);
    const refused = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(NEW.id, secret), body: dial() });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'TTMA_ERR_DEPLOYMENT_DISABLED');
    assert.equal((await call(h.base, 'POST', `/v1/admin/deployments/${NEW.id}/enable`, { headers: adminHeaders(), body: {} })).status, 200);
    const ok = await call(h.base, 'POST', PLATFORM_PATHS.dial, { headers: agentHeaders(NEW.id, secret), body: dial() });
    assert.equal(ok.status, 200);
  });

  it('lists call records with numbers, direction, times and cause, filtered', async () => {
    // An inbound call to the other deployment, answered and ended by the provider.
    const id = 'v3:op-inbound';
    const facts = { call_control_id: id, from: '+15550001111', to: '+15556660002', direction: 'incoming' as const };
    await postWebhook(h, envelope('call.initiated', facts, { occurredAt: '2025-03-01T10:00:00.000Z' }));
    await postWebhook(h, envelope('call.answered', facts, { occurredAt: '2025-03-01T10:00:02.000Z' }));
    await postWebhook(h, envelope('call.hangup', { ...facts, hangup_cause: 'normal_clearing' }, { occurredAt: '2025-03-01T10:01:02.000Z' }));
    const all = await call(h.base, 'GET', '/v1/admin/calls', { headers: adminHeaders() });
    assert.equal(all.status, 200);
    const outbound = await call(h.base, 'GET', `/v1/admin/calls?deployment=${NEW.id}&direction=outgoing`, { headers: adminHeaders() });
    assert.equal(outbound.body.calls.length, 3);
    assert.ok(outbound.body.calls.every((c: { deployment_id: string; direction: string }) => c.deployment_id === NEW.id && c.direction === 'outgoing'));
    const byNumber = await call(h.base, 'GET', '/v1/admin/calls?number=%2B15550001111', { headers: adminHeaders() });
    assert.equal(byNumber.body.calls.length, 1);
    const record = byNumber.body.calls[0];
    assert.equal(record.deployment_id, 'other-dep');
    assert.equal(record.direction, 'incoming');
    assert.equal(record.answered_at, '2025-03-01T10:00:02.000Z');
    assert.equal(record.ended_at, '2025-03-01T10:01:02.000Z');
    assert.equal(record.hangup_cause, 'normal_clearing');
    assert.equal(record.state, 'ended');
    const limited = await call(h.base, 'GET', '/v1/admin/calls?limit=1', { headers: adminHeaders() });
    assert.equal(limited.body.calls.length, 1);
    const badTime = await call(h.base, 'GET', '/v1/admin/calls?since=yesterday', { headers: adminHeaders() });
    assert.equal(badTime.status, 400);
  });
});
