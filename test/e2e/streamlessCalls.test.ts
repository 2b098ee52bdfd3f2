/**
 * An answered call that no gateway carries any more is ended by the
 * platform itself: its stream stopped and no new one started within the
 * grace (1.5 s here, 30 s by default). A stream that comes back in time (a
 * restart, a new gateway process), a stream the gateway stopped on purpose,
 * and a call whose record shows a stream started since are left alone; a
 * loss whose timer is gone (another platform process saw it, or a platform
 * restart) is found by the call's minute top-up. Real simulator, platform
 * and gateway on loopback.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gateway } from '../../src/Gateway.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { streamingCall, waitFor, withStack, type Stack } from '../helpers/stack.js';

const GRACE_MS = 1_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A gateway that hands its calls over when stopped, and a platform with a short grace. */
function withGraceStack(run: (stack: Stack) => Promise<void>, capUnitMs?: number): Promise<void> {
  return withStack({ workers: 1, onStop: 'handover' }, { platform: { streamlessGraceMs: GRACE_MS, ...(capUnitMs ? { capUnitMs } : {}) } }, run);
}

describe('calls no gateway carries', () => {
  it('a gateway gone for good: the platform ends its calls after the grace', async () => {
    await withGraceStack(async (stack) => {
      const calls = await Promise.all([1, 2].map((i) => streamingCall(stack, `+155504050${i}0`, 30_000)));
      const stoppedAt = Date.now();
      await stack.gateway.stop();
      for (const report of await Promise.all(calls.map((c) => c.done))) {
        assert.equal(report.endedBy, 'gateway', report.endReason ?? '');
      }
      const tookMs = Date.now() - stoppedAt;
      assert.ok(tookMs >= GRACE_MS - 100 && tookMs < GRACE_MS + 2_000, `ended ${tookMs} ms after the gateway stopped`);
      assert.equal(stack.platform.streamless.ended, 2);
    });
  });

  it('a new gateway process within the grace: the calls go on', async () => {
    await withGraceStack(async (stack) => {
      const call = await streamingCall(stack, '+15550405100', 5_000);
      await stack.gateway.stop();
      await sleep(300);
      const next = new Gateway({ ...stack.gateway.config, onStop: 'hangup' }, stack.logger);
      try {
        await next.start();
        const report = await call.done;
        assert.equal(report.endedBy, 'caller', report.endReason ?? '');
        assert.equal(report.streamsOpened, 2);
        assert.equal(stack.platform.streamless.ended, 0);
      } finally {
        await next.stop();
      }
    });
  });

  it('a restarted stream, and a stream stopped on purpose, are left alone; the record decides', async () => {
    await withGraceStack(async (stack) => {
      const restarted = await streamingCall(stack, '+15550405200', 30_000);
      const stopped = await streamingCall(stack, '+15550405300', 30_000);
      assert.equal(restarted.dropStream(), true);
      await waitFor('the new stream', () => restarted.summary().streamsOpened === 2, 5_000);
      const res = await fetch(`http://127.0.0.1:${stack.ports.platform}/v1/signal/calls/${encodeURIComponent(stopped.id)}/streaming_stop`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.agentSecret}`, 'x-ttma-deployment': 'test', 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 200, await res.text());
      await sleep(GRACE_MS + 700);
      assert.equal(restarted.state, 'answered');
      assert.equal(stopped.state, 'answered');
      assert.equal(stack.platform.streamless.ended, 0);
      // Asked directly (as a timer of another process would): the timeline shows the stream started again.
      assert.equal(await stack.platform.streamless.check(restarted.id), false);
      assert.equal(restarted.state, 'answered');
      restarted.hangup(undefined);
      stopped.hangup(undefined);
    });
  });

  it('a loss whose timer is gone is found by the call\'s minute top-up', async () => {
    await withGraceStack(async (stack) => {
      const call = await streamingCall(stack, '+15550405400', 30_000);
      await stack.gateway.stop();
      // The process that saw the loss forgets it (as a platform restart would).
      await sleep(100);
      stack.platform.streamless.close();
      const report = await call.done;
      assert.equal(report.endedBy, 'gateway', report.endReason ?? '');
      assert.equal(stack.platform.streamless.ended, 1);
    }, 1_000);
  });
});

describe('the live-call list a gateway reads at start', () => {
  it('lists no call the platform ended for want of a stream', async () => {
    await withGraceStack(async (stack) => {
      const call = await streamingCall(stack, '+15550405500', 30_000);
      await stack.gateway.stop();
      await call.done;
      const res = await fetch(`http://127.0.0.1:${stack.ports.platform}${PLATFORM_PATHS.liveCalls}`, {
        headers: { authorization: `Bearer ${stack.agentSecret}`, 'x-ttma-deployment': 'test' },
      });
      assert.deepEqual(((await res.json()) as { calls: unknown[] }).calls, []);
    });
  });
});
