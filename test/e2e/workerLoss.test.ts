/**
 * A media worker that dies (here: an exception on its thread) takes its
 * calls' actors with it, not the calls: each carries on with a new actor on
 * a live worker, without a second greeting. With worker-owned sockets (the
 * default) the socket died with the worker and a new stream is asked for;
 * with front-owned sockets the socket stays. A call outlives one lost worker:
 * a second one ends it (its own audio may be what brings workers down). Real
 * simulator, platform, gateway and worker threads.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { encodeWav } from '../../src/media/wav.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { NUMBER, startStack, waitFor, type Stack } from '../helpers/stack.js';

function workerOf(stack: Stack, call: SimCall): number | undefined {
  const live = stack.gateway.control.snapshot().find((c) => c.callId === call.id);
  return live && live.worker >= 0 ? live.worker : undefined;
}

async function crashWorkerOf(stack: Stack, call: SimCall): Promise<number> {
  await waitFor('the call on a worker', () => workerOf(stack, call) !== undefined);
  const worker = workerOf(stack, call)!;
  stack.gateway.supervisor.host(worker)!.testOnlyPostUndecodable();
  return worker;
}

for (const mediaSockets of ['worker', 'front'] as const) {
  describe(`a lost media worker's calls carry on (media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'})`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ mediaSockets, workers: 2 });
    });
    after(() => stack.stop());

    it('every call of the crashed worker goes on, echoing, and ends as its caller hangs up', async () => {
      const calls = Array.from({ length: 4 }, (_, i) => stack.sim.placeInboundCall({ from: `+155505010${i}0`, to: NUMBER, durationMs: 5_000 }));
      await waitFor('echoed frames', () => calls.every((c) => c.summary().framesReturned > 10 && workerOf(stack, c) !== undefined), 5_000);
      const placedOn = new Map(calls.map((c) => [c.id, workerOf(stack, c)]));
      const lost = await crashWorkerOf(stack, calls[0]!);
      const onLost = new Set(calls.filter((c) => placedOn.get(c.id) === lost).map((c) => c.id));
      await waitFor('the replacement worker', () => stack.gateway.supervisor.restarts === 1, 5_000);
      const reports = await Promise.all(calls.map((c) => c.done));
      for (const report of reports) {
        assert.equal(report.endedBy, 'caller', `${report.callId}: ${report.endReason ?? ''}`);
        assert.ok(report.echo.correlation >= 0.9, `${report.callId}: echo correlation ${report.echo.correlation}`);
        // Worker-owned: the socket died with the worker, a new stream replaced it; front-owned: the socket stayed.
        const streams = onLost.has(report.callId) && mediaSockets === 'worker' ? 2 : 1;
        assert.equal(report.streamsOpened, streams, `${report.callId}: streams opened`);
      }
      const counters = stack.gateway.control.counters;
      assert.equal(counters.workerCallsMoved, onLost.size);
      assert.equal(counters.workerCallsLost, 0);
      assert.equal(stack.gateway.control.ended['worker_failed'] ?? 0, 0);
    });

    it('a call that loses a second worker ends', async () => {
      const call = stack.sim.placeInboundCall({ from: '+15550502001', to: NUMBER, durationMs: 8_000 });
      await waitFor('echoed frames', () => call.summary().framesReturned > 10, 5_000);
      const restarts = stack.gateway.supervisor.restarts;
      await crashWorkerOf(stack, call);
      const returned = call.summary().framesReturned;
      await waitFor('the call echoing on a new worker', () => stack.gateway.supervisor.restarts === restarts + 1 && workerOf(stack, call) !== undefined && call.summary().framesReturned > returned + 20, 5_000);
      await crashWorkerOf(stack, call);
      const report = await call.done;
      assert.notEqual(report.endedBy, 'caller', 'ended by the gateway before its caller hung up');
      await waitFor('the gateway to end it', () => (stack.gateway.control.ended['worker_failed'] ?? 0) === 1, 5_000);
      assert.equal(stack.gateway.control.counters.workerCallsLost, 1);
    });
  });
}

describe('a call moved off a lost worker is not greeted again', () => {
  for (const mediaSockets of ['worker', 'front'] as const) {
    it(`media sockets on the ${mediaSockets === 'worker' ? 'workers' : 'main thread'}: the greeting plays once`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ttma-worker-loss-'));
      const greeting = join(dir, 'greeting.wav');
      // 600 ms of speech-like audio: what a caller who says nothing hears of the gateway.
      await writeFile(greeting, encodeWav(new SpeechLikeSignal(8000, 3).next(4800), 8000));
      const stack = await startStack({ mediaSockets, workers: 2, greetingFile: greeting });
      try {
        const call = stack.sim.placeInboundCall({ from: '+15550503001', to: NUMBER, durationMs: 4_000, talk: [] });
        await waitFor('the greeting to play', () => call.summary().heard.soundMs >= 560, 5_000);
        await crashWorkerOf(stack, call);
        const report = await call.done;
        assert.equal(report.endedBy, 'caller', report.endReason ?? '');
        assert.equal(stack.gateway.control.counters.workerCallsMoved, 1);
        assert.ok(report.heard.soundMs >= 560 && report.heard.soundMs < 900, `heard ${report.heard.soundMs} ms of sound: one greeting`);
      } finally {
        await stack.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('with one media worker, a call waits for the replacement', () => {
  it('worker-owned sockets: the new stream lands once the replacement listens, and the call completes', async () => {
    const stack = await startStack({ mediaSockets: 'worker', workers: 1 });
    try {
      const call = stack.sim.placeInboundCall({ from: '+15550504001', to: NUMBER, durationMs: 4_000 });
      await waitFor('echoed frames', () => call.summary().framesReturned > 10, 5_000);
      await crashWorkerOf(stack, call);
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 2);
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.equal(stack.gateway.control.counters.workerCallsMoved, 1);
    } finally {
      await stack.stop();
    }
  });
});
