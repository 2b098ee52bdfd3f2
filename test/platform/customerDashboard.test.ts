/**
 * A deployment's own dashboard (FAQ-02 "review conversations from your
 * dashboard", FAQ-17 recordings played back there and recording switched
 * off there), with the real simulator, gateway and platform: a one-time link
 * asked for with the agent secret signs a browser in; the page shows the
 * deployment's calls, minutes and recording switch, and nothing of another
 * deployment; its recordings play; the switch works; sign-out ends it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localAuthorization } from '../helpers/localAuth.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { customerSignIn, dashboardLinkCode, httpRequest, postCustomerSignIn, recordedCall } from './dashboardHelpers.js';
import { capturingLogger } from './helpers.js';

describe("a deployment's own dashboard", () => {
  let stack: Stack;
  let dir: string;
  let port: number;
  let callId: string;
  let otherCallId: string;
  const logged = capturingLogger();
  const same = () => ({ origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-customer-dashboard-'));
    stack = await startStack({}, { signWith: 'node', logger: logged.logger, platform: { recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    port = stack.ports.platform;
    callId = await recordedCall(stack, '+15550800001', { stored: true });
    // Another deployment with a recorded call of its own (its record made as the webhooks would).
    await stack.platform.deployments.register({ id: 'other', numbers: ['+15550100077'], tunnelHost: 'other.trycloudflare.com' });
    otherCallId = 'v3:other-deployments-call-0001';
    await stack.platform.calls.lock(otherCallId, 'other', { direction: 'incoming', from: '+15550800099', to: '+15550100077' });
    await stack.platform.calls.patchRecording(otherCallId, { ...(await stack.platform.calls.get(callId))!.recording!, file: null });
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('works on its public https name (a TLS front): sign-in and the switch are same-origin there, and the cookie is Secure', async () => {
    const publicName = { host: 'platform.example.com', origin: 'https://platform.example.com', 'sec-fetch-site': 'same-origin' };
    const answer = await postCustomerSignIn(port, await dashboardLinkCode(stack), publicName);
    assert.equal(answer.status, 303, answer.text);
    const setCookie = answer.headers['set-cookie']?.[0] ?? '';
    assert.match(setCookie, /; HttpOnly; SameSite=Strict; Secure$/);
    const cookie = setCookie.split(';')[0]!;
    const off = await httpRequest(port, 'POST', '/v1/dashboard/recording', { ...publicName, cookie, 'content-type': 'application/x-www-form-urlencoded' }, 'recording=off');
    assert.equal(off.status, 303, off.text);
    assert.equal((await stack.platform.deployments.get('test'))?.recording, false);
    const on = await httpRequest(port, 'POST', '/v1/dashboard/recording', { ...publicName, cookie, 'content-type': 'application/x-www-form-urlencoded' }, 'recording=on');
    assert.equal(on.status, 303, on.text);
    // Another site's page on https is still another origin.
    const evil = await postCustomerSignIn(port, await dashboardLinkCode(stack), { host: 'platform.example.com', origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
  });

  it("a notice is shown only for the page's own notice names (?done=__proto__ shows none)", async () => {
    const cookie = await customerSignIn(stack);
    for (const done of ['__proto__', 'constructor', 'toString']) {
      const page = await httpRequest(port, 'GET', `/v1/dashboard/?done=${done}`, { cookie });
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.text, /\[object Object\]|function |native code/, done);
    }
  });

  it('a link opens a page that only offers to sign in; posting it signs in, once', async () => {
    const code = await dashboardLinkCode(stack);
    const page = await httpRequest(port, 'GET', `/v1/dashboard/login?code=${code}`);
    assert.equal(page.status, 200);
    assert.equal(page.headers['set-cookie'], undefined, 'a GET (a prefetch, a link preview) signs nobody in');
    assert.match(page.text, new RegExp(`<input type="hidden" name="code" value="${code}">`));
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    const signedIn = await postCustomerSignIn(port, code);
    assert.equal(signedIn.status, 303);
    const again = await postCustomerSignIn(port, code);
    assert.equal(again.status, 401);
    assert.match(again.text, /unknown, used or expired/);
    assert.equal(again.headers['set-cookie'], undefined);
    const incomplete = await httpRequest(port, 'GET', '/v1/dashboard/login?code=short');
    assert.equal(incomplete.status, 400);
    assert.doesNotMatch(incomplete.text, /name="code"/);
  });

  it('shows its calls, minutes and recording switch, and plays its recordings; nothing of another deployment', async () => {
    const cookie = await customerSignIn(stack);
    const page = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
    assert.equal(page.status, 200, page.text);
    assert.match(String(page.headers['content-security-policy']), /media-src 'self'/);
    assert.ok(page.text.includes(callId), 'its call is listed');
    assert.ok(page.text.includes('+15550800001'));
    assert.ok(page.text.includes(`<audio controls preload="none" src="/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3">`));
    assert.match(page.text, /Minutes today \(UTC\): <strong>1<\/strong> of 600; this month: <strong>1<\/strong> of 6000/);
    assert.match(page.text, /Recording is <strong>on<\/strong>/);
    assert.ok(!page.text.includes(otherCallId) && !page.text.includes('+15550800099'), "another deployment's call is not shown");
    // No review flags, no recording location: what the deployment's own API shows.
    assert.doesNotMatch(page.text, /sim\/recordings|usage flags|\.mp3\?expires/);

    const stored = readFileSync(join(dir, (await stack.platform.calls.get(callId))!.recording!.file!));
    const mp3 = await httpRequest(port, 'GET', `/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3`, { cookie });
    assert.equal(mp3.status, 200);
    assert.equal(mp3.headers['content-type'], 'audio/mpeg');
    assert.deepEqual(mp3.body, stored);
    const part = await httpRequest(port, 'GET', `/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3`, { cookie, range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, stored.subarray(10, 20));
    const theirs = await httpRequest(port, 'GET', `/v1/dashboard/recordings/${encodeURIComponent(otherCallId)}.mp3`, { cookie });
    assert.equal(theirs.status, 404);
    const nothing = await httpRequest(port, 'GET', '/v1/dashboard/recordings/v3%3Ano-such-call.mp3', { cookie });
    assert.equal(nothing.status, 404);
    assert.equal(JSON.parse(theirs.text).error.message, JSON.parse(nothing.text).error.message, 'the same answer as no call at all');

    // Filters apply to its own calls; another deployment cannot be asked for.
    const outgoing = await httpRequest(port, 'GET', '/v1/dashboard/?direction=outgoing', { cookie });
    assert.match(outgoing.text, /no calls match/);
    const asOther = await httpRequest(port, 'GET', '/v1/dashboard/?deployment=other', { cookie });
    assert.equal(asOther.status, 400);
  });

  it('the recording switch turns recording off and on from the page', async () => {
    const cookie = await customerSignIn(stack);
    const off = await httpRequest(port, 'POST', '/v1/dashboard/recording', { cookie, ...same() }, 'recording=off');
    assert.equal(off.status, 303, off.text);
    assert.equal(off.headers.location, '/v1/dashboard/?done=off');
    assert.equal((await stack.platform.deployments.get('test'))?.recording, false);
    const page = await httpRequest(port, 'GET', '/v1/dashboard/?done=off', { cookie });
    assert.match(page.text, /Recording is now off\./);
    assert.match(page.text, /Recording is <strong>off<\/strong>/);
    assert.match(page.text, /<input type="hidden" name="recording" value="on">/);
    const odd = await httpRequest(port, 'GET', '/v1/dashboard/?done=%3Cscript%3E', { cookie });
    assert.doesNotMatch(odd.text, /<script>|&lt;script/, 'the notice is never text from the request');
    for (const body of ['recording=maybe', '', 'recording=on&recording=off']) {
      const bad = await httpRequest(port, 'POST', '/v1/dashboard/recording', { cookie, ...same() }, body);
      assert.equal(bad.status, 400, body);
    }
    const on = await httpRequest(port, 'POST', '/v1/dashboard/recording', { cookie, ...same() }, 'recording=on');
    assert.equal(on.status, 303);
    assert.equal((await stack.platform.deployments.get('test'))?.recording, true);
  });

  it("deletes one of its recordings from the page, here and at the provider; another deployment's cannot be", async () => {
    const cookie = await customerSignIn(stack);
    const target = await recordedCall(stack, '+15550800002', { stored: true });
    const file = join(dir, (await stack.platform.calls.get(target))!.recording!.file!);
    const page = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
    const action = `/v1/dashboard/recordings/${encodeURIComponent(target)}/delete`;
    assert.ok(page.text.includes(`<form method="post" action="${action}">`), 'a delete button on its row');
    const theirs = await httpRequest(port, 'POST', `/v1/dashboard/recordings/${encodeURIComponent(otherCallId)}/delete`, { cookie, ...same() }, '');
    assert.equal(theirs.status, 404);
    assert.ok((await stack.platform.calls.get(otherCallId))!.recording!.url, "the other deployment's recording is untouched");
    const deleted = await httpRequest(port, 'POST', action, { cookie, ...same() }, '');
    assert.equal(deleted.status, 303, deleted.text);
    assert.equal(deleted.headers.location, '/v1/dashboard/?done=deleted');
    assert.equal(existsSync(file), false);
    assert.equal(stack.sim.recordings().some((r) => r.callControlId === target), false, 'the provider copy is gone');
    const after = await httpRequest(port, 'GET', '/v1/dashboard/?done=deleted', { cookie });
    assert.match(after.text, /The recording was deleted, here and at the phone provider\./);
    assert.match(after.text, /not kept: deleted by the deployment/);
    assert.ok(!after.text.includes(`src="/v1/dashboard/recordings/${encodeURIComponent(target)}.mp3"`), 'no player for it');
    assert.equal((await httpRequest(port, 'GET', `/v1/dashboard/recordings/${encodeURIComponent(target)}.mp3`, { cookie })).status, 404);
  });

  it('an action that cannot be done answers with a page that says why and leads back', async () => {
    const cookie = await customerSignIn(stack);
    const live = stack.sim.placeInboundCall({ from: '+15550800003', to: NUMBER, durationMs: 1_500 });
    await waitFor('record_start', async () => Boolean((await stack.platform.calls.get(live.id))?.recording?.started), 5_000);
    const answer = await httpRequest(port, 'POST', `/v1/dashboard/recordings/${encodeURIComponent(live.id)}/delete`, { cookie, ...same() }, '');
    assert.equal(answer.status, 409);
    assert.match(String(answer.headers['content-type']), /^text\/html/);
    assert.match(answer.text, /the call is still being recorded/);
    assert.match(answer.text, /<a href="\/v1\/dashboard\/">Back to your calls<\/a>/);
    await live.done;
  });

  it('sign-out ends the session; without one the page says how to sign in', async () => {
    const cookie = await customerSignIn(stack);
    const out = await httpRequest(port, 'POST', '/v1/dashboard/logout', { cookie, ...same() }, '');
    assert.equal(out.status, 303);
    assert.match(String(out.headers['set-cookie']), /^ttma_customer=; Path=\/v1\/dashboard\/; Max-Age=0;/);
    const page = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
    assert.equal(page.status, 401);
    assert.match(page.text, /ttma dashboard/);
    const mp3 = await httpRequest(port, 'GET', `/v1/dashboard/recordings/${encodeURIComponent(callId)}.mp3`, { cookie });
    assert.equal(mp3.status, 401);
    assert.equal((await httpRequest(port, 'GET', '/v1/dashboard/elsewhere', { cookie })).status, 404);
  });

  it("deletes every recording it keeps from the page once the box is ticked; another deployment's stays", async () => {
    const cookie = await customerSignIn(stack);
    const target = await recordedCall(stack, '+15550800004', { stored: true });
    const file = join(dir, (await stack.platform.calls.get(target))!.recording!.file!);
    const page = await httpRequest(port, 'GET', '/v1/dashboard/', { cookie });
    assert.ok(page.text.includes('<form method="post" action="/v1/dashboard/recordings/delete-all">'));
    assert.match(page.text, /<input type="checkbox" name="confirm" value="yes" required>/);
    // Unticked (a form without the box, or a forged post): refused, nothing deleted.
    for (const body of ['', 'confirm=no', 'confirm=yes&confirm=yes']) {
      const refused = await httpRequest(port, 'POST', '/v1/dashboard/recordings/delete-all', { cookie, ...same() }, body);
      assert.equal(refused.status, 400, body);
    }
    assert.ok(existsSync(file));
    const crossSite = await httpRequest(port, 'POST', '/v1/dashboard/recordings/delete-all', { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, 'confirm=yes');
    assert.equal(crossSite.status, 403);
    assert.ok(existsSync(file), 'a cross-site post deletes nothing');
    const done = await httpRequest(port, 'POST', '/v1/dashboard/recordings/delete-all', { cookie, ...same() }, 'confirm=yes');
    assert.equal(done.status, 303, done.text);
    assert.equal(done.headers.location, '/v1/dashboard/?done=deleted-all');
    assert.equal(existsSync(file), false);
    assert.equal(stack.sim.recordings().some((r) => r.callControlId === target || r.callControlId === callId), false, 'the provider copies are gone');
    for (const id of [target, callId]) assert.equal((await stack.platform.calls.get(id))!.recording!.url, null, id);
    assert.ok((await stack.platform.calls.get(otherCallId))!.recording!.url, "the other deployment's recording is untouched");
    const after = await httpRequest(port, 'GET', '/v1/dashboard/?done=deleted-all', { cookie });
    assert.match(after.text, /Every recording kept was deleted, here and at the phone provider\./);
    assert.doesNotMatch(after.text, /<audio /, 'no player left');
  });

  it('no sign-in code, session cookie or agent secret in any log line of the gateway or the platform', async () => {
    const secrets: string[] = [stack.agentSecret];
    // A link through the gateway, as `ttma dashboard` asks for it, and one straight from the platform.
    const authorization = await localAuthorization(stack.ports.local, stack.agentSecret, 'POST', '/v1/local/dashboard-link', Buffer.from('{}'));
    const viaGateway = await httpRequest(stack.ports.local, 'POST', '/v1/local/dashboard-link', { authorization, 'content-type': 'application/json' }, '{}');
    assert.equal(viaGateway.status, 200, viaGateway.text);
    const gatewayCode = /code=([A-Za-z0-9_-]{43})/.exec(viaGateway.text)?.[1];
    assert.ok(gatewayCode, viaGateway.text);
    secrets.push(gatewayCode);
    const used = await postCustomerSignIn(port, gatewayCode);
    assert.equal(used.status, 303);
    secrets.push(String(used.headers['set-cookie']).split(';')[0]!.split('=')[1]!);
    const unused = await dashboardLinkCode(stack);
    secrets.push(unused);
    // A refused sign-in with a code that looks right logs the refusal, not the code.
    const guessed = unused.slice(0, 42) + (unused.endsWith('A') ? 'B' : 'A');
    assert.equal((await postCustomerSignIn(port, guessed)).status, 401);
    secrets.push(guessed);
    await httpRequest(port, 'GET', '/v1/dashboard/', { cookie: `ttma_customer=${secrets[2]}` });
    const all = logged.lines.join('');
    assert.match(all, /dashboard session opened for a deployment/, 'the sign-ins were logged');
    assert.match(all, /dashboard sign-in link refused/);
    for (const secret of secrets) assert.ok(secret.length >= 32 && !all.includes(secret), `a credential was logged: ${secret.slice(0, 6)}…`);
  });
});
