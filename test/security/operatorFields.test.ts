/**
 * The operator API applies what it answers as applied (FAQ-14 caps, FAQ-02/17 recording switch).
 * Found by the twenty-seventh session's black-box run against a running platform: a cap sent under
 * a misspelled key (`{"caps":{"dayminutes":0}}`) was answered 200 and the deployment kept dialling;
 * `caps.__proto__` was stored; a mint with `"recording": false` registered a recording deployment;
 * a create with `"Recording": false` too. Each is now 400 TTMA_ERR_BAD_REQUEST naming the field, with
 * nothing changed or registered. Real platform on loopback, real HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { installBundles } from '../install/helpers.js';
import { adminHeaders, agentHeaders, call, startHarness, STREAM_TOKEN, type Harness, type JsonResponse } from '../platform/helpers.js';
import { attack } from './attacks.js';

const DEPLOYMENT = { id: 'fields-dep', numbers: ['+15556670001'], tunnelHost: 'fields.trycloudflare.com' };
let h: Harness;
let secret = '';

before(async () => {
  h = await startHarness({ install: await installBundles(), rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
  const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: DEPLOYMENT });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  secret = created.body.agentSecret;
});

after(() => h?.close());

/** A raw JSON body, so keys such as `__proto__` reach the server exactly as typed. */
const send = (method: string, path: string, raw: string): Promise<JsonResponse> =>
  call(h.base, method, path, { headers: { ...adminHeaders(), 'content-type': 'application/json' }, raw });
const patch = (raw: string) => send('PATCH', `/v1/admin/deployments/${DEPLOYMENT.id}`, raw);
const stored = async () => (await h.platform.deployments.get(DEPLOYMENT.id))!;
const dial = () =>
  call(h.base, 'POST', PLATFORM_PATHS.dial, {
    headers: agentHeaders(DEPLOYMENT.id, secret),
    body: { to: '+15557654321', stream_url: `wss://${DEPLOYMENT.tunnelHost}/v1/media/fields-${Date.now()}`, stream_auth_token: STREAM_TOKEN },
  });

function refused(answer: JsonResponse, field: string): void {
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.equal(answer.body.error.code, 'TTMA_ERR_BAD_REQUEST');
  assert.ok(answer.body.error.message.includes(`unknown field "${field}"`), answer.body.error.message);
}

attack('operator API: a cap under a misspelled key ({"caps":{"dayminutes":0}}) taken as a halt', async (probe) => {
  const answer = await patch('{"caps":{"dayminutes":0,"monthminutes":0}}');
  probe.goal(answer.status === 200, `answered ${answer.status}: the operator is told the deployment is halted`);
  refused(answer, 'caps.dayminutes');
  assert.deepEqual((await stored()).caps, { dayMinutes: 600, monthMinutes: 6000 });
  assert.equal((await dial()).status, 200, 'nothing halted, and the refusal said so');
});

attack('operator API: caps.__proto__ stored in a deployment record', async (probe) => {
  const answer = await patch('{"caps":{"dayMinutes":5,"__proto__":{"dayMinutes":44640}}}');
  const caps = (await stored()).caps;
  probe.goal(answer.status === 200 || Object.keys(caps).includes('__proto__'), `answered ${answer.status}, caps ${JSON.stringify(caps)}`);
  refused(answer, 'caps.__proto__');
  assert.deepEqual(caps, { dayMinutes: 600, monthMinutes: 6000 }, 'the valid key in the same patch is not applied either');
});

attack('operator API: an unknown dialPolicy key answered 200 and dropped', async (probe) => {
  const answer = await patch('{"dialPolicy":{"allowPrefixes":["+1"],"denyPrefixes":["+1900"]}}');
  probe.goal(answer.status === 200, `answered ${answer.status}: a deny list that does nothing`);
  refused(answer, 'dialPolicy.denyPrefixes');
});

attack('operator API: a create with "Recording": false registered with recording on', async (probe) => {
  const body = { id: 'fields-create', numbers: ['+15556670002'], tunnelHost: 'fields2.trycloudflare.com', Recording: false };
  const answer = await send('POST', '/v1/admin/deployments', JSON.stringify(body));
  probe.goal(answer.status === 201, `answered ${answer.status}, recording ${JSON.stringify(answer.body.recording)}`);
  refused(answer, 'Recording');
  assert.equal(await h.platform.deployments.get('fields-create'), undefined, 'nothing registered');
});

attack('install token: a mint with "recording": false registered a recording deployment', async (probe) => {
  const deployment = { id: 'fields-mint', numbers: ['+15556670003'], tunnelHost: 'fields3.trycloudflare.com', recording: false };
  const answer = await send('POST', '/v1/admin/install-tokens', JSON.stringify({ deployment, tunnelCredentialsRef: 'fields-tunnel' }));
  probe.goal(answer.status === 201, `answered ${answer.status}: a token for a deployment that records`);
  refused(answer, 'deployment.recording');
  assert.match(answer.body.error.message, /PATCH \/v1\/admin\/deployments\/\{id\} after minting/);
  assert.equal(await h.platform.deployments.get('fields-mint'), undefined, 'nothing registered');
  const extra = await send('POST', '/v1/admin/install-tokens', JSON.stringify({ deployment: { ...deployment, recording: undefined }, tunnelRef: 'x' }));
  refused(extra, 'tunnelRef');
});

test('the fields each route takes still apply, and a record holding an old extra cap key can be changed', async () => {
  const applied = await patch('{"caps":{"dayMinutes":7},"recording":false,"dialPolicy":{"allowPrefixes":["+1555"]}}');
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.deepEqual(applied.body.caps, { dayMinutes: 7, monthMinutes: 6000 });
  // A record stored before the check (in memory, as the embedded store kept it) is not locked out.
  const current = await stored();
  await h.platform.deployments.store.replace({ ...current, caps: { ...current.caps, dayminutes: 0 } as typeof current.caps });
  const later = await patch('{"recording":true}');
  assert.equal(later.status, 200, JSON.stringify(later.body));
  assert.deepEqual(later.body.caps, { dayMinutes: 7, monthMinutes: 6000 }, 'the stray key is dropped on the next change');
  const minted = await send('POST', '/v1/admin/install-tokens', JSON.stringify({ deployment: { id: 'fields-ok', numbers: ['+15556670004'], tunnelHost: 'fields4.trycloudflare.com' }, tunnelCredentialsRef: 'ok' }));
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
});
