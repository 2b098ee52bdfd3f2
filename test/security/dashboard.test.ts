/**
 * The platform's dashboard and its recordings (FAQ-17, FAQ-02): a browser
 * session is the only thing besides the admin token that reads them, it
 * cannot be forged, doubled, kept after sign-out or used to change anything;
 * sign-in takes no cross-site post and locks after repeated failures; a
 * recording is played only from the recordings directory, only as stored
 * (SHA-256), and only from the provider's origins.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startStack, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, httpRequest, recordedCall, signIn } from '../platform/dashboardHelpers.js';
import { attack } from './attacks.js';

let stack: Stack;
let dir: string;
let port: number;
let callId: string;
let path: string;
let original: Buffer;
let storedPath: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttma-dashboard-attacks-'));
  stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
  port = stack.ports.platform;
  callId = await recordedCall(stack, '+15550500001', { stored: true });
  path = `/v1/admin/recordings/${callId}.mp3`;
  storedPath = join(dir, (await stack.platform.calls.get(callId))!.recording!.file!);
  original = readFileSync(storedPath);
});

after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const played = (status: number) => status === 200 || status === 206;

attack('dashboard: a recording without a session or token', async (probe) => {
  const answer = await httpRequest(port, 'GET', path);
  probe.goal(played(answer.status) || answer.body.includes(original.subarray(0, 64)), `answered ${answer.status}`);
  assert.equal(answer.status, 401);
});

attack('dashboard: a forged session cookie (random, right shape)', async (probe) => {
  const forged = randomBytes(32).toString('base64url');
  const answer = await httpRequest(port, 'GET', path, { cookie: `ttma_dashboard=${forged}` });
  probe.goal(played(answer.status), `answered ${answer.status}`);
  const page = await httpRequest(port, 'GET', '/v1/admin/history', { cookie: `ttma_dashboard=${forged}` });
  probe.goal(page.status === 200, `history answered ${page.status}`);
  assert.equal(answer.status, 401);
});

attack('dashboard: a session cookie after sign-out', async (probe) => {
  const cookie = await signIn(port);
  assert.equal((await httpRequest(port, 'GET', path, { cookie })).status, 200, 'the session worked before');
  const out = await httpRequest(port, 'POST', '/v1/admin/logout', { cookie, origin: `http://127.0.0.1:${port}` });
  assert.equal(out.status, 303);
  assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
  const answer = await httpRequest(port, 'GET', path, { cookie });
  probe.goal(played(answer.status), `answered ${answer.status} after sign-out`);
});

attack('dashboard: a valid session cookie sent twice with a planted one', async (probe) => {
  const cookie = await signIn(port);
  const planted = `ttma_dashboard=${randomBytes(32).toString('base64url')}`;
  const answer = await httpRequest(port, 'GET', path, { cookie: `${planted}; ${cookie}` });
  probe.goal(played(answer.status), `answered ${answer.status}`);
  assert.equal(answer.status, 401);
});

attack('dashboard: a session used to change a deployment (only reads are allowed)', async (probe) => {
  const cookie = await signIn(port);
  const patch = await httpRequest(port, 'PATCH', '/v1/admin/deployments/test', { cookie, 'content-type': 'application/json' }, JSON.stringify({ recording: false }));
  const rotate = await httpRequest(port, 'POST', '/v1/admin/deployments/test/rotate-secret', { cookie, 'content-type': 'application/json' }, '{}');
  const calls = await httpRequest(port, 'GET', '/v1/admin/deployments', { cookie });
  const deployment = await stack.platform.deployments.get('test');
  probe.goal(patch.status === 200 || rotate.status === 200 || deployment?.recording !== true, `patch ${patch.status}, rotate ${rotate.status}`);
  assert.equal(patch.status, 401);
  assert.equal(rotate.status, 401);
  assert.equal(calls.status, 401, 'the JSON API wants the token');
});

attack('dashboard: cross-site sign-in and sign-out posts', async (probe) => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams({ token: ADMIN_TOKEN }).toString();
  const foreign = await httpRequest(port, 'POST', '/v1/admin/login', { ...form, origin: 'http://evil.example' }, body);
  const site = await httpRequest(port, 'POST', '/v1/admin/login', { ...form, 'sec-fetch-site': 'cross-site' }, body);
  const nullOrigin = await httpRequest(port, 'POST', '/v1/admin/login', { ...form, origin: 'null' }, body);
  probe.goal([foreign, site, nullOrigin].some((a) => a.headers['set-cookie'] !== undefined), 'a session cookie was set');
  for (const answer of [foreign, site, nullOrigin]) {
    assert.equal(answer.status, 403);
    assert.equal(JSON.parse(answer.text).error.code, 'TTMA_ERR_CROSS_SITE');
  }
  const cookie = await signIn(port);
  const out = await httpRequest(port, 'POST', '/v1/admin/logout', { cookie, 'sec-fetch-site': 'cross-site' });
  assert.equal(out.status, 403);
  assert.equal((await httpRequest(port, 'GET', path, { cookie })).status, 200, 'the session survived the cross-site sign-out');
});

attack('dashboard: sign-in with a JSON body, a doubled or oversized token field', async (probe) => {
  const json = await httpRequest(port, 'POST', '/v1/admin/login', { 'content-type': 'application/json' }, JSON.stringify({ token: ADMIN_TOKEN }));
  const doubled = await httpRequest(port, 'POST', '/v1/admin/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${ADMIN_TOKEN}&token=${ADMIN_TOKEN}`);
  const huge = await httpRequest(port, 'POST', '/v1/admin/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${'a'.repeat(70_000)}`);
  probe.goal([json, doubled, huge].some((a) => a.headers['set-cookie'] !== undefined), 'a session cookie was set');
  assert.equal(json.status, 415);
  assert.equal(doubled.status, 401);
  assert.equal(huge.status, 413);
});

attack('dashboard: a stored recording altered on disk (same size) is not played', async (probe) => {
  const altered = Buffer.from(original);
  altered[altered.length - 1] = altered[altered.length - 1]! ^ 0xff;
  writeFileSync(storedPath, altered);
  try {
    const answer = await httpRequest(port, 'GET', path, { authorization: `Bearer ${ADMIN_TOKEN}` });
    probe.goal(played(answer.status), `altered file answered ${answer.status}`);
    assert.equal(answer.status, 500);
    assert.equal(JSON.parse(answer.text).error.code, 'TTMA_ERR_RECORDING');
  } finally {
    writeFileSync(storedPath, original);
  }
  assert.equal((await httpRequest(port, 'GET', path, { authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200, 'restored, it plays');
});

attack('dashboard: a stored recording swapped for a link to another file', async (probe) => {
  const secret = join(dir, 'not-a-recording.txt');
  writeFileSync(secret, 'x'.repeat(original.length));
  unlinkSync(storedPath);
  symlinkSync(secret, storedPath);
  try {
    const answer = await httpRequest(port, 'GET', path, { authorization: `Bearer ${ADMIN_TOKEN}` });
    probe.goal(played(answer.status) || answer.text.includes('xxxx'), `link answered ${answer.status}`);
    assert.equal(answer.status, 500);
  } finally {
    unlinkSync(storedPath);
    writeFileSync(storedPath, original);
  }
});

attack('dashboard: a call record pointing outside the recordings directory', async (probe) => {
  const outside = join(tmpdir(), `ttma-outside-${randomBytes(4).toString('hex')}.mp3`);
  writeFileSync(outside, original);
  const saved = (await stack.platform.calls.get(callId))!.recording!;
  // `../<name>` from the recordings directory is the file just outside it.
  await stack.platform.calls.patchRecording(callId, { file: `../${outside.split('/').pop()!}`, url: null, legId: null });
  try {
    const answer = await httpRequest(port, 'GET', path, { authorization: `Bearer ${ADMIN_TOKEN}` });
    probe.goal(played(answer.status), `answered ${answer.status}`);
    assert.equal(answer.status, 500);
  } finally {
    await stack.platform.calls.patchRecording(callId, { file: saved.file, url: saved.url, legId: saved.legId });
    rmSync(outside, { force: true });
  }
});

attack('dashboard: a recording URL off the provider origin is never fetched', async (probe) => {
  const other = await recordedCall(stack, '+15550500002', { stored: true });
  let requests = 0;
  const bait = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.end(original);
  });
  await new Promise<void>((resolve) => bait.listen(0, '127.0.0.1', resolve));
  const baitUrl = `http://127.0.0.1:${(bait.address() as AddressInfo).port}/recording.mp3`;
  try {
    await stack.platform.calls.patchRecording(other, { file: null, url: baitUrl, legId: null });
    const answer = await httpRequest(port, 'GET', `/v1/admin/recordings/${other}.mp3`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    probe.goal(requests > 0 || played(answer.status), `bait fetched ${requests} times, answered ${answer.status}`);
    assert.equal(answer.status, 502);
  } finally {
    await new Promise<void>((resolve) => bait.close(() => resolve()));
  }
});

attack("signal API: a deployment asks for another deployment's recording", async (probe) => {
  const otherSecret = randomBytes(32).toString('base64url');
  await stack.platform.deployments.register({ id: 'other', numbers: ['+15550100099'], tunnelHost: 'other-gateway.trycloudflare.com', agentSecret: otherSecret });
  const headers = (id: string, secret: string) => ({ authorization: `Bearer ${secret}`, 'x-ttma-deployment': id });
  const signalPath = `/v1/signal/calls/${encodeURIComponent(callId)}/recording.mp3`;
  const foreign = await httpRequest(port, 'GET', signalPath, headers('other', otherSecret));
  const forged = await httpRequest(port, 'GET', signalPath, headers('test', otherSecret));
  const unknown = await httpRequest(port, 'GET', '/v1/signal/calls/v3%3Ano-such-call/recording.mp3', headers('other', otherSecret));
  probe.goal(played(foreign.status) || played(forged.status), `other deployment ${foreign.status}, wrong secret ${forged.status}`);
  assert.equal(foreign.status, 403);
  assert.equal(JSON.parse(foreign.text).error.code, 'TTMA_ERR_CALL_NOT_OWNED');
  assert.equal(foreign.text, unknown.text, "another deployment's call and no such call answer alike");
  assert.equal(forged.status, 401);
  const own = await httpRequest(port, 'GET', signalPath, headers('test', stack.agentSecret));
  assert.equal(own.status, 200, 'the owner plays it');
  assert.deepEqual(own.body, original);
});

// Last: it locks sign-in for the rest of the window.
attack('dashboard: guessing the admin token at the sign-in form', async (probe) => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  let locked = 0;
  for (let i = 0; i < 12; i++) {
    const guess = await httpRequest(port, 'POST', '/v1/admin/login', form, new URLSearchParams({ token: randomBytes(16).toString('hex') }).toString());
    probe.goal(guess.headers['set-cookie'] !== undefined, 'a guess signed in');
    if (guess.status === 429) locked++;
  }
  const right = await httpRequest(port, 'POST', '/v1/admin/login', form, new URLSearchParams({ token: ADMIN_TOKEN }).toString());
  probe.goal(locked === 0, 'never locked after 12 failures');
  // At least the 11th and 12th (earlier failures in this window may lock it sooner).
  assert.ok(locked >= 2, `${locked} guesses refused unread`);
  assert.equal(right.status, 429, 'locked for everyone until the window ends');
  assert.ok(Number(right.headers['retry-after']) >= 1);
});
