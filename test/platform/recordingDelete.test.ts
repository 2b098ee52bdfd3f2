/**
 * Deleting a call's recording for good (FAQ-02: "no audio is kept" once the
 * customer wants none; FAQ-17), with the real simulator, gateway and
 * platform: the deployment deletes its own (the stored MP3 and the
 * provider's copy go, the record says so, nothing plays), the operator any;
 * another deployment's is refused and untouched; a recording still being
 * made is refused; a provider that fails to delete changes nothing here.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, TtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { CallRecordings } from '../../src/platform/CallRecordings.js';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import { RecordingFetcher } from '../../src/platform/RecordingFetcher.js';
import { PLATFORM_PATHS, type RecordingsDeleted } from '../../src/wire/platformApi.js';
import { localAuthorization } from '../helpers/localAuth.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';
import { ADMIN_TOKEN, recordedCall } from './dashboardHelpers.js';
import { agentHeaders, call } from './helpers.js';

const TTMA = fileURLToPath(new URL('../../src/cli/ttma.js', import.meta.url));

function runTtma(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TTMA, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('deleting a recording', () => {
  let stack: Stack;
  let dir: string;
  let base: string;
  let headers: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-recording-delete-'));
    stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    base = `http://127.0.0.1:${stack.ports.platform}`;
    headers = agentHeaders('test', stack.agentSecret);
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const providerKeeps = (callId: string) => stack.sim.recordings().some((r) => r.callControlId === callId);

  it('the deployment deletes its own: the stored MP3 and the provider copy go, and nothing plays', async () => {
    const callId = await recordedCall(stack, '+15550710001', { stored: true });
    const stored = join(dir, (await stack.platform.calls.get(callId))!.recording!.file!);
    assert.ok(existsSync(stored) && providerKeeps(callId));
    // Through the gateway's local listener (what `ttma calls --delete-recording` asks).
    const local = `http://127.0.0.1:${stack.ports.local}`;
    const path = `/v1/local/calls/${encodeURIComponent(callId)}/recording.mp3`;
    const res = await call(local, 'DELETE', path, { headers: { authorization: await localAuthorization(stack.ports.local, stack.agentSecret, 'DELETE', path) } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { call_control_id: callId, stored_file_deleted: true, provider_recordings_deleted: 1, already: null });
    assert.equal(existsSync(stored), false);
    assert.equal(providerKeeps(callId), false);
    const recording = (await stack.platform.calls.get(callId))!.recording!;
    assert.deepEqual({ url: recording.url, file: recording.file, sha256: recording.sha256, discarded: recording.discarded }, { url: null, file: null, sha256: null, discarded: 'deleted by the deployment' });
    assert.equal((await call(base, 'GET', PLATFORM_PATHS.recording(callId), { headers })).status, 404);
    const admin = await call(base, 'GET', `/v1/admin/recordings/${encodeURIComponent(callId)}.mp3`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(admin.status, 404);
    // Again: nothing left, and it says why.
    const again = await call(base, 'DELETE', PLATFORM_PATHS.recording(callId), { headers });
    assert.deepEqual(again.body, { call_control_id: callId, stored_file_deleted: false, provider_recordings_deleted: 0, already: 'deleted by the deployment' });
  });

  it("the operator deletes any with the admin token; another deployment's delete is refused and changes nothing", async () => {
    const callId = await recordedCall(stack, '+15550710002', { stored: true });
    const stored = join(dir, (await stack.platform.calls.get(callId))!.recording!.file!);
    const otherSecret = (await stack.platform.deployments.register({ id: 'other', numbers: ['+15550100066'], tunnelHost: 'other.trycloudflare.com' })).agentSecret;
    const foreign = await call(base, 'DELETE', PLATFORM_PATHS.recording(callId), { headers: agentHeaders('other', otherSecret) });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.error.code, ErrorCodes.CALL_NOT_OWNED);
    assert.equal((await call(base, 'DELETE', PLATFORM_PATHS.recording(callId), { headers: agentHeaders('test', 'wrong') })).status, 401);
    assert.ok(existsSync(stored) && providerKeeps(callId), 'untouched');

    const res = await call(base, 'DELETE', `/v1/admin/recordings/${encodeURIComponent(callId)}.mp3`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.provider_recordings_deleted, 1);
    assert.equal(existsSync(stored), false);
    assert.equal(providerKeeps(callId), false);
    assert.equal((await stack.platform.calls.get(callId))!.recording!.discarded, 'deleted by the operator');
  });

  it('a recording still being made is refused (409): it does not exist yet', async () => {
    const live = stack.sim.placeInboundCall({ from: '+15550710003', to: NUMBER, durationMs: 2_000 });
    await waitFor('record_start', async () => Boolean((await stack.platform.calls.get(live.id))?.recording?.started), 5_000);
    const res = await call(base, 'DELETE', PLATFORM_PATHS.recording(live.id), { headers });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, ErrorCodes.CONFLICT);
    assert.match(res.body.error.message, /still being recorded/);
    await live.done;
    const none = stack.sim.placeInboundCall({ from: '+15550710004', to: NUMBER, durationMs: 500 });
    await none.done;
    await stack.platform.deployments.update('test', { recording: false });
    const unrecorded = stack.sim.placeInboundCall({ from: '+15550710005', to: NUMBER, durationMs: 500 });
    await unrecorded.done;
    await waitFor('settled', async () => (await stack.platform.calls.get(unrecorded.id))?.billing != null, 8_000);
    const nothing = await call(base, 'DELETE', PLATFORM_PATHS.recording(unrecorded.id), { headers });
    assert.equal(nothing.status, 404);
    assert.match(nothing.body.error.message, /no recording/);
    await stack.platform.deployments.update('test', { recording: true });
  });
});

describe('deleting a recording when the provider fails', () => {
  it('changes nothing here: the stored file and the record stay, and the error names the provider', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttma-recording-delete-fail-'));
    try {
      const calls = new CallRegistry();
      const fetcher = new RecordingFetcher({ dir, allowedOrigins: ['http://127.0.0.1'] });
      const failing = {
        action: async () => undefined,
        deleteRecordings: async (): Promise<string[]> => {
          throw new TtmaError(ErrorCodes.PROVIDER, 'provider delete recording failed after 3 attempts: HTTP 503', 502);
        },
      };
      const recordings = new CallRecordings({ provider: failing, calls, fetcher, logger: createLogger('test', 'silent') });
      await calls.lock('v3:c1', 'dep', { direction: 'incoming', from: '+15550000001', to: '+15550000002' });
      mkdirSync(join(dir, 'dep'));
      writeFileSync(join(dir, 'dep', 'v3_c1.mp3'), 'mp3');
      await calls.patchRecording('v3:c1', { started: true, url: 'https://provider.example/r.mp3', file: 'dep/v3_c1.mp3', legId: 'leg-1' });
      const record = (await calls.get('v3:c1'))!;
      await assert.rejects(recordings.remove(record, 'deployment'), /HTTP 503/);
      assert.ok(existsSync(join(dir, 'dep', 'v3_c1.mp3')));
      const after = (await calls.get('v3:c1'))!.recording!;
      assert.equal(after.file, 'dep/v3_c1.mp3');
      assert.equal(after.discarded, null);
      // A stored path that would leave the directory is refused, never followed.
      await assert.rejects(fetcher.remove('../outside.mp3'), /outside the recordings directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deleting a recording the provider has not saved yet', () => {
  it('marks it, and deletes it at the provider when the saved event arrives, even with recording on', async () => {
    const calls = new CallRegistry();
    const asked: Array<{ ids: readonly string[]; leg: string | null }> = [];
    const provider = {
      action: async () => undefined,
      deleteRecordings: async (ids: readonly string[], leg: string | null): Promise<string[]> => {
        asked.push({ ids, leg });
        return [...ids];
      },
    };
    const recordings = new CallRecordings({ provider, calls, fetcher: null, logger: createLogger('test', 'silent') });
    const facts = { direction: 'incoming' as const, from: '+15550000001', to: '+15550000002' };
    await calls.lock('v3:c2', 'dep', facts);
    await calls.recordEvent('v3:c2', facts, { event_type: 'call.hangup', occurred_at: new Date().toISOString(), hangup_cause: 'normal_clearing' });
    await calls.patchRecording('v3:c2', { started: true });
    const ended = (await calls.get('v3:c2'))!;
    assert.equal(ended.state, 'ended');
    const removed = await recordings.remove(ended, 'deployment');
    assert.equal(removed.provider_recordings_deleted, 0, 'nothing at the provider yet');
    assert.equal((await calls.get('v3:c2'))!.recording!.discarded, 'deleted by the deployment');
    // The provider's event arrives afterwards; the deployment still records calls.
    const deployment = { id: 'dep', recording: true } as never;
    await recordings.saved(deployment, 'v3:c2', { payload: { recording_id: 'rec-1', call_leg_id: 'leg-2', recording_urls: { mp3: 'https://provider.example/r.mp3' } } });
    assert.deepEqual(asked.at(-1), { ids: ['rec-1'], leg: 'leg-2' });
    const after = (await calls.get('v3:c2'))!.recording!;
    assert.equal(after.url, null, 'the URL is not kept');
    assert.equal(after.discarded, 'deleted by the deployment');
  });
});


describe('deleting every recording a deployment keeps, a pass at a time', () => {
  it("passes of at most N: each deletes the newest kept, counts calls being recorded, retries a failure, never touches another deployment's", async () => {
    const calls = new CallRegistry();
    const deletedLegs: string[] = [];
    let failLeg: string | null = 'leg-5';
    const provider = {
      action: async () => undefined,
      deleteRecordings: async (_ids: readonly string[], leg: string | null): Promise<string[]> => {
        if (leg === failLeg) throw new TtmaError(ErrorCodes.PROVIDER, 'provider delete recording failed: HTTP 503', 502);
        deletedLegs.push(leg ?? '');
        return [`rec-${leg}`];
      },
    };
    const recordings = new CallRecordings({ provider, calls, fetcher: null, logger: createLogger('test', 'silent') });
    const facts = { direction: 'incoming' as const, from: '+15550000001', to: '+15550000002' };
    const ended = async (id: string, deployment: string, recording: Parameters<CallRegistry['patchRecording']>[1]) => {
      await calls.lock(id, deployment, facts);
      await calls.recordEvent(id, facts, { event_type: 'call.hangup', occurred_at: new Date().toISOString(), hangup_cause: 'normal_clearing' });
      await calls.patchRecording(id, recording);
    };
    // Seven kept (one the provider has yet to announce), one already deleted, one never recorded, one of another deployment.
    for (let k = 1; k <= 6; k++) await ended(`v3:kept-${k}`, 'dep', { started: true, url: `https://provider.example/${k}.mp3`, legId: `leg-${k}` });
    await ended('v3:pending', 'dep', { started: true, legId: 'leg-pending' });
    await ended('v3:gone', 'dep', { started: true, legId: 'leg-gone', discarded: 'deleted by the deployment' });
    await ended('v3:unrecorded', 'dep', {});
    await ended('v3:theirs', 'other', { started: true, url: 'https://provider.example/theirs.mp3', legId: 'leg-theirs' });
    // And a call being recorded now.
    await calls.lock('v3:live', 'dep', facts);
    await calls.patchRecording('v3:live', { started: true, legId: 'leg-live' });

    // Records made within one millisecond share their first sighting, so which three a pass takes is not fixed: totals are.
    const first = await recordings.removeKept('dep', 'deployment', 3);
    assert.equal(first.deleted + first.failed, 3);
    assert.equal(first.more, true);
    assert.equal(first.recording_now, 1);
    let deleted = first.deleted;
    let last = first;
    for (let pass = 2; last.more && pass <= 10; pass++) {
      last = await recordings.removeKept('dep', 'deployment', 3);
      deleted += last.deleted;
    }
    assert.equal(deleted, 6, 'every kept recording but the one the provider refuses');
    assert.deepEqual({ failed: last.failed, more: last.more }, { failed: 1, more: false }, 'the failing one is retried by every pass, and left kept');
    failLeg = null;
    assert.deepEqual(await recordings.removeKept('dep', 'deployment', 3), { deleted: 1, failed: 0, more: false, recording_now: 1 });
    assert.deepEqual(await recordings.removeKept('dep', 'deployment', 3), { deleted: 0, failed: 0, more: false, recording_now: 1 });
    assert.deepEqual(deletedLegs.sort(), ['leg-1', 'leg-2', 'leg-3', 'leg-4', 'leg-5', 'leg-6', 'leg-pending']);
    for (const id of ['v3:kept-1', 'v3:kept-5', 'v3:pending']) {
      const rec = (await calls.get(id))!.recording!;
      assert.deepEqual({ url: rec.url, discarded: rec.discarded }, { url: null, discarded: 'deleted by the deployment' }, id);
    }
    assert.equal((await calls.get('v3:theirs'))!.recording!.url, 'https://provider.example/theirs.mp3', "another deployment's is untouched");
    assert.equal((await calls.get('v3:live'))!.recording!.discarded, null, 'a recording in progress is left to the switch');
  });

  it('passes from each next_from try every recording once: failures at the front never hide the ones after them', async () => {
    const calls = new CallRegistry();
    const attempts = new Map<string, number>();
    const provider = {
      action: async () => undefined,
      deleteRecordings: async (_ids: readonly string[], leg: string | null): Promise<string[]> => {
        attempts.set(leg ?? '', (attempts.get(leg ?? '') ?? 0) + 1);
        if (leg?.startsWith('leg-fail')) throw new TtmaError(ErrorCodes.PROVIDER, 'provider delete recording failed: HTTP 503', 502);
        return [`rec-${leg}`];
      },
    };
    const recordings = new CallRecordings({ provider, calls, fetcher: null, logger: createLogger('test', 'silent') });
    const facts = { direction: 'incoming' as const, from: '+15550000001', to: '+15550000002' };
    const ended = async (id: string, legId: string) => {
      await calls.lock(id, 'dep', facts);
      await calls.recordEvent(id, facts, { event_type: 'call.hangup', occurred_at: new Date().toISOString(), hangup_cause: 'normal_clearing' });
      await calls.patchRecording(id, { started: true, url: `https://provider.example/${legId}.mp3`, legId });
    };
    // Oldest first: a call being recorded, four the provider deletes, then (newest, so first in every pass) five it will not.
    await calls.lock('v3:live', 'dep', facts);
    await calls.patchRecording('v3:live', { started: true, legId: 'leg-live' });
    const tick = () => new Promise((resolve) => setTimeout(resolve, 3));
    await tick();
    for (let k = 1; k <= 4; k++) await ended(`v3:ok-${k}`, `leg-ok-${k}`);
    await tick();
    for (let k = 1; k <= 5; k++) await ended(`v3:fail-${k}`, `leg-fail-${k}`);

    // From the start, three a pass: the first pass meets only failures.
    const first = await recordings.removeKept('dep', 'deployment', 3);
    assert.deepEqual(first, { deleted: 0, failed: 3, more: true, recording_now: 1, next_from: 3 });
    const passes: RecordingsDeleted[] = [first];
    for (let from = first.next_from!; passes.at(-1)!.more && passes.length < 10; ) {
      const pass = await recordings.removeKept('dep', 'deployment', 3, { from });
      assert.equal(pass.recording_now, 1, 'calls being recorded are counted over the whole list, whatever the start');
      if (pass.more) {
        assert.ok(pass.next_from! > from, `next_from ${pass.next_from} moves past ${from}`);
        from = pass.next_from!;
      } else assert.equal(pass.next_from, undefined);
      passes.push(pass);
    }
    assert.equal(passes.length, 3);
    const sum = (key: 'deleted' | 'failed') => passes.reduce((n, p) => n + p[key], 0);
    assert.deepEqual({ deleted: sum('deleted'), failed: sum('failed') }, { deleted: 4, failed: 5 });
    assert.deepEqual([...attempts.values()], Array.from({ length: 9 }, () => 1), 'each recording tried once in the run');
    for (let k = 1; k <= 4; k++) assert.equal((await calls.get(`v3:ok-${k}`))!.recording!.discarded, 'deleted by the deployment');
    for (let k = 1; k <= 5; k++) assert.equal((await calls.get(`v3:fail-${k}`))!.recording!.url, `https://provider.example/leg-fail-${k}.mp3`, 'a failure stays kept');
    // A new run from the start tries the failures again; a start past the end tries nothing.
    assert.deepEqual(await recordings.removeKept('dep', 'deployment', 3), { deleted: 0, failed: 3, more: true, recording_now: 1, next_from: 3 });
    assert.deepEqual(await recordings.removeKept('dep', 'deployment', 3, { from: 1_000 }), { deleted: 0, failed: 0, more: false, recording_now: 1 });
  });

  it('a pass stops starting deletions when its time is up, and says there is more (a slow provider)', async () => {
    const calls = new CallRegistry();
    const provider = {
      action: async () => undefined,
      deleteRecordings: async (): Promise<string[]> => {
        await new Promise((resolve) => setTimeout(resolve, 60));
        return ['rec'];
      },
    };
    const recordings = new CallRecordings({ provider, calls, fetcher: null, logger: createLogger('test', 'silent') });
    const facts = { direction: 'incoming' as const, from: '+15550000001', to: '+15550000002' };
    for (let k = 1; k <= 5; k++) {
      await calls.lock(`v3:slow-${k}`, 'dep', facts);
      await calls.recordEvent(`v3:slow-${k}`, facts, { event_type: 'call.hangup', occurred_at: new Date().toISOString(), hangup_cause: 'normal_clearing' });
      await calls.patchRecording(`v3:slow-${k}`, { started: true, url: `https://provider.example/${k}.mp3`, legId: `leg-${k}` });
    }
    const pass = await recordings.removeKept('dep', 'deployment', 50, { budgetMs: 100 });
    assert.ok(pass.deleted >= 1 && pass.deleted <= 3, `deleted ${pass.deleted} in a 100 ms budget at 60 ms each`);
    assert.equal(pass.more, true);
    const rest = await recordings.removeKept('dep', 'deployment', 50);
    assert.deepEqual(rest, { deleted: 5 - pass.deleted, failed: 0, more: false, recording_now: 0 });
  });

  it('through the gateway (`ttma recording --delete-existing`): every stored copy and provider copy goes, in one pass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttma-recordings-delete-all-'));
    const stack = await startStack({}, { signWith: 'node', platform: { recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    try {
      const ids = [await recordedCall(stack, '+15550720001', { stored: true }), await recordedCall(stack, '+15550720002', { stored: true })];
      const files = await Promise.all(ids.map(async (id) => join(dir, (await stack.platform.calls.get(id))!.recording!.file!)));
      assert.ok(files.every((f) => existsSync(f)));
      const local = `http://127.0.0.1:${stack.ports.local}`;
      const refused = await call(local, 'DELETE', '/v1/local/recordings', { headers: { authorization: 'Bearer wrong' } });
      assert.equal(refused.status, 401);
      assert.ok(files.every((f) => existsSync(f)), 'a wrong secret deletes nothing');
      const res = await call(local, 'DELETE', '/v1/local/recordings', { headers: { authorization: await localAuthorization(stack.ports.local, stack.agentSecret, 'DELETE', '/v1/local/recordings') } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { deleted: 2, failed: 0, more: false, recording_now: 0 });
      assert.ok(files.every((f) => !existsSync(f)), 'stored copies gone');
      assert.equal(stack.sim.recordings().filter((r) => ids.includes(r.callControlId)).length, 0, 'provider copies gone');
      const again = await call(local, 'DELETE', '/v1/local/recordings', { headers: { authorization: await localAuthorization(stack.ports.local, stack.agentSecret, 'DELETE', '/v1/local/recordings') } });
      assert.deepEqual(again.body, { deleted: 0, failed: 0, more: false, recording_now: 0 });
      // A start where an earlier pass stopped: only a whole number in range, refused before the platform is asked.
      for (const from of ['-1', '1.5', 'abc', '', '99999999', '1e3', '0x10']) {
        const path = `/v1/local/recordings?from=${encodeURIComponent(from)}`;
        const bad = await call(local, 'DELETE', path, { headers: { authorization: await localAuthorization(stack.ports.local, stack.agentSecret, 'DELETE', path) } });
        assert.equal(bad.status, 400, `from=${from}: ${JSON.stringify(bad.body)}`);
        assert.equal((bad.body as { error?: { code?: string } }).error?.code, 'TTMA_ERR_BAD_REQUEST');
        const direct = await call(`http://127.0.0.1:${stack.ports.platform}`, 'DELETE', `${PLATFORM_PATHS.recordings}?from=${encodeURIComponent(from)}`, { headers: agentHeaders('test', stack.agentSecret) });
        assert.equal(direct.status, 400, `platform, from=${from}`);
      }
      const later = await call(local, 'DELETE', '/v1/local/recordings?from=7', { headers: { authorization: await localAuthorization(stack.ports.local, stack.agentSecret, 'DELETE', '/v1/local/recordings?from=7') } });
      assert.deepEqual(later.body, { deleted: 0, failed: 0, more: false, recording_now: 0 });
      // The platform route itself takes only DELETE, and only with the deployment's secret.
      const base = `http://127.0.0.1:${stack.ports.platform}`;
      assert.equal((await call(base, 'GET', PLATFORM_PATHS.recordings, { headers: agentHeaders('test', stack.agentSecret) })).status, 405);
      assert.equal((await call(base, 'DELETE', PLATFORM_PATHS.recordings, { headers: agentHeaders('test', 'wrong') })).status, 401);
    } finally {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`ttma recording --delete-existing` goes on past a recording the provider will not delete, and says so (exit 1)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttma-recordings-delete-all-cli-'));
    // One a pass, so the passes are many and the failing recording (the newest) heads the first.
    const stack = await startStack({}, { signWith: 'node', platform: { recordingsDeletedPerPass: 1, provider: { maxAttempts: 2, backoffMs: 10 }, cdr: { attempts: 5, backoffMs: 50 } } });
    try {
      const kept = [await recordedCall(stack, '+15550740001', { stored: false }), await recordedCall(stack, '+15550740002', { stored: false })];
      const stuck = stack.sim.placeInboundCall({ from: '+15550740003', to: NUMBER, durationMs: 1_500 });
      stack.sim.setRecordingDeletesFailing(stuck.id, true);
      await stuck.done;
      await waitFor('the third recording saved', async () => Boolean((await stack.platform.calls.get(stuck.id))?.recording?.url), 8_000);
      const secretFile = join(dir, 'agent-secret');
      writeFileSync(secretFile, stack.agentSecret, { mode: 0o600 });
      const run = await runTtma(['recording', '--delete-existing', '--json', '--local-port', String(stack.ports.local), '--agent-secret-file', secretFile]);
      assert.equal(run.code, 1, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { ok: false, recording: true, recordings_deleted: { deleted: 2, failed: 1, recording_now: 0 } });
      assert.deepEqual(run.stderr.trim().split('\n'), [
        'ttma recording: 0 recordings deleted, 1 failed, more to go',
        'ttma recording: 1 recording deleted, 1 failed, more to go',
        'ttma recording: 2 recordings deleted, 1 failed',
      ]);
      assert.equal(stack.sim.recordings().filter((r) => kept.includes(r.callControlId)).length, 0, 'the two behind the failure are gone at the provider');
      assert.equal(stack.sim.recordings().filter((r) => r.callControlId === stuck.id).length, 1, 'the failing one is kept');
      // The provider recovers: the next run deletes it.
      stack.sim.setRecordingDeletesFailing(stuck.id, false);
      const retry = await runTtma(['recording', '--delete-existing', '--local-port', String(stack.ports.local), '--agent-secret-file', secretFile]);
      assert.equal(retry.code, 0, retry.stderr);
      assert.match(retry.stdout, /^recording is on: new calls are recorded\n1 recording deleted, here and at the phone provider\n$/);
      assert.equal(stack.sim.recordings().length, 0);
    } finally {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the operator deletes a deployment's kept recordings with the admin token, and only that deployment's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttma-recordings-delete-all-admin-'));
    const stack = await startStack({}, { signWith: 'node', platform: { adminToken: ADMIN_TOKEN, recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
    try {
      const id = await recordedCall(stack, '+15550730001', { stored: true });
      const file = join(dir, (await stack.platform.calls.get(id))!.recording!.file!);
      await stack.platform.deployments.register({ id: 'other', numbers: ['+15550100055'], tunnelHost: 'other.trycloudflare.com' });
      await stack.platform.calls.lock('v3:other-kept', 'other', { direction: 'incoming', from: '+15550730099', to: '+15550100055' });
      await stack.platform.calls.patchRecording('v3:other-kept', { started: true, url: 'https://provider.example/other.mp3', legId: 'leg-other' });
      const base = `http://127.0.0.1:${stack.ports.platform}`;
      const path = '/v1/admin/deployments/test/delete-recordings';
      const json = { 'content-type': 'application/json' };
      assert.equal((await call(base, 'POST', path, { headers: { ...json, authorization: 'Bearer not-the-admin-token' }, body: {} })).status, 401);
      assert.equal((await call(base, 'POST', path, { headers: { ...json, authorization: `Bearer ${stack.agentSecret}` }, body: {} })).status, 401, 'an agent secret is not the admin token');
      assert.ok(existsSync(file), 'refused requests delete nothing');
      assert.equal((await call(base, 'POST', '/v1/admin/deployments/nobody/delete-recordings', { headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}` }, body: {} })).status, 404);
      for (const from of ['-3', 'x', '100000000']) {
        const bad = await call(base, 'POST', `${path}?from=${from}`, { headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}` }, body: {} });
        assert.equal(bad.status, 400, `from=${from}`);
      }
      assert.ok(existsSync(file), 'a bad start deletes nothing');
      const res = await call(base, 'POST', path, { headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}` }, body: {} });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { deleted: 1, failed: 0, more: false, recording_now: 0 });
      assert.equal(existsSync(file), false);
      assert.equal((await stack.platform.calls.get(id))!.recording!.discarded, 'deleted by the operator');
      assert.equal((await stack.platform.calls.get('v3:other-kept'))!.recording!.url, 'https://provider.example/other.mp3', "another deployment's is untouched");
    } finally {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
