/**
 * A tunnel that reconnects loses every live call's media socket at once, and
 * every call asks for a new stream in the same second (docs/control.md,
 * "Every call at once"): each call's own restart budget at the platform pays
 * for it; with those budgets spent, the deployment's rate limit paces the
 * rest and the gateway asks again; the provider's own rate limit is waited
 * out or passed on. Real simulator, platform and gateway on loopback.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimCall } from '../../src/sim/SimCall.js';
import { metricValue } from '../helpers/promText.js';
import { TUNNEL_HOST, startStack, streamingCall, waitFor, type Stack } from '../helpers/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Each call's talk: longer than placing the calls can take on a loaded machine
 * (with talks of 8 s, a first call could run out before the drop). The test
 * ends every call through its caller instead (`hangUpAfterLoss`).
 */
const TALK_MS = 60_000;
/** How long every call is held after the loss: past the orphan grace (5 s from the loss, StreamRestarts.ts). */
const HOLD_MS = 5_500;

/**
 * Waits until `holdMs` after the streams were dropped, then every caller hangs
 * up: a call the gateway ended meanwhile (a timer of the loss left armed after
 * its new stream landed) does not end as its caller hung up.
 */
async function hangUpAfterLoss(calls: SimCall[], droppedAt: number, holdMs = HOLD_MS): Promise<void> {
  await sleep(Math.max(0, droppedAt + holdMs - performance.now()));
  for (const call of calls) call.hangUpPhoneSide();
}

/** Every call came back: no request refused for the rate, each call ended as its caller hung up, every new stream landed. */
async function assertEveryCallBack(stack: Stack, calls: SimCall[]): Promise<void> {
  const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
  assert.equal(metricValue(metrics, 'ttma_platform_refusals_total', { code: 'TTMA_ERR_RATE_LIMITED' }) ?? 0, 0);
  for (const report of await Promise.all(calls.map((c) => c.done))) assert.equal(report.endedBy, 'caller', report.endReason ?? '');
  assert.equal(stack.gateway.control.counters.streamRestartsLanded, calls.length);
}

describe('a tunnel that drops every call at once', () => {
  /** Places `n` calls one at a time (each answer takes a token of a small bucket), then lets the bucket fill again. */
  async function placeSlowly(stack: Stack, n: number, prefix: string): Promise<SimCall[]> {
    const calls: SimCall[] = [];
    for (let i = 0; i < n; i++) {
      calls.push(await streamingCall(stack, `${prefix}${String(i).padStart(2, '0')}`, TALK_MS));
      await sleep(300);
    }
    await sleep(600);
    return calls;
  }

  it("twelve calls against a deployment bucket of 2 and 4 a second: each call's own restart budget pays, nothing is paced", async () => {
    const stack = await startStack({ workers: 1 }, { platform: { rateLimit: { ratePerSec: 4, burst: 2 } } });
    try {
      const calls = await placeSlowly(stack, 12, '+1555030800');
      for (const call of calls) assert.equal(call.dropStream(), true);
      const droppedAt = performance.now();
      await waitFor('every stream back', () => calls.every((c) => c.summary().streamsOpened === 2), 5_000);
      const control = stack.gateway.control;
      assert.deepEqual(control.streamRestartsAsked, { lost: 12 }, 'asked once each, none refused for the rate');
      await hangUpAfterLoss(calls, droppedAt);
      await assertEveryCallBack(stack, calls);
    } finally {
      await stack.stop();
    }
  });

  it("twelve calls against the provider's own rate limit (burst 5, 8 a second): the platform waits as the provider's 429 asks or passes the 429 on to be asked again, every stream comes back", async () => {
    const stack = await startStack({ workers: 1 }, { sim: { apiRateLimit: { ratePerSec: 8, burst: 5 } } });
    try {
      const calls = await placeSlowly(stack, 12, '+1555030900');
      await sleep(700); // the provider's bucket full again
      for (const call of calls) assert.equal(call.dropStream(), true);
      const droppedAt = performance.now();
      await waitFor('every stream back', () => calls.every((c) => c.summary().streamsOpened === 2), 5_000);
      const control = stack.gateway.control;
      // The simulator sees its stream open a moment before the gateway counts the restart as landed.
      await waitFor('every restart landed at the gateway', () => control.counters.streamRestartsLanded === 12, 5_000);
      assert.equal(control.counters.streamRestartsFailed, 0);
      await hangUpAfterLoss(calls, droppedAt);
      for (const report of await Promise.all(calls.map((c) => c.done))) assert.equal(report.endedBy, 'caller', report.endReason ?? '');
    } finally {
      await stack.stop();
    }
  });

  it('twelve calls, the tunnel down 3 s (a cloudflared restart), a deployment bucket of 2 and 4 a second: every call comes back, nothing refused for the rate', async () => {
    const stack = await startStack({ workers: 1 }, { platform: { rateLimit: { ratePerSec: 4, burst: 2 } }, sim: { onStreamFailure: 'continue' } });
    try {
      const calls = await placeSlowly(stack, 12, '+1555031000');
      stack.sim.setTunnelDown(TUNNEL_HOST, true);
      for (const call of calls) assert.equal(call.dropStream(), true);
      const droppedAt = performance.now();
      await sleep(3_000);
      stack.sim.setTunnelDown(TUNNEL_HOST, false);
      await waitFor('every stream back', () => calls.every((c) => c.summary().streamsOpened === 2), 8_000);
      const control = stack.gateway.control;
      // Each call asked at the loss, after 0.5 and 1.5 s, and after 3.5 s: every request from its own budget.
      assert.equal(control.streamRestartsAsked['paced'] ?? 0, 0, JSON.stringify(control.streamRestartsAsked));
      // Held past the episode's deadline too (10 s from the loss), as talks of 16 s held the later calls.
      await hangUpAfterLoss(calls, droppedAt, 12_000);
      await assertEveryCallBack(stack, calls);
    } finally {
      await stack.stop();
    }
  });

  it('with the calls\' own budgets spent (burst 0), six calls against a bucket of 2 and 4 a second: the refused restarts are asked again, every stream comes back', async () => {
    const stack = await startStack({ workers: 1 }, { platform: { rateLimit: { ratePerSec: 4, burst: 2 }, streamRestartBudget: { ratePerSec: 0.05, burst: 0 } } });
    try {
      const calls = await placeSlowly(stack, 6, '+1555030700');
      for (const call of calls) assert.equal(call.dropStream(), true);
      const droppedAt = performance.now();
      await waitFor('every stream back', () => calls.every((c) => c.summary().streamsOpened === 2), 5_000);
      const control = stack.gateway.control;
      assert.ok((control.streamRestartsAsked['paced'] ?? 0) > 0, `the platform paced some restarts: ${JSON.stringify(control.streamRestartsAsked)}`);
      const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
      assert.ok((metricValue(metrics, 'ttma_platform_refusals_total', { code: 'TTMA_ERR_RATE_LIMITED' }) ?? 0) > 0);
      await hangUpAfterLoss(calls, droppedAt);
      for (const report of await Promise.all(calls.map((c) => c.done))) {
        assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      }
      assert.equal(control.counters.streamRestartsFailed, 0);
      assert.equal(control.counters.streamRestartsLanded, 6);
      assert.ok(control.recentCalls(10).every((r) => r.stream_restarts === 1), 'a paced request costs no restart');
    } finally {
      await stack.stop();
    }
  });
});
