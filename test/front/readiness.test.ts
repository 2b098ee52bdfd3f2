/**
 * readiness(): a platform whose hello named another deployment is reported as such, not as
 * unreachable (the operator's fix is the URL, not the network).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readiness } from '../../src/front/readiness.js';

const up = { workersUp: 1, webhookKey: true, draining: false };

test('not connected: "platform unreachable", or "platform is another deployment\'s" when its hello named another', () => {
  assert.deepEqual(readiness({ ...up, platformConnected: true, platformOtherDeployment: false }), { ready: true, reasons: [] });
  assert.deepEqual(readiness({ ...up, platformConnected: false }), { ready: false, reasons: ['platform unreachable'] });
  assert.deepEqual(readiness({ ...up, platformConnected: false, platformOtherDeployment: true }), { ready: false, reasons: ['platform is another deployment\'s'] });
});
