/**
 * A deployment's own recording switch (FAQ-02, FAQ-17: "you can turn
 * recording off at any time"; "when it's off, no audio is kept"), with the
 * real simulator, gateway and platform: turned off during a call, the
 * platform sends record_stop and has the provider delete what it saves of
 * the call; the operator's switch does the same;
 * a recording the provider makes while recording is off is deleted; bad
 * switches change nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { localAuthorization } from '../helpers/localAuth.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { agentHeaders, call } from './helpers.js';

const PATH = PLATFORM_PATHS.recordingSetting;

describe('the recording switch', () => {
  let stack: Stack;
  let dir: string;
  let base: string;
  let headers: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-recording-switch-'));
    stack = await startStack({}, { signWith: 'node', platform: { recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    base = `http://127.0.0.1:${stack.ports.platform}`;
    headers = agentHeaders('test', stack.agentSecret);
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const recordingOf = async (callId: string) => (await stack.platform.calls.get(callId))?.recording ?? null;
  const providerKeeps = (callId: string) => stack.sim.recordings().some((r) => r.callControlId === callId);

  /** A call answered and being recorded at the provider. */
  const recordedLiveCall = async (from: string) => {
    const live = stack.sim.placeInboundCall({ from, to: NUMBER, durationMs: 2_500 });
    await waitFor('record_start', async () => stack.sim.recordedCallIds().includes(live.id) && Boolean((await recordingOf(live.id))?.started), 5_000);
    return live;
  };

  it('turned off by the deployment during a call: record_stop, and the provider deletes what it saved', async () => {
    assert.deepEqual((await call(base, 'GET', PATH, { headers })).body, { recording: true });
    const live = await recordedLiveCall('+15550700001');
    assert.equal(live.recordingNow, true);
    const filesBefore = readdirSync(dir, { recursive: true }).length;

    // Through the gateway's local listener (what `ttma recording off` asks), which relays to the platform.
    const local = `http://127.0.0.1:${stack.ports.local}`;
    const signed = async (method: string, body?: unknown) => ({
      authorization: await localAuthorization(stack.ports.local, stack.agentSecret, method, '/v1/local/recording', body === undefined ? undefined : Buffer.from(JSON.stringify(body))),
    });
    assert.deepEqual((await call(local, 'GET', '/v1/local/recording', { headers: await signed('GET') })).body, { recording: true });
    const off = await call(local, 'POST', '/v1/local/recording', { headers: await signed('POST', { recording: false }), body: { recording: false } });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.deepEqual(off.body, { recording: false, stopped: 1 });
    assert.equal(live.recordingNow, false, 'record_stop reached the provider');
    assert.equal((await stack.platform.deployments.get('test'))?.recording, false);
    assert.deepEqual((await call(base, 'GET', PATH, { headers })).body, { recording: false });

    await live.done;
    // The provider saved the part recorded before the stop; the platform deleted it there.
    await waitFor('the provider copy deleted', () => stack.sim.deletedRecordingIds().length > 0 && !providerKeeps(live.id), 8_000);
    const recording = await recordingOf(live.id);
    assert.equal(recording?.discarded, 'recording turned off during the call');
    assert.equal(recording?.url, null);
    assert.equal(recording?.file, null);
    assert.equal(readdirSync(dir, { recursive: true }).length, filesBefore, 'nothing stored');
    // What the deployment sees: not recorded; its recording is not played.
    const listed = await call(base, 'GET', '/v1/signal/calls?limit=5', { headers });
    assert.equal(listed.body.calls.find((c: { call_control_id: string }) => c.call_control_id === live.id)?.recorded, false);
    const play = await call(base, 'GET', PLATFORM_PATHS.recording(live.id), { headers });
    assert.equal(play.status, 404);

    // On again: the next call is recorded and kept.
    assert.deepEqual((await call(base, 'POST', PATH, { headers, body: { recording: true } })).body, { recording: true, stopped: 0 });
    const next = stack.sim.placeInboundCall({ from: '+15550700002', to: NUMBER, durationMs: 1_000 });
    await next.done;
    await waitFor('recording stored', async () => Boolean((await recordingOf(next.id))?.file), 8_000);
    assert.equal((await recordingOf(next.id))?.discarded, null);
    assert.ok(providerKeeps(next.id));
  });

  it("turned off by the operator during a call: the same (the switch is the deployment's flag, whoever flips it)", async () => {
    const live = await recordedLiveCall('+15550700003');
    await stack.platform.deployments.update('test', { recording: false });
    await waitFor('record_stop', () => !live.recordingNow, 5_000);
    await live.done;
    await waitFor('the provider copy deleted', () => !providerKeeps(live.id), 8_000);
    await waitFor('marked discarded', async () => (await recordingOf(live.id))?.discarded === 'recording turned off during the call', 5_000);
    await stack.platform.deployments.update('test', { recording: true });
  });

  it('a recording the provider makes while recording is off is deleted there, and not kept here', async () => {
    await stack.platform.deployments.update('test', { recording: false });
    const live = stack.sim.placeInboundCall({ from: '+15550700004', to: NUMBER, durationMs: 2_000 });
    await waitFor('answered', async () => (await stack.platform.calls.get(live.id))?.state === 'answered', 5_000);
    assert.equal(stack.sim.recordedCallIds().includes(live.id), false, 'the platform sent no record_start');
    // Something else records the call at the provider (a console user, another integration).
    const res = await fetch(`http://127.0.0.1:${stack.ports.sim}/v2/calls/${encodeURIComponent(live.id)}/actions/record_start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'mp3', channels: 'single' }),
    });
    assert.equal(res.status, 200);
    await live.done;
    await waitFor('the provider copy deleted', () => stack.sim.recordedCallIds().includes(live.id) && !providerKeeps(live.id), 8_000);
    await waitFor('marked discarded', async () => (await recordingOf(live.id))?.discarded === 'recorded by the provider while recording was off', 5_000);
    assert.equal((await recordingOf(live.id))?.url, null);
    await stack.platform.deployments.update('test', { recording: true });
  });

  it('a malformed or unauthenticated switch is refused and changes nothing', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ recording: 'false' }, /true or false/],
      [{ recording: 0 }, /true or false/],
      [{}, /true or false/],
      [{ recording: false, deployment: 'other' }, /unknown field "deployment"/],
      [[false], /JSON object/],
    ];
    for (const [body, message] of bad) {
      const res = await call(base, 'POST', PATH, { headers, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, ErrorCodes.BAD_REQUEST);
      assert.match(res.body.error.message, message);
    }
    for (const who of [{}, agentHeaders('test', 'not-the-secret'), agentHeaders('no-such', stack.agentSecret)]) {
      const res = await call(base, 'POST', PATH, { headers: who, body: { recording: false } });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, ErrorCodes.AUTH);
    }
    assert.equal((await call(base, 'PUT', PATH, { headers, body: { recording: false } })).status, 405);
    assert.equal((await stack.platform.deployments.get('test'))?.recording, true, 'still on');
  });
});
