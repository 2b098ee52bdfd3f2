/**
 * How a call ends when a signal it waits for never comes (a media stream
 * that never lands, its call.hangup webhook lost too) or a request fails (a
 * hang-up the provider fails), and that a stale signal does not end it
 * (`media.close` from a worker the call left). Real simulator, platform and
 * gateway (real workers) on loopback; the platform's provider transport is
 * wrapped to take the stream out of the answer, or to fail hang-ups.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeHttpTransport, type ProviderTransport } from '../../src/platform/providerTransport.js';
import { NUMBER, streamingCall, waitFor, withStack } from '../helpers/stack.js';

/** The platform's provider transport, with `edit` applied to each request first (it may answer instead). */
function wrappedTransport(edit: (method: string, url: URL, body: string | undefined) => { body: string | undefined } | { answer: { status: number; text: string } }) {
  return (base: URL, max: number): ProviderTransport => {
    const inner = nodeHttpTransport(base, max);
    return {
      request: async (method, url, headers, body, timeoutMs) => {
        const edited = edit(method, url, body);
        if ('answer' in edited) return edited.answer;
        return inner.request(method, url, headers, edited.body, timeoutMs);
      },
      close: () => inner.close(),
    };
  };
}

/** The answer without its stream: the provider answers the call and never opens a media socket. */
function streamless(method: string, url: URL, body: string | undefined): { body: string | undefined } {
  if (method !== 'POST' || !url.pathname.endsWith('/actions/answer') || body === undefined) return { body };
  const fields = JSON.parse(body) as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (key.startsWith('stream_')) delete fields[key];
  return { body: JSON.stringify(fields) };
}

describe('call lifecycle', () => {
  it('a call whose media never lands is ended and hung up after the no-media deadline (its call.hangup would come only at the caller\'s hang-up)', async () => {
    await withStack({ workers: 1, callTimers: { noMediaMs: 800 } }, { platform: { provider: { transport: wrappedTransport(streamless) } } }, async (stack) => {
      const startedAt = Date.now();
      const call = stack.sim.placeInboundCall({ from: '+15550406001', to: NUMBER, durationMs: 20_000 });
      const report = await call.done;
      const tookMs = Date.now() - startedAt;
      assert.equal(report.endedBy, 'gateway', report.endReason ?? '');
      assert.equal(report.streamsOpened, 0, 'no stream was ever opened');
      assert.ok(tookMs < 5_000, `ended ${tookMs} ms after the call arrived, not at the caller's 20 s`);
      await waitFor('the gateway to count it', () => stack.gateway.control.ended['no_media'] === 1);
      assert.equal(stack.gateway.control.liveCalls, 0);
    });
  });

  it('media.close from a worker that does not carry the call (the one it left) does not end it', async () => {
    await withStack({ workers: 2 }, {}, async (stack) => {
      const call = await streamingCall(stack, '+15550406002', 3_000);
      const worker = stack.gateway.control.snapshot().find((c) => c.callId === call.id)!.worker;
      // The first call of a gateway has slot 1; its old worker's actor reports its agent failed.
      stack.gateway.control.onWorkerControl(1 - worker, { type: 'media.close', slot: 1, code: 1011, reason: 'agent unavailable' });
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(stack.gateway.control.ended['media_refused'] ?? 0, 0);
      // From the worker that carries it, the same message does end a call.
      const next = await streamingCall(stack, '+15550406003', 10_000);
      const carrier = stack.gateway.control.snapshot().find((c) => c.callId === next.id)!.worker;
      stack.gateway.control.onWorkerControl(carrier, { type: 'media.close', slot: 2, code: 1011, reason: 'agent unavailable' });
      assert.equal((await next.done).endedBy, 'gateway');
      assert.equal(stack.gateway.control.ended['media_refused'], 1);
    });
  });

  it('a hang-up the provider fails (5xx) is tried again until it goes through', async () => {
    let failHangups = 2;
    const transport = wrappedTransport((method, url, body) => {
      if (method === 'POST' && url.pathname.endsWith('/actions/hangup') && failHangups > 0) {
        failHangups--;
        return { answer: { status: 500, text: '{"errors":[{"code":"10007","title":"Unexpected error"}]}' } };
      }
      return streamless(method, url, body);
    });
    await withStack(
      { workers: 1, callTimers: { noMediaMs: 500, hangupRetryMs: [200, 400, 800] } },
      { platform: { provider: { transport, maxAttempts: 1 } } },
      async (stack) => {
        const startedAt = Date.now();
        const call = stack.sim.placeInboundCall({ from: '+15550406004', to: NUMBER, durationMs: 8_000 });
        const report = await call.done;
        const tookMs = Date.now() - startedAt;
        assert.equal(report.endedBy, 'gateway', report.endReason ?? '');
        assert.ok(tookMs < 4_000, `hung up ${tookMs} ms after the call arrived, not at the caller's 8 s`);
        assert.equal(failHangups, 0);
        assert.equal(stack.gateway.control.counters.hangupRetries, 2);
        assert.equal(stack.gateway.control.counters.hangupsFailed, 0);
      },
    );
  });

  it('a dial whose answer comes back after shutdown began is hung up, not left up at the provider', async () => {
    let dialledId: string | null = null;
    let onDialled: (() => void) | null = null;
    const dialled = new Promise<void>((resolve) => (onDialled = resolve));
    const transport = (base: URL, max: number): ProviderTransport => {
      const inner = nodeHttpTransport(base, max);
      return {
        request: async (method, url, headers, body, timeoutMs) => {
          const response = await inner.request(method, url, headers, body, timeoutMs);
          if (method === 'POST' && url.pathname === '/v2/calls') {
            dialledId = (JSON.parse(response.text) as { data: { call_control_id: string } }).data.call_control_id;
            onDialled!();
            await new Promise((resolve) => setTimeout(resolve, 500)); // the dial's answer is late: shutdown begins meanwhile
          }
          return response;
        },
        close: () => inner.close(),
      };
    };
    // A stream that cannot connect (the gateway is stopping) leaves the call up: only a hang-up ends it before the callee's 5 s.
    await withStack({ workers: 1, mediaSockets: 'front' }, { platform: { provider: { transport } }, sim: { ringMs: 20, onStreamFailure: 'continue' } }, async (stack) => {
      const placing = stack.gateway.control.dial('+15557650777');
      await dialled;
      const call = stack.sim.liveCall(dialledId!);
      assert.ok(call, 'the simulator has the dialled call');
      const stopping = stack.gateway.stop();
      await assert.rejects(placing, /gateway is stopping/);
      const report = await call.done;
      assert.equal(report.endedBy, 'gateway', report.endReason ?? '');
      await stopping;
    });
  });
});
