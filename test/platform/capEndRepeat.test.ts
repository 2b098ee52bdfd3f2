/**
 * How often the platform asks the provider to end a call it ended at a cap (the twenty-fifth
 * session's open question: is a call whose hang-up event is lost for good hang up again every
 * unit?). Measured on a real platform with the test's provider server on loopback, a unit of
 * 200 ms, over 12 units:
 * - the provider takes the hang-up and its `call.hangup` never comes: one hang-up, ever (the
 *   reservation is released once the hang-up is taken, so nothing refuses or ends it again);
 * - the provider refuses every hang-up while calling the call alive: one round a unit (the refused
 *   top-up moves the call's due time a unit on), each round the first try and one per
 *   `capHangupRetryMs` wait, and no more: bounded, no storm.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, startHarness, waitFor, type Harness } from './helpers.js';

const UNIT_MS = 200;
const RETRIES_MS = [20, 20];
const UNITS = 12;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function cappedCall(h: Harness, id: string): Promise<string> {
  const host = `${id}.trycloudflare.com`;
  const { agentSecret } = await h.platform.deployments.register({ id, numbers: ['+15550007777'], tunnelHost: host, caps: { dayMinutes: 1, monthMinutes: 100 } });
  const dialled = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
    headers: agentHeaders(id, agentSecret),
    body: { to: '+15557654321', stream_url: `wss://${host}/v1/media/${id}`, stream_auth_token: STREAM_TOKEN },
  });
  assert.equal(dialled.status, 200, JSON.stringify(dialled.body));
  return dialled.body.call_control_id as string;
}

const options = {
  capUnitMs: UNIT_MS,
  capGoodbyeMs: 0,
  capHangupRetryMs: RETRIES_MS,
  // Beyond the test: only the cap's own path asks the provider anything about the call.
  hungUpCheck: { afterMs: 600_000 },
  rateLimit: { ratePerSec: 1_000, burst: 1_000 },
  provider: { backoffMs: 5, timeoutMs: 2_000, maxAttempts: 1 },
};

it('a call ended at a cap whose hang-up event is lost for good is hung up once', async () => {
  const h = await startHarness(options);
  try {
    const callId = await cappedCall(h, 'cap-repeat-lost');
    const hangups = () => h.provider.commands('hangup').filter((r) => r.path.includes(encodeURIComponent(callId))).length;
    await waitFor('the hang-up at the cap', () => hangups() === 1);
    await sleep(UNITS * UNIT_MS);
    assert.equal(hangups(), 1, 'hung up again');
  } finally {
    await h.close();
  }
});

it('a hang-up the provider keeps refusing is tried one round a unit, no more', async (t) => {
  const h = await startHarness(options);
  try {
    const callId = await cappedCall(h, 'cap-repeat-refused');
    const path = `${encodeURIComponent(callId)}/actions/hangup`;
    h.provider.override = (r) => (r.path.includes(path) ? { status: 500, body: { errors: [{ code: '10001' }] } } : undefined);
    const hangups = () => h.provider.commands('hangup').filter((r) => r.path.includes(path)).length;
    await waitFor('the first round at the cap', () => hangups() >= 1 + RETRIES_MS.length);
    const from = hangups();
    await sleep(UNITS * UNIT_MS);
    const perRound = 1 + RETRIES_MS.length;
    const rounds = (hangups() - from) / perRound;
    t.diagnostic(`${hangups() - from} hang-ups in ${UNITS} units: ${rounds.toFixed(1)} rounds of ${perRound}`);
    // One round per unit at most (a round may be under way at either end of the window).
    assert.ok(rounds <= UNITS + 1, `${hangups() - from} hang-ups in ${UNITS} units (${perRound} a round)`);
    assert.ok(rounds >= UNITS / 3, `the hang-up is still tried: ${hangups() - from} in ${UNITS} units`);
    h.provider.override = null;
  } finally {
    await h.close();
  }
});
