/**
 * The whole path with the real simulator and a real gateway: call records
 * filled from the provider's events and records, recording on by default
 * (record_start sent, the recording event's URL kept, the MP3 downloaded
 * into the storage directory and SHA-256 checked), and off: record_start
 * never sent and nothing stored.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

describe('call records and recordings through the simulator', () => {
  let stack: Stack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-recordings-'));
    stack = await startStack({}, { signWith: 'node', platform: { recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records by default: record_start sent, MP3 stored and SHA-256 checked, call record complete', async () => {
    const call = stack.sim.placeInboundCall({ from: '+15550300001', to: NUMBER, durationMs: 1_500 });
    const report = await call.done;
    assert.ok(report.framesSent > 0);
    await waitFor('recording stored', async () => Boolean((await stack.platform.calls.get(call.id))?.recording?.file), 8_000);
    const record = (await stack.platform.calls.get(call.id))!;
    assert.ok(stack.sim.recordedCallIds().includes(call.id), 'record_start reached the provider');
    const recording = record.recording!;
    // A signed URL that expires, like Telnyx's pre-signed storage URLs.
    assert.match(recording.url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/sim\/recordings\/[0-9a-f]{32}\.mp3\?expires=\d+&signature=[0-9a-f]{64}$/);
    const id = /recordings\/([0-9a-f]{32})\.mp3\?/.exec(recording.url!)![1]!;
    const original = stack.sim.recording(id)!;
    const stored = readFileSync(join(dir, recording.file!));
    assert.deepEqual(stored, original);
    assert.equal(recording.sha256, createHash('sha256').update(original).digest('hex'));
    assert.equal(recording.bytes, original.length);
    // A real MPEG-1 Layer III stream: frame sync in the first bytes.
    assert.equal(stored[0], 0xff);
    assert.equal(stored[1]! & 0xe0, 0xe0);

    await waitFor('settled', async () => (await stack.platform.calls.get(call.id))?.billing !== null, 8_000);
    const settled = (await stack.platform.calls.get(call.id))!;
    assert.equal(settled.billing?.source, 'cdr');
    // The provider's detail record counts whole seconds (call_sec).
    assert.equal(settled.billing?.durationMs, Math.round(report.cdr.duration_ms / 1000) * 1000);
    assert.equal(settled.billing?.billedMinutes, 1);
    assert.equal(settled.direction, 'incoming');
    assert.equal(settled.from, '+15550300001');
    assert.equal(settled.to, NUMBER);
    assert.ok(settled.answeredAt && settled.endedAt && settled.answeredAt <= settled.endedAt);
    assert.equal(settled.hangupCause, report.cdr.hangup_cause);
  });

  it('off: record_start is never sent and nothing is stored', async () => {
    await stack.platform.deployments.update('test', { recording: false });
    const filesBefore = readdirSync(dir, { recursive: true }).length;
    const call = stack.sim.placeInboundCall({ from: '+15550300002', to: NUMBER, durationMs: 1_000 });
    await call.done;
    await waitFor('settled', async () => (await stack.platform.calls.get(call.id))?.billing !== null, 8_000);
    assert.equal(stack.sim.recordedCallIds().includes(call.id), false);
    assert.equal((await stack.platform.calls.get(call.id))?.recording, null);
    assert.equal(readdirSync(dir, { recursive: true }).length, filesBefore);
    await stack.platform.deployments.update('test', { recording: true });
  });
});
