/**
 * FAQ-12: the provider API key never reaches the gateway. Every response a
 * gateway can get (successes, each refusal, provider failures of every kind,
 * including a provider that echoes the key back in its error), and every log
 * line the platform writes while doing so, is searched for the key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CONTROL_PATH } from '../../src/wire/controlChannel.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { PROVIDER_KEY, STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, type JsonResponse } from './helpers.js';

const DEP = { id: 'leak-dep', numbers: ['+15558880001'], tunnelHost: 'leak.trycloudflare.com' };

describe('the provider key never reaches the gateway', () => {
  let h: Harness;
  let headers: Record<string, string>;
  const seen: JsonResponse[] = [];
  before(async () => {
    h = await startHarness({ provider: { backoffMs: 1, timeoutMs: 300, maxAttempts: 2 }, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    headers = agentHeaders(DEP.id, (await h.platform.deployments.register(DEP)).agentSecret);
  });
  after(() => h.close());

  async function send(method: string, path: string, body?: unknown): Promise<void> {
    seen.push(await call(h.base, method, path, { headers, ...(body !== undefined ? { body } : {}) }));
  }
  const dial = () => ({ to: '+15551234567', stream_url: `wss://${DEP.tunnelHost}/v1/media/leak-${seen.length}-abcdefgh`, stream_auth_token: STREAM_TOKEN });

  it('in no response, header, error, control message or log line', async () => {
    // The gateway's control connection sees every cap notice and usage answer.
    const control = new WebSocket(`${h.base.replace(/^http/, 'ws')}${CONTROL_PATH}`, { headers });
    const controlMessages: string[] = [];
    control.on('message', (data) => controlMessages.push(String(data)));
    await new Promise((resolve, reject) => control.once('open', resolve).once('error', reject));
    // Successes.
    await send('POST', PLATFORM_PATHS.dial, dial());
    const callId = (seen.at(-1)!.body as { call_control_id: string }).call_control_id;
    const inbound = 'v3:leak-in';
    h.provider.calls.set(inbound, { direction: 'incoming', from: '+15550001111', to: DEP.numbers[0]!, alive: true });
    await postWebhook(h, envelope('call.initiated', { call_control_id: inbound, from: '+15550001111', to: DEP.numbers[0]!, direction: 'incoming' }));
    await send('POST', PLATFORM_PATHS.answer(inbound), { stream_url: `wss://${DEP.tunnelHost}/v1/media/${inbound}`, stream_auth_token: STREAM_TOKEN });
    await send('POST', `/v1/signal/calls/${encodeURIComponent(inbound)}/record_stop`, {});
    await send('POST', `/v1/signal/calls/${encodeURIComponent(inbound)}/usage`, { duration_ms: 1000 });
    control.send(JSON.stringify({ type: 'usage', call_control_id: callId, duration_ms: 1000 }));
    control.send(JSON.stringify({ type: 'usage', call_control_id: 'v3:not-mine', duration_ms: 1000 }));
    await send('POST', PLATFORM_PATHS.hangup(callId), {});
    await send('POST', PLATFORM_PATHS.hangup(callId), {});
    await send('GET', '/healthz');
    await send('GET', '/readyz');
    // Refusals of our own.
    await send('POST', PLATFORM_PATHS.dial, { ...dial(), from: '+15550000000' });
    await send('POST', PLATFORM_PATHS.dial, { ...dial(), stream_url: 'ws://x' });
    await send('POST', PLATFORM_PATHS.hangup('v3:not-mine'), {});
    // Provider failures: 5xx until retries run out, a dropped connection, a timeout,
    // a 401, and a provider that reflects the key in its error title and detail.
    const failures: Array<() => ReturnType<NonNullable<typeof h.provider.override>>> = [
      () => ({ status: 503, body: { errors: [{ code: '10007', title: `down Bearer ${PROVIDER_KEY}` }] } }),
      () => 'destroy',
      () => new Promise((resolve) => setTimeout(() => resolve({ status: 200, body: {} }), 600)),
      () => ({ status: 401, body: { errors: [{ code: '10009', title: `Authentication failed for ${PROVIDER_KEY}`, detail: PROVIDER_KEY }] } }),
      () => ({ status: 422, body: { errors: [{ code: PROVIDER_KEY, title: PROVIDER_KEY }] } }),
    ];
    for (const failure of failures) {
      h.provider.override = failure;
      await send('POST', PLATFORM_PATHS.dial, dial());
      await send('POST', PLATFORM_PATHS.hangup(inbound), {});
    }
    h.provider.override = null;
    await new Promise((resolve) => setTimeout(resolve, 100));

    assert.ok(seen.some((r) => r.status === 502), 'provider failures were exercised');
    assert.ok(seen.some((r) => r.status === 200));
    const keyParts = [PROVIDER_KEY, Buffer.from(PROVIDER_KEY).toString('base64'), PROVIDER_KEY.slice(3, 25)];
    for (const res of seen) {
      const text = JSON.stringify(res.body) + JSON.stringify([...res.headers.entries()]);
      for (const part of keyParts) assert.equal(text.includes(part), false, `response leaked the key: ${text}`);
    }
    control.close();
    assert.ok(controlMessages.length >= 3, `control messages: ${controlMessages.join(' ')}`);
    for (const text of controlMessages) for (const part of keyParts) assert.equal(text.includes(part), false, `control message leaked the key: ${text}`);
    assert.ok(h.lines.length > 10);
    for (const line of h.lines) for (const part of keyParts) assert.equal(line.includes(part), false, `log leaked the key: ${line}`);
  });
});
