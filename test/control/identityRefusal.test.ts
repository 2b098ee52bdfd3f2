/**
 * What a refusal of the gateway's identity means (src/control/identityRefusal.ts): "the platform
 * does not know this deployment" when the platform says its store lost its data, when it closed
 * the connection for a removed deployment, or when it refuses an identity it accepted earlier in
 * this process (a platform restarted on an emptied Redis cannot tell, so the gateway does);
 * otherwise the generic advice about the id and secret, and a disabled deployment as such.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityRefusal } from '../../src/control/identityRefusal.js';

const AT = '2026-11-30T01:00:00.000Z';

test('the platform not knowing the deployment is said plainly; a never-accepted identity gets the generic advice', () => {
  const kind = (facts: Parameters<typeof identityRefusal>[0]) => identityRefusal(facts);
  const lost = kind({ code: 'TTMA_ERR_STORE_DATA_LOST', status: 401, closeReason: null, acceptedAt: null });
  assert.equal(lost.kind, 'unknown');
  assert.match(lost.message, /^the platform does not know this deployment: its store lost its data/);
  assert.equal(kind({ code: null, status: 0, closeReason: 'deployment removed', acceptedAt: AT }).kind, 'unknown');
  const before = kind({ code: 'TTMA_ERR_AUTH', status: 401, closeReason: null, acceptedAt: AT });
  assert.equal(before.kind, 'unknown');
  assert.match(before.message, new RegExp(`accepted this deployment id and agent secret before \\(last at ${AT.replace(/\./g, '\\.')}\\)`));
  const never = kind({ code: 'TTMA_ERR_AUTH', status: 401, closeReason: null, acceptedAt: null });
  assert.deepEqual([never.kind, /does not know/.test(never.message)], ['refused', false]);
  assert.equal(kind({ code: null, status: 0, closeReason: 'agent secret rotated', acceptedAt: AT }).kind, 'refused');
  assert.equal(kind({ code: 'TTMA_ERR_DEPLOYMENT_DISABLED', status: 403, closeReason: null, acceptedAt: AT }).kind, 'disabled');
  assert.equal(kind({ code: null, status: 0, closeReason: 'deployment disabled', acceptedAt: AT }).kind, 'disabled');
});
