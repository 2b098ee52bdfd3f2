/**
 * The simulator's `transfer` as Telnyx documents it
 * (developers.telnyx.com/api-reference/call-commands/transfer-call): the destination is dialled as
 * a new outgoing leg with its own call_control_id and `target_leg_client_state` as its
 * client_state; it gets `call.initiated`, then `call.answered` and `call.bridged` (the call
 * transferred gets `call.bridged` too) or `call.hangup` (cause `timeout` past `timeout_secs`), and
 * the call transferred stays up when the leg is not answered. Bridged, the pair ends together
 * (assumed). The leg has a detail record of its own (outbound, its numbers, its duration).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { createLogger } from '../../src/log.js';
import { ProviderSimulator } from '../../src/sim/ProviderSimulator.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { WebhookReceiver, sleep } from './gatewayDouble.js';

const API_KEY = 'sim-test-key-transfer-0123456789';
const CALLER = '+15551230001';
const OUR_NUMBER = '+15557650001';
const TARGET = '+15557654321';
const TARGET_STATE = Buffer.from('the new leg').toString('base64');

/** A simulator for the suite (started before its tests, stopped after), its webhooks to `hooks`. */
function useSim(ringMs: number, talkMs = 1_000): { hooks: WebhookReceiver; sim: () => ProviderSimulator; base: () => string } {
  const hooks = new WebhookReceiver('platform');
  let started: { sim: ProviderSimulator; base: string } | undefined;
  before(async () => {
    started = await startSim(hooks, ringMs, talkMs);
  });
  after(async () => {
    await started?.sim.stop();
    await hooks.close();
  });
  return { hooks, sim: () => started!.sim, base: () => started!.base };
}

async function startSim(hooks: WebhookReceiver, ringMs: number, talkMs: number): Promise<{ sim: ProviderSimulator; base: string }> {
  const sim = new ProviderSimulator({
    apiKey: API_KEY,
    signingSecretKey: nacl.sign.keyPair().secretKey,
    webhookUrls: [await hooks.listen()],
    tunnels: {},
    answerTimeoutMs: 5_000,
    ringMs,
    outboundTalkMs: talkMs,
    logger: createLogger('sim-test', 'silent'),
  });
  const { port } = await sim.start();
  hooks.setPublicKey(sim.publicKeyBase64);
  return { sim, base: `http://127.0.0.1:${port}` };
}

async function api(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const action = (id: string, name: string) => `/v2/calls/${encodeURIComponent(id)}/actions/${name}`;

/** An incoming call, answered without a stream. */
async function answeredCall(sim: ProviderSimulator, base: string): Promise<SimCall> {
  const a = sim.placeInboundCall({ from: CALLER, to: OUR_NUMBER, durationMs: 30_000 });
  assert.equal((await api(base, action(a.id, 'answer'), {})).status, 200);
  return a;
}

function legOf(sim: ProviderSimulator, a: SimCall): SimCall {
  const summary = sim.callSummaries().find((s) => s.direction === 'outgoing' && sim.callInfo(s.callId)?.call_session_id === a.sessionId);
  assert.ok(summary, 'a new leg was placed');
  const leg = sim.liveCall(summary.callId);
  assert.ok(leg, 'the new leg is live');
  return leg;
}

describe('the simulator\'s transfer: a new leg, bridged on answer', () => {
  const { hooks, sim, base } = useSim(100);

  it('places the leg with the target state, bridges both, ends both when the callee hangs up, and records the leg', async () => {
    const a = await answeredCall(sim(), base());
    const res = await api(base(), action(a.id, 'transfer'), { to: TARGET, from: OUR_NUMBER, target_leg_client_state: TARGET_STATE, command_id: 'transfer-1' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const leg = legOf(sim(), a);
    assert.notEqual(leg.id, a.id);
    assert.equal(a.isAlive, true, 'the call transferred stays up while the leg rings');
    const second = await api(base(), action(a.id, 'transfer'), { to: TARGET });
    assert.equal(second.status, 422, 'one transfer at a time');
    const [legReport, aReport] = await Promise.all([leg.done, a.done]);
    assert.equal(legReport.endedBy, 'callee');
    assert.equal(aReport.endedBy, 'callee', 'the bridged call ends with its leg');
    await sleep(200);
    assert.deepEqual(hooks.eventsFor(leg.id), ['call.initiated', 'call.answered', 'call.bridged', 'call.hangup']);
    assert.deepEqual(hooks.eventsFor(a.id), ['call.initiated', 'call.answered', 'call.bridged', 'call.hangup']);
    const legHooks = hooks.received.filter((h) => h.envelope.data.payload.call_control_id === leg.id);
    for (const hook of legHooks) assert.equal(hook.envelope.data.payload.client_state, TARGET_STATE, `${hook.envelope.data.event_type} carries target_leg_client_state`);
    const initiated = legHooks.find((h) => h.envelope.data.event_type === 'call.initiated')!.envelope.data.payload;
    assert.equal(initiated.direction, 'outgoing');
    assert.equal(initiated.from, OUR_NUMBER);
    assert.equal(initiated.to, TARGET);
    assert.equal(initiated.call_session_id, a.sessionId);
    const cdrs = await fetch(`${base()}/v2/detail_records?filter[record_type]=call-control&filter[telnyx_call_control_id]=${encodeURIComponent(leg.id)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const record = ((await cdrs.json()) as { data: Record<string, unknown>[] }).data[0];
    assert.ok(record, 'the leg has a detail record');
    assert.equal(record['direction'], 'outbound');
    assert.equal(record['cli'], OUR_NUMBER);
    assert.equal(record['cld'], TARGET);
    assert.ok(Number(record['call_sec']) >= 1, JSON.stringify(record));
  });

  it('refuses a timeout_secs outside 5..120, as Telnyx documents it', async () => {
    const a = await answeredCall(sim(), base());
    assert.equal((await api(base(), action(a.id, 'transfer'), { to: TARGET, timeout_secs: 4 })).status, 422);
    assert.equal((await api(base(), action(a.id, 'hangup'), {})).status, 200);
  });
});

describe('the simulator\'s transfer: a leg that is not answered', () => {
  // The callee never answers within the shortest timeout_secs Telnyx allows (5 s).
  const { sim, base } = useSim(60_000);

  it('times out after timeout_secs (cause timeout) and leaves the call transferred up; a call that ends cancels its ringing leg', async () => {
    const a = await answeredCall(sim(), base());
    assert.equal((await api(base(), action(a.id, 'transfer'), { to: TARGET, timeout_secs: 5 })).status, 200);
    const leg = legOf(sim(), a);
    const report = await leg.done;
    assert.equal(report.cdr.hangup_cause, 'timeout');
    assert.equal(a.isAlive, true, '"The original call will remain active"');
    // It may be transferred again; this time the caller hangs up while the leg rings.
    assert.equal((await api(base(), action(a.id, 'transfer'), { to: TARGET })).status, 200);
    const next = sim().callSummaries().filter((s) => s.direction === 'outgoing' && s.endedBy === null).map((s) => sim().liveCall(s.callId)!)[0]!;
    assert.equal((await api(base(), action(a.id, 'hangup'), {})).status, 200);
    const cancelled = await next.done;
    assert.equal(cancelled.cdr.hangup_cause, 'originator_cancel');
    assert.equal(cancelled.cdr.answered_at, null);
  });
});

describe('the simulator\'s transfer: the leg\'s time_limit_secs', () => {
  // The callee would talk for a minute: only the time limit ends the leg.
  const { sim, base } = useSim(100, 60_000);

  it('ends the bridged leg at time_limit_secs after its answer (cause time_limit), and the call transferred with it', async () => {
    const a = await answeredCall(sim(), base());
    assert.equal((await api(base(), action(a.id, 'transfer'), { to: TARGET, timeout_secs: 30, time_limit_secs: 1 })).status, 200);
    const leg = legOf(sim(), a);
    const [report, aReport] = await Promise.all([leg.done, a.done]);
    assert.equal(report.cdr.hangup_cause, 'time_limit');
    assert.ok(report.cdr.answered_at !== null, 'the leg was answered first');
    const talked = Date.parse(report.cdr.ended_at!) - Date.parse(report.cdr.answered_at!);
    assert.ok(talked >= 1_000 && talked < 5_000, `ended ${talked} ms after its answer`);
    assert.equal(aReport.cdr.hangup_cause, 'normal_clearing', 'the bridged call ends with its leg');
  });
});
