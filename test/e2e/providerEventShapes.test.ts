/**
 * The whole system with a simulator that sends Telnyx's event shapes: the
 * direction on `call.initiated` only, no numbers on `streaming.*` or
 * `call.recording.saved`, and a call status (GET /v2/calls/{id}) without
 * direction or numbers (developers.telnyx.com/api-reference/callbacks/,
 * .../call-information/retrieve-a-call-status). A hang-up settles the call,
 * a recording is stored (or, made while recording is off, deleted at the
 * provider), an answered outbound call is recorded; and an inbound call
 * whose `call.initiated` reaches the platform after the gateway's answer
 * (the provider delivers to each receiver on its own) is still answered:
 * the platform waits for it, and past its wait the gateway asks again.
 * Real simulator, platform and gateway on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, startStack, streamingCall, waitFor, withStack, type Stack } from '../helpers/stack.js';

describe("Telnyx's event shapes, end to end", () => {
  let stack: Stack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ttma-event-shapes-'));
    stack = await startStack({}, { signWith: 'node', sim: { outboundTalkMs: 1_500 }, platform: { recordingsDir: dir, cdr: { attempts: 5, backoffMs: 50 } } });
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const record = async (id: string) => (await stack.platform.calls.get(id))!;

  it('an inbound call: its hang-up settles it from the provider record, its recording is stored', async () => {
    const call = stack.sim.placeInboundCall({ from: '+15550800001', to: NUMBER, durationMs: 1_500 });
    const report = await call.done;
    assert.equal(report.endedBy, 'caller', report.endReason ?? '');
    await waitFor('settled', async () => (await record(call.id)).billing !== null, 8_000);
    await waitFor('recording stored', async () => Boolean((await record(call.id)).recording?.file), 8_000);
    const settled = await record(call.id);
    assert.equal(settled.state, 'ended');
    // Billed from the provider's detail record, which counts whole seconds (call_sec).
    assert.deepEqual([settled.billing?.source, settled.billing?.durationMs], ['cdr', Math.round(report.cdr.duration_ms / 1000) * 1000]);
    assert.deepEqual(settled.timeline.map((e) => e.event).filter((e) => e.startsWith('call.')), ['call.initiated', 'call.answered', 'call.hangup', 'call.recording.saved']);
  });

  it('an outbound call: record_start once the callee answers, then settled and its recording stored', async () => {
    const placed = await stack.gateway.control.dial('+15557650801');
    await waitFor('record_start at the provider', () => stack.sim.recordedCallIds().includes(placed.callId), 5_000);
    const report = await stack.sim.liveCall(placed.callId)!.done;
    assert.ok(report.framesReturned > 0, 'the call streamed');
    await waitFor('settled and stored', async () => {
      const r = await record(placed.callId);
      return r.billing !== null && Boolean(r.recording?.file);
    }, 8_000);
    const r = await record(placed.callId);
    assert.deepEqual([r.direction, r.deploymentId, r.state, r.billing?.source], ['outgoing', 'test', 'ended', 'cdr']);
  });

  it('a recording the provider makes while recording is off is deleted there when it is saved', async () => {
    await stack.platform.deployments.update('test', { recording: false });
    try {
      const live = stack.sim.placeInboundCall({ from: '+15550800003', to: NUMBER, durationMs: 1_500 });
      await waitFor('answered', async () => (await stack.platform.calls.get(live.id))?.state === 'answered', 5_000);
      const res = await fetch(`http://127.0.0.1:${stack.ports.sim}/v2/calls/${encodeURIComponent(live.id)}/actions/record_start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ format: 'mp3', channels: 'single' }),
      });
      assert.equal(res.status, 200);
      await live.done;
      await waitFor('the provider copy deleted', () => stack.sim.recordedCallIds().includes(live.id) && !stack.sim.recordings().some((r) => r.callControlId === live.id), 8_000);
      assert.equal((await record(live.id)).recording?.url ?? null, null);
    } finally {
      await stack.platform.deployments.update('test', { recording: true });
    }
  });
});

describe("an inbound call whose call.initiated reaches the platform after the gateway's answer", () => {
  it('the platform waits for it and answers: the call streams and ends normally', async () => {
    await withStack({}, { platformWebhookDelayMs: 700 }, async (stack) => {
      const call = await streamingCall(stack, '+15550800011', 1_500);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(stack.gateway.control.ended['answer_failed'] ?? 0, 0);
      await waitFor('the platform has the whole call', async () => (await stack.platform.calls.get(call.id))?.state === 'ended', 5_000);
      assert.equal((await stack.platform.calls.get(call.id))?.deploymentId, 'test');
    });
  });

  it("past the platform's wait, it answers 503 TTMA_ERR_CALL_PENDING and the gateway asks again until the call is answered", async () => {
    await withStack({}, { platformWebhookDelayMs: 1_200, platform: { callWaitMs: { signalling: 200 } } }, async (stack) => {
      const call = await streamingCall(stack, '+15550800012', 1_500);
      assert.equal((await call.done).endedBy, 'caller');
      const text = (await stack.gateway.metrics.text()).body;
      assert.ok((metricValue(text, 'ttma_platform_refusals_total', { code: 'TTMA_ERR_CALL_PENDING' }) ?? 0) >= 1, 'the platform held the answer at least once');
      assert.equal(stack.gateway.control.ended['answer_failed'] ?? 0, 0);
    });
  });
});
