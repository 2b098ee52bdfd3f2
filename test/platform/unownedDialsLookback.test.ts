/**
 * An outgoing call nobody owns, first seen long before every platform process restarted, is
 * still found by the first periodic pass of the next one. Before, that pass looked back an hour:
 * an orphan first seen two hours earlier (an answered call that talks sends no event) was never
 * looked at again. The pass now looks back as long as a call can last at the provider
 * (UnownedDials.MAX_CALL_MS). Real platforms on one embedded state directory, the test's provider
 * server on loopback; the second platform's clock is two hours ahead (nothing else it does here
 * reads it: no webhook reaches it).
 * And a hang-up the provider failed is tried again at each pass: before, a failed hang-up waited
 * for the call's next event, and an answered orphan may send none while it talks (a pass reads
 * each record once).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { LOCK_MARGIN_MS, MAX_CALL_MS } from '../../src/platform/UnownedDials.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';
import { envelope, postWebhook, startHarness, waitFor } from './helpers.js';

const PROVIDER = { timeoutMs: 300, maxAttempts: 1, backoffMs: 5 };
const HOUR_MS = 3_600_000;

it('the first pass after a restart reaches an orphan first seen hours before', async () => {
  assert.ok(MAX_CALL_MS >= 4 * HOUR_MS, 'the lookback covers Telnyx\'s longest call (time_limit_secs 14 400)');
  const dir = await mkdtemp(join(tmpdir(), 'ttma-unowned-lookback-'));
  const orphan = 'v3:orphan-from-long-ago';
  try {
    // First process: the orphan's call.initiated is recorded; the process stops before the grace (no watch fires).
    let journal = await StateJournal.open(dir);
    const first = await startHarness({ provider: PROVIDER, stateJournal: journal, unownedDialSweepMs: 600_000 });
    try {
      const res = await postWebhook(first, envelope('call.initiated', { call_control_id: orphan, from: '+15551730001', to: '+15557654321', direction: 'outgoing' }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
    } finally {
      await first.close();
      await journal.close();
    }
    // Two hours later (the call still talking at the provider), a process starts on the same state.
    journal = await StateJournal.open(dir);
    const later = await startHarness({ provider: PROVIDER, stateJournal: journal, unownedDialSweepMs: 200, now: () => Date.now() + 2 * HOUR_MS });
    try {
      later.provider.calls.set(orphan, { direction: 'outgoing', from: '+15551730001', to: '+15557654321', alive: true });
      const hangups = () => later.provider.commands('hangup').filter((r) => r.path === `/v2/calls/${encodeURIComponent(orphan)}/actions/hangup`).length;
      await waitFor('the orphan hung up by the first pass', () => hangups() === 1, PROVIDER.timeoutMs + LOCK_MARGIN_MS + 5_000);
      assert.equal(later.provider.calls.get(orphan)!.alive, false);
      // Logged once the provider's answer is back: after the command the fake provider counted.
      await waitFor('the hang-up logged', () => later.lines.some((l) => l.includes('hung up an outgoing call no deployment owns')), 5_000);
    } finally {
      await later.close();
      await journal.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a hang-up the provider failed is tried again at the next passes, though the call sends no other event', async () => {
  const h = await startHarness({ provider: PROVIDER, unownedDialSweepMs: 200 });
  const orphan = 'v3:orphan-hangup-refused';
  try {
    h.provider.calls.set(orphan, { direction: 'outgoing', from: '+15551730002', to: '+15557654321', alive: true });
    const path = `/v2/calls/${encodeURIComponent(orphan)}/actions/hangup`;
    // The provider fails the first three: the watch's and the pass's (each reads the call once) and one more.
    let refused = 0;
    h.provider.override = (r) => (r.path === path && refused++ < 3 ? { status: 500, body: { errors: [{ code: '10001' }] } } : undefined);
    const res = await postWebhook(h, envelope('call.initiated', { call_control_id: orphan, from: '+15551730002', to: '+15557654321', direction: 'outgoing' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor('the orphan hung up at last', () => h.provider.calls.get(orphan)!.alive === false, PROVIDER.timeoutMs + LOCK_MARGIN_MS + 6_000);
    assert.equal(h.provider.commands('hangup').filter((r) => r.path === path).length, 4);
  } finally {
    h.provider.override = null;
    await h.close();
  }
});
