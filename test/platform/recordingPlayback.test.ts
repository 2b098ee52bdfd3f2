/**
 * Recordings played back through the dashboard (FAQ-17), with the real
 * simulator, platform and gateway: sign-in with the admin token, the history
 * page's players, the stored copy whole and by byte range, and the
 * provider's copy when nothing is stored, renewed through its recordings API
 * once the event's link has expired.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProviderClient } from '../../src/platform/ProviderClient.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, httpRequest, recordedCall, signIn } from './dashboardHelpers.js';

describe('recordings through the dashboard, stored copy', () => {
  let stack: Stack;
  let dir: string;
  let callId: string;
  let stored: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-playback-'));
    stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    callId = await recordedCall(stack, '+15550400001', { stored: true });
    const record = (await stack.platform.calls.get(callId))!;
    stored = readFileSync(join(dir, record.recording!.file!));
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sign-in page, then the history page with a player for the call, allowed by its CSP', async () => {
    const port = stack.ports.platform;
    const login = await httpRequest(port, 'GET', '/v1/admin/login');
    assert.equal(login.status, 200);
    assert.match(login.text, /<input name="token" type="password"/);
    assert.doesNotMatch(login.text, /<script/i);
    const cookie = await signIn(port);
    const page = await httpRequest(port, 'GET', `/v1/admin/history?number=${encodeURIComponent('+15550400001')}`, { cookie });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy'] as string, /media-src 'self'/);
    const src = `/v1/admin/recordings/${encodeURIComponent(callId)}.mp3`;
    assert.ok(page.text.includes(`<audio controls preload="none" src="${src}"></audio>`), 'a player for the call');
    const json = await httpRequest(port, 'GET', '/v1/admin/history.json', { cookie });
    const calls = (JSON.parse(json.text) as { calls: { call_control_id: string; recording: { playback: string } }[] }).calls;
    assert.equal(calls.find((c) => c.call_control_id === callId)?.recording.playback, src);
  });

  it('plays the stored copy whole, and by byte range for seeking', async () => {
    const port = stack.ports.platform;
    const cookie = await signIn(port);
    const path = `/v1/admin/recordings/${callId}.mp3`;
    const whole = await httpRequest(port, 'GET', path, { cookie });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['content-type'], 'audio/mpeg');
    assert.equal(whole.headers['accept-ranges'], 'bytes');
    assert.equal(whole.headers['cache-control'], 'private, no-store');
    assert.deepEqual(whole.body, stored);
    // The admin token works as well as a session.
    const bearer = await httpRequest(port, 'GET', path, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.deepEqual(bearer.body, stored);

    const first = await httpRequest(port, 'GET', path, { cookie, range: 'bytes=0-99' });
    assert.equal(first.status, 206);
    assert.equal(first.headers['content-range'], `bytes 0-99/${stored.length}`);
    assert.deepEqual(first.body, stored.subarray(0, 100));
    const tail = await httpRequest(port, 'GET', path, { cookie, range: 'bytes=-10' });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, stored.subarray(stored.length - 10));
    const from = await httpRequest(port, 'GET', path, { cookie, range: 'bytes=1000-' });
    assert.deepEqual(from.body, stored.subarray(1000));
    const past = await httpRequest(port, 'GET', path, { cookie, range: `bytes=${stored.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${stored.length}`);
    const several = await httpRequest(port, 'GET', path, { cookie, range: 'bytes=0-1,5-9' });
    assert.equal(several.status, 200, 'several ranges: the whole file');
    assert.equal(several.body.length, stored.length);
  });

  it('a call without a recording, an unknown call and a malformed id are refused', async () => {
    const port = stack.ports.platform;
    const cookie = await signIn(port);
    await stack.platform.deployments.update('test', { recording: false });
    const unrecorded = stack.sim.placeInboundCall({ from: '+15550400002', to: NUMBER, durationMs: 800 });
    await unrecorded.done;
    await waitFor('settled', async () => (await stack.platform.calls.get(unrecorded.id))?.billing !== null, 8_000);
    await stack.platform.deployments.update('test', { recording: true });
    const none = await httpRequest(port, 'GET', `/v1/admin/recordings/${unrecorded.id}.mp3`, { cookie });
    assert.equal(none.status, 404);
    assert.equal(JSON.parse(none.text).error.code, 'TTMA_ERR_NOT_FOUND');
    const unknown = await httpRequest(port, 'GET', '/v1/admin/recordings/v3:no-such-call.mp3', { cookie });
    assert.equal(unknown.status, 404);
    const malformed = await httpRequest(port, 'GET', '/v1/admin/recordings/%3Cscript%3E.mp3', { cookie });
    assert.equal(malformed.status, 400);
    const post = await httpRequest(port, 'POST', `/v1/admin/recordings/${callId}.mp3`, { cookie });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET');
  });
});

describe('recordings through the dashboard, the provider copy', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, cdr: { attempts: 5, backoffMs: 50 } }, sim: { recordingUrlTtlMs: 1_500 } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('plays from the provider when nothing is stored, and renews the link through the recordings API once it expired', async () => {
    const port = stack.ports.platform;
    const callId = await recordedCall(stack, '+15550400011', { stored: false });
    const recording = (await stack.platform.calls.get(callId))!.recording!;
    assert.equal(recording.file, null, 'nothing stored without a recordings directory');
    assert.ok(recording.legId, 'the leg id is kept to ask for a new link');
    const cookie = await signIn(port);
    const path = `/v1/admin/recordings/${callId}.mp3`;
    const fresh = await httpRequest(port, 'GET', path, { cookie });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers['content-type'], 'audio/mpeg');
    const original = (await fetch(recording.url!)).arrayBuffer();
    assert.deepEqual(fresh.body, Buffer.from(await original));

    await waitFor('the event link expired', async () => (await fetch(recording.url!)).status === 403, 5_000);
    const renewed = await httpRequest(port, 'GET', path, { cookie });
    assert.equal(renewed.status, 200, renewed.text);
    assert.deepEqual(renewed.body, fresh.body);
    const part = await httpRequest(port, 'GET', path, { cookie, range: 'bytes=100-199' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-199/${fresh.body.length}`);
    assert.deepEqual(part.body, fresh.body.subarray(100, 200));
  });

  it('a recording marked deleted is not fetched again from the provider through its leg id', async () => {
    const port = stack.ports.platform;
    const callId = await recordedCall(stack, '+15550400013', { stored: false });
    const cookie = await signIn(port);
    const path = `/v1/admin/recordings/${callId}.mp3`;
    assert.equal((await httpRequest(port, 'GET', path, { cookie })).status, 200);
    // As a deletion whose provider side failed leaves it: no link, no file, the leg id kept.
    await stack.platform.calls.patchRecording(callId, { url: null, discarded: 'deleted by the operator' });
    const gone = await httpRequest(port, 'GET', path, { cookie });
    assert.equal(gone.status, 404, gone.text);
    assert.match(gone.text, /deleted by the operator/);
  });

  it("the provider client's recordings lookup: the leg's newest MP3, null for a leg without one, and a bad key never echoed", async () => {
    const callId = await recordedCall(stack, '+15550400012', { stored: false });
    const { legId } = (await stack.platform.calls.get(callId))!.recording!;
    const client = new ProviderClient({ baseUrl: stack.sim.baseUrl, apiKey: stack.apiKey, maxAttempts: 1 });
    try {
      const url = await client.recordingDownloadUrl(legId!);
      assert.ok(url, 'a fresh URL');
      const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
      assert.equal(bytes[0], 0xff, 'an MPEG frame');
      assert.equal(await client.recordingDownloadUrl('no-such-leg'), null);
    } finally {
      client.close();
    }
    const wrongKey = 'wrong-provider-key-0123456789';
    const stranger = new ProviderClient({ baseUrl: stack.sim.baseUrl, apiKey: wrongKey, maxAttempts: 1 });
    try {
      await assert.rejects(stranger.recordingDownloadUrl(legId!), (err: Error) => /HTTP 401/.test(err.message) && !err.message.includes(wrongKey));
    } finally {
      stranger.close();
    }
  });
});
