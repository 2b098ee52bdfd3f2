/**
 * End to end over real loopback sockets and real worker threads: simulator
 * -> signed webhook -> gateway -> platform -> simulator answers -> media
 * WebSocket -> CallActor on a worker -> echo agent -> paced back to the phone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

let stack: Stack;

before(async () => {
  // The front owns the media sockets here: killing a worker thread is how its supervision is tested (docs/threads.md).
  stack = await startStack({ mediaSockets: 'front' });
});

after(async () => {
  await stack.stop();
});

test('one call: real audio makes the round trip through a worker and back', async () => {
  const call = stack.sim.placeInboundCall({ from: '+15550200001', to: NUMBER, durationMs: 2_000 });
  const report = await call.done;
  assert.equal(report.endedBy, 'caller', report.endReason);
  assert.ok(report.framesSent >= 95 && report.framesSent <= 105, `framesSent ${report.framesSent}`);
  assert.equal(report.framesReturned, report.framesSent, 'every frame came back');
  assert.ok(report.echo.correlation >= 0.9, `correlation ${report.echo.correlation}`);
  // A sanity bound only: latency figures are measured by the demo and bench/, not asserted here.
  assert.ok(report.roundTripMs.count > 0 && report.roundTripMs.p99 < 500, `round trip p99 ${report.roundTripMs.p99} ms`);
  await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0);
  const summary = stack.gateway.control.summaries.find((s) => s.callId === call.id);
  assert.ok(summary, 'the worker returned a call summary');
  assert.equal(summary.codec, 'PCMU');
  assert.equal(summary.framesIn, report.framesSent);
  assert.equal(summary.malformedFrames, 0);
});

test('a killed worker\'s call carries on on a live worker; a call on the other worker keeps flowing untouched', async () => {
  const restartsBefore = stack.gateway.supervisor.restarts;
  const victim = stack.sim.placeInboundCall({ from: '+15550200002', to: NUMBER, durationMs: 3_000, seed: 11 });
  await waitFor('the first call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === victim.id && c.state === 'streaming'));
  const survivor = stack.sim.placeInboundCall({ from: '+15550200003', to: NUMBER, durationMs: 3_000, seed: 12 });
  await waitFor('the second call to stream', () => stack.gateway.control.snapshot().some((c) => c.callId === survivor.id && c.state === 'streaming'));
  const placement = new Map(stack.gateway.control.snapshot().map((c) => [c.callId, c.worker]));
  const victimWorker = placement.get(victim.id)!;
  assert.notEqual(victimWorker, placement.get(survivor.id), 'calls are spread over the two workers');

  await new Promise((resolve) => setTimeout(resolve, 500));
  await stack.gateway.supervisor.host(victimWorker)!.kill();

  // The call outlives its worker (test/e2e/workerLoss.test.ts has the details).
  const moved = await victim.done;
  assert.equal(moved.endedBy, 'caller', moved.endReason);
  assert.ok(moved.echo.correlation >= 0.9, `moved call correlation ${moved.echo.correlation}`);
  assert.equal(stack.gateway.control.counters.workerCallsMoved, 1);

  const kept = await survivor.done;
  assert.equal(kept.endedBy, 'caller', kept.endReason);
  assert.ok(kept.framesReturned >= kept.framesSent, `the survivor lost no frames (${kept.framesReturned} back of ${kept.framesSent})`);
  assert.ok(kept.echo.correlation >= 0.9, `survivor correlation ${kept.echo.correlation}`);

  await waitFor('the worker to be restarted', () => stack.gateway.supervisor.restarts === restartsBefore + 1 && !stack.gateway.supervisor.host(victimWorker)!.exited);
  const after = await stack.sim.placeInboundCall({ from: '+15550200004', to: NUMBER, durationMs: 1_000 }).done;
  assert.equal(after.endedBy, 'caller');
  assert.equal(after.framesReturned, after.framesSent);
});

test('a call to a number the gateway does not serve is never answered', async () => {
  const report = await stack.sim.placeInboundCall({ from: '+15550200005', to: '+15550109999', durationMs: 1_000 }).done;
  assert.notEqual(report.endedBy, 'caller');
  assert.equal(report.framesSent, 0);
});
