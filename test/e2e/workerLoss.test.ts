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

/**
 * A state a test waits for comes when the box gets to it (a worker restart took seconds at load
 * 20), so the bound is generous; the calls last until the test ends their talk, and a wait stops
 * at once, saying why, if a call it waits on has ended.
 */
const WAIT_MS = 60_000;
/** Longer than any wait here: each call is ended by its test (`endTalkNow`) or by the gateway. */
const CALL_MS = 3 * WAIT_MS;
/** 0.5 s of echo (20 ms frames). */
const ECHOING = 25;

async function waitWhileLive(what: string, calls: SimCall[], check: () => boolean): Promise<void> {
  await waitFor(
    what,
    () => {
      const ended = calls.find((c) => !c.isAlive);
      if (ended) throw new Error(`waiting for ${what}: call ${ended.id} ended first (${ended.summary().endReason ?? '?'})`);
      return check();
    },
    WAIT_MS,
  );
}

/** The caller hangs up now (as at its talk's end); its report. */
function hangUp(call: SimCall): SimCall['done'] {
  assert.ok(call.endTalkNow(), `${call.id} was still talking`);
  return call.done;
}

function workerOf(stack: Stack, call: SimCall): number | undefined {
  const live = stack.gateway.control.snapshot().find((c) => c.callId === call.id);
  return live && live.worker >= 0 ? live.worker : undefined;
}

async function crashWorkerOf(stack: Stack, call: SimCall): Promise<number> {
  await waitWhileLive('the call on a worker', [call], () => workerOf(stack, call) !== undefined);
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
      const calls = Array.from({ length: 4 }, (_, i) => stack.sim.placeInboundCall({ from: `+155505010${i}0`, to: NUMBER, durationMs: CALL_MS }));
      await waitWhileLive('echoed frames', calls, () => calls.every((c) => c.summary().framesReturned > 10 && workerOf(stack, c) !== undefined));
      const placedOn = new Map(calls.map((c) => [c.id, workerOf(stack, c)]));
      const lost = await crashWorkerOf(stack, calls[0]!);
      const returnedAtCrash = new Map(calls.map((c) => [c.id, c.summary().framesReturned]));
      const onLost = new Set(calls.filter((c) => placedOn.get(c.id) === lost).map((c) => c.id));
      await waitWhileLive('the replacement worker', calls, () => stack.gateway.supervisor.restarts === 1);
      await waitWhileLive('every call echoing after the crash', calls, () =>
        calls.every((c) => workerOf(stack, c) !== undefined && c.summary().framesReturned > returnedAtCrash.get(c.id)! + ECHOING),
      );
      const reports = await Promise.all(calls.map(hangUp));
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
      const call = stack.sim.placeInboundCall({ from: '+15550502001', to: NUMBER, durationMs: CALL_MS });
      await waitWhileLive('echoed frames', [call], () => call.summary().framesReturned > 10);
      const restarts = stack.gateway.supervisor.restarts;
      await crashWorkerOf(stack, call);
      const returned = call.summary().framesReturned;
      await waitWhileLive('the call echoing on a new worker', [call], () => stack.gateway.supervisor.restarts === restarts + 1 && workerOf(stack, call) !== undefined && call.summary().framesReturned > returned + 20);
      await crashWorkerOf(stack, call);
      // Bounded: the call talks for CALL_MS, and a gateway that kept it would hold the file that long.
      const report = await Promise.race([
        call.done,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the gateway did not end the call within 60 s of its second worker loss')), WAIT_MS).unref()),
      ]);
      assert.notEqual(report.endedBy, 'caller', 'ended by the gateway before its caller hung up');
      await waitFor('the gateway to end it', () => (stack.gateway.control.ended['worker_failed'] ?? 0) === 1, WAIT_MS);
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
        const call = stack.sim.placeInboundCall({ from: '+15550503001', to: NUMBER, durationMs: CALL_MS, talk: [] });
        await waitWhileLive('the greeting to play', [call], () => call.summary().heard.soundMs >= 560);
        await crashWorkerOf(stack, call);
        await waitWhileLive('the call on a new worker', [call], () => stack.gateway.control.counters.workerCallsMoved === 1 && workerOf(stack, call) !== undefined);
        // A second greeting would start with the new actor: 1 s of the gateway's audio after the move holds it.
        const returnedAtMove = call.summary().framesReturned;
        await waitWhileLive('1 s of audio from the new worker', [call], () => call.summary().framesReturned > returnedAtMove + 50);
        const report = await hangUp(call);
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
      const call = stack.sim.placeInboundCall({ from: '+15550504001', to: NUMBER, durationMs: CALL_MS });
      await waitWhileLive('echoed frames', [call], () => call.summary().framesReturned > 10);
      await crashWorkerOf(stack, call);
      const returned = call.summary().framesReturned;
      await waitWhileLive('a new stream, echoing', [call], () => call.summary().streamsOpened === 2 && call.summary().framesReturned > returned + ECHOING);
      const report = await hangUp(call);
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 2);
      assert.ok(report.echo.correlation >= 0.9, `echo correlation ${report.echo.correlation}`);
      assert.equal(stack.gateway.control.counters.workerCallsMoved, 1);
    } finally {
      await stack.stop();
    }
  });
});
