/**
 * How a call ends when a signal it waits for never comes: a media stream
 * that never lands (its call.hangup webhook lost too). Real simulator,
 * platform and gateway (real workers) on loopback; the platform's provider
 * transport is wrapped to take the stream out of the answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeHttpTransport, type ProviderTransport } from '../../src/platform/providerTransport.js';
import { NUMBER, waitFor, withStack } from '../helpers/stack.js';

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

describe('call lifecycle: signals that never come', () => {
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
});
