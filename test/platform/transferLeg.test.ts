/**
 * A transfer's new leg is not a dial nobody owns. Telnyx's "Transfer call" dials the destination
 * as a leg of its own (its own call_control_id, `call.initiated` with direction `outgoing`, the
 * session of the call transferred) and puts the command's `target_leg_client_state` on every
 * webhook of that leg (developers.telnyx.com/api-reference/call-commands/transfer-call). Nothing
 * locks that leg, so before, UnownedDials hung it up once the dial grace was past: every transfer
 * cut about 19 s in. Real platform on loopback, the test's provider server answering the transfer
 * as Telnyx does (a new leg, alive), the leg's webhooks signed and sent as Telnyx sends them.
 * A leg whose mark names no call of a deployment's, and one with no mark, are still hung up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOCK_MARGIN_MS } from '../../src/platform/UnownedDials.js';
import { transferLegState, transferredFrom } from '../../src/platform/transferLegs.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, adminHeaders, agentHeaders, call, envelope, postWebhook, startHarness, telnyxEvent, waitFor, type Harness } from './helpers.js';

const PROVIDER = { timeoutMs: 300, maxAttempts: 1, backoffMs: 5 };
const GRACE_MS = PROVIDER.timeoutMs + LOCK_MARGIN_MS;
const D = { id: 'transfer-dep', numbers: ['+15551720001'], tunnelHost: 'transfer-dep.trycloudflare.com' };
const CALLER = '+15550001111';
const TARGET = '+15557654321';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a transfer\'s new leg', () => {
  let h: Harness;
  let secret: string;
  /** Transferred call -> its new leg (the provider's answer to the transfer). */
  const legs = new Map<string, string>();
  const hungUp = (id: string) => h.provider.commands('hangup').filter((r) => r.path === `/v2/calls/${encodeURIComponent(id)}/actions/hangup`).length;

  before(async () => {
    h = await startHarness({ provider: PROVIDER, unownedDialSweepMs: 200, rateLimit: { ratePerSec: 1_000, burst: 1_000 } });
    const created = await call(h.base, 'POST', '/v1/admin/deployments', { headers: adminHeaders(), body: D });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    secret = created.body.agentSecret as string;
    // Telnyx's transfer: a new outgoing leg, alive while it rings and talks.
    h.provider.override = (req) => {
      const m = /^\/v2\/calls\/([^/]+)\/actions\/transfer$/.exec(req.path);
      if (req.method !== 'POST' || !m) return undefined;
      const leg = `v3:leg-b-of-${decodeURIComponent(m[1]!)}`;
      h.provider.calls.set(leg, { direction: 'outgoing', from: String(req.body?.['from']), to: String(req.body?.['to']), alive: true });
      legs.set(decodeURIComponent(m[1]!), leg);
      return { status: 200, body: { data: { result: 'ok' } } };
    };
  });
  after(() => h.close());

  /** An incoming call to D, locked to it by its call.initiated. */
  async function incoming(id: string): Promise<void> {
    h.provider.calls.set(id, { direction: 'incoming', from: CALLER, to: D.numbers[0]!, alive: true });
    const res = await postWebhook(h, envelope('call.initiated', { call_control_id: id, from: CALLER, to: D.numbers[0]!, direction: 'incoming' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  /** The new leg's webhooks as Telnyx sends them: its own id, outgoing, the transferred call's session, the mark as client_state. */
  async function legEvents(leg: string, session: string, clientState: string | null): Promise<void> {
    const base = { call_control_id: leg, call_session_id: session, client_state: clientState, from: D.numbers[0]!, to: TARGET };
    for (const body of [telnyxEvent('call.initiated', { ...base, direction: 'outgoing', state: 'bridging' }), telnyxEvent('call.answered', base)]) {
      const res = await postWebhook(h, body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  }

  it('is not hung up: the transfer marks it, and its webhooks are not taken for a dial nobody owns', async () => {
    const a = 'v3:transfer-a';
    await incoming(a);
    const res = await call(h.base, 'POST', PLATFORM_PATHS.transfer(a), { headers: agentHeaders(D.id, secret), body: { to: TARGET } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const sent = h.provider.commands('transfer').at(-1)!.body!;
    assert.equal(transferredFrom(sent['target_leg_client_state']), a, 'the transfer names the call in the new leg\'s state');
    const leg = legs.get(a)!;
    await legEvents(leg, `sess-${a}`, String(sent['target_leg_client_state']));
    // The grace, and several passes of the periodic look over the records.
    await sleep(GRACE_MS + 1_500);
    assert.equal(hungUp(leg), 0, 'the transferred call\'s new leg was hung up as a dial nobody owns');
    assert.equal(h.provider.calls.get(leg)!.alive, true);
    assert.equal(hungUp(a), 0);
    assert.ok(!h.lines.some((l) => l.includes('no deployment owns')), 'no unowned-dial line');
  });

  it('with a mark naming no call of a deployment\'s, or none, it is hung up as before', async () => {
    const forged = 'v3:leg-forged';
    const unmarked = 'v3:leg-unmarked';
    for (const id of [forged, unmarked]) h.provider.calls.set(id, { direction: 'outgoing', from: D.numbers[0]!, to: TARGET, alive: true });
    await legEvents(forged, 'sess-forged', transferLegState('v3:no-such-call'));
    await legEvents(unmarked, 'sess-unmarked', null);
    await waitFor('both legs hung up', () => hungUp(forged) === 1 && hungUp(unmarked) === 1, GRACE_MS + 8_000);
  });

  it('a gateway cannot put the mark on its own dial', async () => {
    const res = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers: agentHeaders(D.id, secret),
      body: { to: TARGET, stream_url: `wss://${D.tunnelHost}/v1/media/transfer-mark-1`, stream_auth_token: STREAM_TOKEN, client_state: transferLegState('v3:transfer-a') },
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.error.message, /transfer-leg mark/);
    assert.equal(h.provider.requests.filter((r) => r.method === 'POST' && r.path === '/v2/calls').length, 0, 'nothing dialled');
  });
});
