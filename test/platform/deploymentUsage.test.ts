/**
 * GET /v1/signal/usage: a deployment reads its own minutes against its caps
 * (for its gateway's dashboard), authenticated like every signalling call,
 * and learns nothing about any other deployment.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { agentHeaders, call, startHarness, type Harness } from './helpers.js';

const A = { id: 'usage-a', numbers: ['+15551230001'], tunnelHost: 'usage-a.trycloudflare.com', caps: { dayMinutes: 30, monthMinutes: 300 } };
const B = { id: 'usage-b', numbers: ['+15551230002'], tunnelHost: 'usage-b.trycloudflare.com' };

let h: Harness;
let secretA = '';
let secretB = '';

before(async () => {
  h = await startHarness({ rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
  secretA = (await h.platform.deployments.register(A)).agentSecret;
  secretB = (await h.platform.deployments.register(B)).agentSecret;
  // Three billed minutes for A, through the real cap store.
  await h.platform.caps.admit(A.id, 'usage-r1', { day: 30, month: 300 });
  await h.platform.caps.settle(A.id, 'usage-r1', 3);
});

after(async () => {
  await h.close();
});

test('each deployment reads its own caps and billed minutes', async () => {
  const a = await call(h.base, 'GET', '/v1/signal/usage', { headers: agentHeaders(A.id, secretA) });
  assert.equal(a.status, 200);
  assert.deepEqual(a.body, { caps: { day_minutes: 30, month_minutes: 300 }, used: { day_minutes: 3, month_minutes: 3 } });
  const b = await call(h.base, 'GET', '/v1/signal/usage', { headers: agentHeaders(B.id, secretB) });
  assert.equal(b.status, 200);
  assert.deepEqual(b.body, { caps: { day_minutes: 600, month_minutes: 6000 }, used: { day_minutes: 0, month_minutes: 0 } });
});

test('without the right secret, or with another method, nothing is told', async () => {
  for (const headers of [{}, agentHeaders(A.id, secretB), agentHeaders(B.id, secretA), agentHeaders('no-such', secretA)]) {
    const res = await call(h.base, 'GET', '/v1/signal/usage', { headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(res.body.error.code, ErrorCodes.AUTH);
    assert.equal(res.body.caps, undefined);
  }
  const post = await call(h.base, 'POST', '/v1/signal/usage', { headers: agentHeaders(A.id, secretA), body: {} });
  assert.equal(post.status, 405);
});
