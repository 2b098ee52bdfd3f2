/**
 * A deployment's own dashboard (FAQ-02, FAQ-13, FAQ-17) under attack: its
 * one-time sign-in links cannot be forged, replayed, asked for with a wrong
 * or borrowed secret, or posted from another site; a session reads and
 * switches only its own deployment, never the operator's pages or another
 * deployment's calls, and ends when the deployment's secret is rotated or it
 * is disabled.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startStack, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, customerSignIn, dashboardLinkCode, httpRequest, postCustomerSignIn, recordedCall, signIn } from '../platform/dashboardHelpers.js';
import { attack } from './attacks.js';

let stack: Stack;
let dir: string;
let port: number;
let callId: string;
let otherSecret: string;
const OTHER_CALL = 'v3:other-deployments-recorded-call';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttma-customer-attacks-'));
  stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
  port = stack.ports.platform;
  callId = await recordedCall(stack, '+15550900001', { stored: false });
  otherSecret = (await stack.platform.deployments.register({ id: 'other', numbers: ['+15550100088'], tunnelHost: 'other.trycloudflare.com' })).agentSecret;
  await stack.platform.calls.lock(OTHER_CALL, 'other', { direction: 'incoming', from: '+15550900099', to: '+15550100088' });
  await stack.platform.calls.patchRecording(OTHER_CALL, { ...(await stack.platform.calls.get(callId))!.recording! });
});

after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const origin = () => ({ origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' });
const form = () => ({ ...origin(), 'content-type': 'application/x-www-form-urlencoded' });
const signedIn = (answer: { status: number; headers: { 'set-cookie'?: string[] } }) =>
  answer.status === 303 && Boolean(answer.headers['set-cookie']?.some((c) => /^ttma_customer=[A-Za-z0-9_-]{43};/.test(c)));
const mp3Path = (id: string) => `/v1/dashboard/recordings/${encodeURIComponent(id)}.mp3`;

attack('customer dashboard: another deployment\'s recording with a signed-in session', async (probe) => {
  const cookie = await customerSignIn(stack);
  const answer = await httpRequest(port, 'GET', mp3Path(OTHER_CALL), { cookie });
  probe.goal(answer.status === 200 || answer.status === 206, `answered ${answer.status}`);
  assert.equal(answer.status, 404);
  const page = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
  probe.goal(page.text.includes(OTHER_CALL), "another deployment's call listed on the page");
});

attack('customer dashboard: another deployment\'s calls asked for by query (?deployment=other)', async (probe) => {
  const cookie = await customerSignIn(stack);
  const answer = await httpRequest(port, 'GET', '/v1/dashboard/?deployment=other', { cookie });
  probe.goal(answer.text.includes(OTHER_CALL), 'listed');
  assert.equal(answer.status, 400);
});

attack('customer dashboard: a sign-in link used twice', async (probe) => {
  const code = await dashboardLinkCode(stack);
  assert.ok(signedIn(await postCustomerSignIn(port, code)));
  const replay = await postCustomerSignIn(port, code);
  probe.goal(signedIn(replay), `replay answered ${replay.status}`);
  assert.equal(replay.status, 401);
});

attack('customer dashboard: a forged sign-in code (random, right shape)', async (probe) => {
  const answer = await postCustomerSignIn(port, randomBytes(32).toString('base64url'));
  probe.goal(signedIn(answer), `answered ${answer.status}`);
  assert.equal(answer.status, 401);
});

attack('customer dashboard: a sign-in code sent twice in one form, or oversized', async (probe) => {
  const code = await dashboardLinkCode(stack);
  const doubled = await httpRequest(port, 'POST', '/v1/dashboard/login', form(), `code=${code}&code=${code}`);
  probe.goal(signedIn(doubled), `doubled answered ${doubled.status}`);
  const huge = await httpRequest(port, 'POST', '/v1/dashboard/login', form(), `code=${'A'.repeat(2 * 1024 * 1024)}`);
  probe.goal(signedIn(huge), `oversized answered ${huge.status}`);
  assert.equal(doubled.status, 401);
  assert.equal(huge.status, 413);
});

attack('customer dashboard: a link asked for with a wrong agent secret, or another deployment\'s id', async (probe) => {
  for (const [who, secret] of [['test', 'not-the-secret'], ['other', stack.agentSecret], ['test', otherSecret]] as const) {
    const answer = await httpRequest(port, 'POST', '/v1/signal/dashboard-link', { authorization: `Bearer ${secret}`, 'x-ttma-deployment': who, 'content-type': 'application/json' }, '{}');
    probe.goal(answer.status === 200, `${who} answered ${answer.status}`);
    assert.equal(answer.status, 401);
  }
});

attack('customer dashboard: cross-site sign-in post (login CSRF into the attacker\'s deployment)', async (probe) => {
  // The attacker's own link, posted from their site into a victim's browser.
  const code = await dashboardLinkCode(stack, 'other', otherSecret);
  const posts: Array<Record<string, string>> = [{ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, { origin: 'null' }, { 'sec-fetch-site': 'same-site' }];
  for (const headers of posts) {
    const answer = await postCustomerSignIn(port, code, headers);
    probe.goal(signedIn(answer), `answered ${answer.status} to ${JSON.stringify(headers)}`);
    assert.equal(answer.status, 403);
  }
  assert.ok(signedIn(await postCustomerSignIn(port, code)), 'the refused posts did not spend the code');
});

attack('customer dashboard: cross-site recording switch riding on the session', async (probe) => {
  const cookie = await customerSignIn(stack);
  const answer = await httpRequest(port, 'POST', '/v1/dashboard/recording', { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, 'recording=off');
  const recording = (await stack.platform.deployments.get('test'))?.recording;
  probe.goal(recording === false, 'recording was turned off');
  assert.equal(answer.status, 403);
});

attack('customer dashboard: a session kept after the agent secret was rotated', async (probe) => {
  const cookie = await customerSignIn(stack);
  const waiting = await dashboardLinkCode(stack);
  assert.equal((await httpRequest(port, 'GET', '/v1/dashboard/', { cookie })).status, 200, 'it worked before');
  const rotated = await stack.platform.deployments.rotateSecret('test');
  try {
    const answer = await httpRequest(port, 'GET', mp3Path(callId), { cookie });
    probe.goal(answer.status === 200, `session answered ${answer.status}`);
    const link = await postCustomerSignIn(port, waiting);
    probe.goal(signedIn(link), `a link issued before the rotation answered ${link.status}`);
    assert.equal(answer.status, 401);
  } finally {
    // Back to the stack's secret, for the gateway and the attacks after this one.
    await stack.platform.deployments.rotateSecret('test', stack.agentSecret);
    assert.notEqual(rotated.agentSecret, stack.agentSecret);
  }
});

attack('customer dashboard: a session kept after a rotation whose revocation never ran here (a sign-in in flight, a store that failed the revoke)', async (probe) => {
  const cookie = await customerSignIn(stack);
  assert.equal((await httpRequest(port, 'GET', mp3Path(callId), { cookie })).status, 200, 'it worked before');
  // The secret changed in the store without this process's revocation running.
  const before = (await stack.platform.deployments.get('test'))!;
  await stack.platform.deployments.store.replace({ ...before, agentSecretSha256: createHash('sha256').update(randomBytes(32)).digest() });
  try {
    const answer = await httpRequest(port, 'GET', mp3Path(callId), { cookie });
    probe.goal(answer.status === 200, `session answered ${answer.status}`);
    assert.equal(answer.status, 401);
  } finally {
    await stack.platform.deployments.store.replace(before);
  }
});

attack('customer dashboard: a sign-in link asked for before a rotation whose revocation never ran here', async (probe) => {
  const waiting = await dashboardLinkCode(stack);
  const before = (await stack.platform.deployments.get('test'))!;
  await stack.platform.deployments.store.replace({ ...before, agentSecretSha256: createHash('sha256').update(randomBytes(32)).digest() });
  try {
    const link = await postCustomerSignIn(port, waiting);
    probe.goal(signedIn(link), `the old link answered ${link.status}`);
    assert.equal(link.status, 401);
  } finally {
    await stack.platform.deployments.store.replace(before);
  }
});

attack('customer dashboard: a session of a deployment that was disabled', async (probe) => {
  const cookie = await customerSignIn(stack, 'other', otherSecret);
  await stack.platform.deployments.setDisabled('other', true);
  try {
    const answer = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
    probe.goal(answer.status === 200, `answered ${answer.status}`);
    assert.equal(answer.status, 401);
  } finally {
    await stack.platform.deployments.setDisabled('other', false);
  }
});

attack("customer dashboard: a deployment's session on the operator's pages and API", async (probe) => {
  const cookie = await customerSignIn(stack);
  for (const path of ['/v1/admin/history', '/v1/admin/history.json', `/v1/admin/recordings/${encodeURIComponent(OTHER_CALL)}.mp3`, '/v1/admin/deployments']) {
    // The browser would not even send it there (Path=/v1/dashboard/); a script can, and gets nothing.
    const answer = await httpRequest(port, 'GET', path, { cookie });
    probe.goal(answer.status === 200, `${path} answered ${answer.status}`);
    const renamed = await httpRequest(port, 'GET', path, { cookie: cookie.replace(/^ttma_customer=/, 'ttma_dashboard=') });
    probe.goal(renamed.status === 200, `${path} with the cookie renamed answered ${renamed.status}`);
    assert.equal(answer.status, 401);
  }
});

attack("customer dashboard: the operator's session on a deployment's dashboard", async (probe) => {
  const operator = await signIn(port);
  const renamed = operator.replace(/^ttma_dashboard=/, 'ttma_customer=');
  for (const cookie of [operator, renamed]) {
    const answer = await httpRequest(port, 'GET', mp3Path(callId), { cookie });
    probe.goal(answer.status === 200, `answered ${answer.status}`);
    const flip = await httpRequest(port, 'POST', '/v1/dashboard/recording', { cookie, ...form() }, 'recording=off');
    probe.goal(flip.status === 303, `the switch answered ${flip.status}`);
    assert.equal(answer.status, 401);
  }
  assert.equal((await stack.platform.deployments.get('test'))?.recording, true);
});

attack('customer dashboard: a sign-in link opened by GET alone (a prefetch, a chat link preview)', async (probe) => {
  const code = await dashboardLinkCode(stack);
  const preview = await httpRequest(port, 'GET', `/v1/dashboard/login?code=${code}`);
  probe.goal(preview.headers['set-cookie'] !== undefined, 'a GET set a session cookie');
  assert.ok(signedIn(await postCustomerSignIn(port, code)), 'the preview did not spend the code either');
});

attack("customer dashboard: deleting another deployment's recording, or one cross-site", async (probe) => {
  const cookie = await customerSignIn(stack);
  const theirs = await httpRequest(port, 'POST', `/v1/dashboard/recordings/${encodeURIComponent(OTHER_CALL)}/delete`, { cookie, ...form() }, '');
  probe.goal((await stack.platform.calls.get(OTHER_CALL))!.recording!.url === null, "another deployment's recording was deleted");
  assert.equal(theirs.status, 404);
  const crossSite = await httpRequest(port, 'POST', `/v1/dashboard/recordings/${encodeURIComponent(callId)}/delete`, { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, '');
  probe.goal((await stack.platform.calls.get(callId))!.recording!.url === null, 'deleted by a cross-site post');
  assert.equal(crossSite.status, 403);
  const viaSignal = await httpRequest(port, 'DELETE', `/v1/signal/calls/${encodeURIComponent(OTHER_CALL)}/recording.mp3`, { authorization: `Bearer ${stack.agentSecret}`, 'x-ttma-deployment': 'test' });
  probe.goal((await stack.platform.calls.get(OTHER_CALL))!.recording!.url === null, 'deleted through the signalling API');
  assert.equal(viaSignal.status, 403);
});

attack('customer dashboard: "delete all recordings" cross-site, unticked, without a session, or with a wrong secret', async (probe) => {
  const kept = async () => (await stack.platform.calls.get(callId))!.recording!.url !== null && (await stack.platform.calls.get(OTHER_CALL))!.recording!.url !== null;
  const cookie = await customerSignIn(stack);
  const path = '/v1/dashboard/recordings/delete-all';
  const crossSite = await httpRequest(port, 'POST', path, { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, 'confirm=yes');
  probe.goal(!(await kept()), 'deleted by a cross-site post');
  assert.equal(crossSite.status, 403);
  const unticked = await httpRequest(port, 'POST', path, { cookie, ...form() }, 'confirm=on');
  probe.goal(!(await kept()), 'deleted without the box ticked');
  assert.equal(unticked.status, 400);
  const noSession = await httpRequest(port, 'POST', path, { ...form() }, 'confirm=yes');
  probe.goal(!(await kept()), 'deleted without a session');
  assert.equal(noSession.status, 401);
  const forged = await httpRequest(port, 'POST', path, { cookie: `ttma_customer=${randomBytes(32).toString('base64url')}`, ...form() }, 'confirm=yes');
  probe.goal(!(await kept()), 'deleted with a forged session');
  assert.equal(forged.status, 401);
  // The signalling route, with another deployment's secret under this one's id.
  const wrongSecret = await httpRequest(port, 'DELETE', '/v1/signal/recordings', { authorization: `Bearer ${otherSecret}`, 'x-ttma-deployment': 'test' });
  probe.goal(!(await kept()), 'deleted through the signalling API with the wrong secret');
  assert.equal(wrongSecret.status, 401);
});

attack("dashboard: the operator's read-only session used to delete a recording", async (probe) => {
  const cookie = await signIn(port);
  const answer = await httpRequest(port, 'DELETE', mp3Path(callId).replace('/v1/dashboard/', '/v1/admin/'), { cookie, ...origin() });
  probe.goal((await stack.platform.calls.get(callId))!.recording!.url === null, `deleted (answered ${answer.status})`);
  assert.equal(answer.status, 401);
});

attack("dashboard: the operator's read-only session used to delete a deployment's recordings", async (probe) => {
  const cookie = await signIn(port);
  const answer = await httpRequest(port, 'POST', '/v1/admin/deployments/test/delete-recordings', { cookie, ...origin(), 'content-type': 'application/json' }, '{}');
  probe.goal((await stack.platform.calls.get(callId))!.recording!.url === null, `deleted (answered ${answer.status})`);
  assert.equal(answer.status, 401);
});

attack("customer dashboard: a signed-in browser hammering the page starves its gateway's signalling", async (probe) => {
  const cookie = await customerSignIn(stack);
  const statuses: number[] = [];
  // Bounded: the bucket holds 60; 90 back to back must meet its end.
  for (let i = 0; i < 90; i++) statuses.push((await httpRequest(port, 'GET', mp3Path(callId), { cookie, range: 'bytes=0-0' })).status);
  const limited = statuses.filter((s) => s === 429).length;
  assert.ok(limited > 0, `no 429 in ${statuses.length} requests`);
  const usage = await httpRequest(port, 'GET', '/v1/signal/usage', { authorization: `Bearer ${stack.agentSecret}`, 'x-ttma-deployment': 'test' });
  probe.goal(usage.status === 429, 'the gateway was rate-limited by the dashboard traffic');
  assert.equal(usage.status, 200);
});
