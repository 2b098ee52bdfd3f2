/**
 * A call answered by another process (or before a restart) whose record lost its copy of the
 * reservation id (the answer writes it alongside the provider's answer, and goes on without it:
 * signallingRoutes.ts) is still ended at the cap. Before, CapActions named a live reservation's
 * call only from its own process's map or from a record carrying the id, so this call stayed up
 * past the cap, refused every unit and never hung up. An answer reserves under the call's own id,
 * as LiveCallAudit already reads it. Real platforms one after the other on one embedded state
 * directory, the test's provider server on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, waitFor } from './helpers.js';

const UNIT_MS = 300;
const D = { id: 'cap-end-unknown', numbers: ['+15551740001'], tunnelHost: 'cap-end-unknown.trycloudflare.com' };
const CALLER = '+15550002222';

it('a call answered elsewhere, its record without the reservation id, is ended at the cap', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-cap-end-unknown-'));
  const callId = 'v3:answered-elsewhere';
  const common = { capUnitMs: UNIT_MS, capGoodbyeMs: 0, hungUpCheck: { afterMs: 600_000 }, rateLimit: { ratePerSec: 1_000, burst: 1_000 } };
  try {
    let journal = await StateJournal.open(dir);
    const first = await startHarness({ ...common, stateJournal: journal });
    try {
      const { agentSecret } = await first.platform.deployments.register({ ...D, caps: { dayMinutes: 50, monthMinutes: 100 } });
      first.provider.calls.set(callId, { direction: 'incoming', from: CALLER, to: D.numbers[0]!, alive: true });
      assert.equal((await postWebhook(first, envelope('call.initiated', { call_control_id: callId, from: CALLER, to: D.numbers[0]!, direction: 'incoming' }))).status, 200);
      const answered = await call(first.base, 'POST', PLATFORM_PATHS.answer(callId), {
        headers: agentHeaders(D.id, agentSecret),
        body: { stream_url: `wss://${D.tunnelHost}/v1/media/${encodeURIComponent(callId)}`, stream_auth_token: STREAM_TOKEN },
      });
      assert.equal(answered.status, 200, JSON.stringify(answered.body));
      // The record's copy of the reservation id lost (the write that goes with the answer failed).
      assert.equal(await first.platform.calls.patch(callId, { reservationId: null }), true);
    } finally {
      await first.close();
      await journal.close();
    }
    journal = await StateJournal.open(dir);
    const next = await startHarness({ ...common, stateJournal: journal });
    try {
      next.provider.calls.set(callId, { direction: 'incoming', from: CALLER, to: D.numbers[0]!, alive: true });
      assert.deepEqual(await next.platform.caps.liveOf(D.id), [callId], 'the call is live, reserving under its own id');
      // The operator lowers the cap below what the call has used: its next top-up is refused.
      const lowered = await call(next.base, 'PATCH', `/v1/admin/deployments/${D.id}`, { headers: adminHeaders(), body: { caps: { dayMinutes: 1, monthMinutes: 100 } } });
      assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
      const hangups = () => next.provider.commands('hangup').filter((r) => r.path === `/v2/calls/${encodeURIComponent(callId)}/actions/hangup`).length;
      await waitFor('the call hung up at the cap', () => hangups() >= 1, 10 * UNIT_MS + 5_000);
      assert.equal(next.provider.calls.get(callId)!.alive, false);
      await waitFor('its reservation released once hung up', async () => (await next.platform.caps.liveOf(D.id)).length === 0);
    } finally {
      await next.close();
      await journal.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
