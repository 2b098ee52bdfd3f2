/**
 * A verified webhook the gateway could not handle is answered 500 so that the
 * provider retries it (FAQ-05): the retry must then be handled, not taken for
 * a replay of an event already seen. And a payload field of the wrong type
 * (an object where the provider documents a string) is no reason to fail at
 * all. Both layouts: the front's own tunnel listener, and media workers'
 * listeners forwarding the body to the main thread.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import nacl from 'tweetnacl';
import type { SimCall } from '../../src/sim/SimCall.js';
import type { WebhookEnvelope } from '../../src/wire/telnyx.js';
import { webhookBody } from '../helpers/signing.js';
import { startStack, streamingCall, waitFor, type Stack } from '../helpers/stack.js';

/** Outlives each test's checks; the gateway ends it well before, and `endAtProvider` ends the provider's side then. */
const CALL_MS = 8_000;
/** An object whose String() throws: `toString` and `valueOf` are not functions. */
const HOSTILE = { toString: 0, valueOf: 0 };

/**
 * The forged hang-up ended the call at the gateway only: the simulator's call
 * would run out its CALL_MS. Nothing checks how it ends, so it is hung up now
 * rather than waited for (CI's time).
 */
async function endAtProvider(call: SimCall): Promise<void> {
  if (call.isAlive) call.hangup(undefined);
  await call.done.catch(() => undefined);
}

for (const mediaSockets of ['front', 'worker'] as const) {
  describe(`webhook retries with mediaSockets ${mediaSockets}`, () => {
    let stack: Stack;
    let url: string;

    before(async () => {
      stack = await startStack({ mediaSockets, workers: 1 });
      url = `http://127.0.0.1:${stack.ports.tunnel}/v1/webhooks/provider`;
    });

    after(async () => {
      await stack?.stop();
    });

    /** Deliver as the provider would: signed with its key at `timestampSec`. */
    async function deliver(body: string, timestampSec = Math.floor(Date.now() / 1000)): Promise<{ status: number; text: string }> {
      const ts = String(timestampSec);
      const signature = Buffer.from(nacl.sign.detached(Buffer.from(`${ts}|${body}`), stack.secretKey)).toString('base64');
      const response = await fetch(url, { method: 'POST', headers: { 'telnyx-signature-ed25519': signature, 'telnyx-timestamp': ts, 'content-type': 'application/json' }, body });
      return { status: response.status, text: await response.text() };
    }

    const live = (callId: string) => stack.gateway.control.snapshot().some((c) => c.callId === callId);

    test('a hang-up answered 500 is handled when the provider retries it, re-signed', async () => {
      const call = await streamingCall(stack, '+15550200081', CALL_MS);
      const eventId = `evt-retry-${mediaSockets}-${Date.now()}`;
      const { control } = stack.gateway;
      const handle = control.onWebhook.bind(control);
      let failures = 0;
      // The handling fault is simulated (any throw in onWebhook takes this path); the rest is the real gateway.
      control.onWebhook = (envelope: WebhookEnvelope) => {
        if (envelope.data.id === eventId && failures++ === 0) throw new Error('handling failed (test)');
        handle(envelope);
      };
      try {
        const body = webhookBody('call.hangup', { call_control_id: call.id, hangup_cause: 'normal_clearing', hangup_source: 'caller' }, eventId);
        const now = Math.floor(Date.now() / 1000);
        const first = await deliver(body, now);
        assert.equal(first.status, 500, first.text);
        assert.match(first.text, /TTMA_ERR_WEBHOOK_MALFORMED/);
        assert.ok(live(call.id), 'the failed delivery changed nothing');
        assert.equal(stack.gateway.webhooks.counters['handling_failed'], 1);
        // The provider signs each attempt when it sends it.
        const retry = await deliver(body, now + 1);
        assert.equal(retry.status, 200, retry.text);
        await waitFor('the retried hang-up to end the call', () => !live(call.id), 3_000);
        assert.equal(failures, 2, 'the retry reached the handler');
        assert.equal(stack.gateway.webhooks.counters['duplicate'] ?? 0, 0, 'the retry was not taken for a replay');
      } finally {
        control.onWebhook = handle;
        await endAtProvider(call);
      }
    });

    test('a hang-up whose hangup_cause is an object ends the call (no 500, no lost event)', async () => {
      const call = await streamingCall(stack, '+15550200082', CALL_MS);
      try {
        const response = await deliver(webhookBody('call.hangup', { call_control_id: call.id, hangup_cause: HOSTILE }));
        assert.equal(response.status, 200, response.text);
        await waitFor('the hang-up to end the call', () => !live(call.id), 3_000);
        const ended = stack.gateway.control.recentCalls(10).find((c) => c.call_control_id === call.id);
        assert.equal(ended?.end_reason, 'hangup: unknown');
      } finally {
        await endAtProvider(call);
      }
    });

    test('streaming.failed with an object failure_reason, and call.initiated with object numbers, are handled', async () => {
      const failedBefore = stack.gateway.webhooks.counters['handling_failed'] ?? 0;
      const failed = await deliver(webhookBody('streaming.failed', { call_control_id: `unknown-${mediaSockets}`, failure_reason: HOSTILE }));
      assert.equal(failed.status, 200, failed.text);
      const initiated = await deliver(webhookBody('call.initiated', { call_control_id: `odd-${mediaSockets}`, direction: 'incoming', from: HOSTILE, to: HOSTILE }));
      assert.equal(initiated.status, 200, initiated.text);
      assert.equal(stack.gateway.webhooks.counters['handling_failed'] ?? 0, failedBefore, 'no handling failed');
    });
  });
}
