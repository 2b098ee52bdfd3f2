/**
 * A transfer's new leg is bounded by the platform as a dial is: the provider's `transfer` carries
 * `timeout_secs` and `time_limit_secs` (https://developers.telnyx.com/api-reference/call-commands/transfer-call),
 * the dial's defaults (a 30 s ring, the 4 h limit) unless the gateway asks for less, and a bound out
 * of Telnyx's range is refused before the provider is asked. Before, the transfer sent neither, so
 * the provider account's defaults applied. (The simulator ends a leg at its time limit:
 * test/sim/transfer.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, type Harness } from './helpers.js';

const D = { id: 'transfer-bounds', numbers: ['+15551730001'], tunnelHost: 'transfer-bounds.trycloudflare.com' };
const CALLER = '+15550007777';
const TARGET = '+15557654321';

describe('a transfer sends the new leg\'s ring and time limit', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let seq = 0;
  before(async () => {
    h = await startHarness();
    // The fake provider takes a transfer as Telnyx does (200, `result: ok`).
    h.provider.override = (req) => (req.method === 'POST' && req.path.endsWith('/actions/transfer') ? { status: 200, body: { data: { result: 'ok' } } } : undefined);
    const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    headers = agentHeaders(D.id, created.body.agentSecret as string);
  });
  after(() => h.close());

  /** An incoming call to D, locked to it by its first webhook. */
  async function ownedCall(): Promise<string> {
    const callId = `v3:transfer-bounds-${++seq}`;
    h.provider.calls.set(callId, { direction: 'incoming', from: CALLER, to: D.numbers[0]!, alive: true });
    const res = await postWebhook(h, envelope('call.initiated', { call_control_id: callId, from: CALLER, to: D.numbers[0]!, direction: 'incoming' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return callId;
  }

  const transfer = (callId: string, body: Record<string, unknown>) => call(h.base, 'POST', PLATFORM_PATHS.transfer(callId), { headers, body });
  const sentFor = (callId: string) => h.provider.commands('transfer').filter((r) => r.path.includes(encodeURIComponent(callId)));

  it('by default: the dial\'s ring (30 s) and time limit (14 400 s)', async () => {
    const callId = await ownedCall();
    const res = await transfer(callId, { to: TARGET });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [sent] = sentFor(callId);
    assert.ok(sent, 'the provider was asked');
    assert.equal(sent.body?.['timeout_secs'], 30);
    assert.equal(sent.body?.['time_limit_secs'], 14_400);
  });

  it('the gateway\'s own bounds, within Telnyx\'s ranges, are passed on', async () => {
    const callId = await ownedCall();
    const res = await transfer(callId, { to: TARGET, timeout_secs: 20, time_limit_secs: 600 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [sent] = sentFor(callId);
    assert.equal(sent?.body?.['timeout_secs'], 20);
    assert.equal(sent?.body?.['time_limit_secs'], 600);
  });

  it('a bound out of range is a bad request, and nothing reaches the provider', async () => {
    const callId = await ownedCall();
    for (const [body, field] of [
      [{ to: TARGET, timeout_secs: 121 }, /timeout_secs must be a whole number from 5 to 120/],
      [{ to: TARGET, timeout_secs: 4 }, /timeout_secs/],
      [{ to: TARGET, time_limit_secs: 14_401 }, /time_limit_secs must be a whole number from 30 to 14400/],
      [{ to: TARGET, time_limit_secs: 1.5 }, /time_limit_secs/],
    ] as const) {
      const res = await transfer(callId, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TTMA_ERR_BAD_REQUEST');
      assert.match(res.body.error.message, field);
    }
    assert.equal(sentFor(callId).length, 0);
  });
});
