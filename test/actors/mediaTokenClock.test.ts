/**
 * Media tokens live on a monotonic clock (FAQ-07: one-time, expired 30 s after
 * issue): a wall-clock step back of an hour must not keep an unused token alive,
 * and a step forward must not expire a ringing call's. A real ControlActor with
 * its clock stepped by the test and Date.now stepped under it; the signalling
 * and supervisor are stubs (only the answer's token and the verdict matter).
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ControlActor } from '../../src/actors/ControlActor.js';
import type { SignallingClient } from '../../src/control/SignallingClient.js';
import { defaultGatewayConfig, type GatewayConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { Supervisor } from '../../src/actors/Supervisor.js';

const TTL_MS = 30_000;
const HOUR_MS = 3_600_000;
const realDateNow = Date.now;
afterEach(() => {
  Date.now = realDateNow;
});

/** A ControlActor that answers one inbound call; returns the answer's token and the clock to step. */
async function answeredCall(): Promise<{ actor: ControlActor; token: string; clock: { ms: number } }> {
  const config: GatewayConfig = { ...defaultGatewayConfig(), numbers: ['+15550001111'], publicHost: 'gw.example.com', mediaTokenTtlMs: TTL_MS, mediaSockets: 'worker' };
  let token = '';
  const signalling = {
    answer: async (_callId: string, body: { stream_auth_token: string }) => {
      token = body.stream_auth_token;
    },
    hangup: async () => undefined,
  } as unknown as SignallingClient;
  // Worker-owned sockets: admission needs a worker to pick, the verdict comes before any placement.
  const supervisor = { on: () => undefined, pickWorker: () => ({ index: 0 }), saturated: () => false, host: () => undefined } as unknown as Supervisor;
  const clock = { ms: 1_000 };
  const actor = new ControlActor(config, signalling, supervisor, createLogger('test', 'silent'), null, () => clock.ms);
  actor.onWebhook({ data: { event_type: 'call.initiated', payload: { call_control_id: 'call-1', direction: 'incoming', from: '+15559990000', to: '+15550001111' } } } as never);
  for (let i = 0; i < 50 && token === ''; i++) await new Promise((r) => setImmediate(r));
  assert.notEqual(token, '', 'the call was answered with a token');
  return { actor, token, clock };
}

/** The token's verdict: `no_worker` means it passed the token check (the stub has no worker holding the socket). */
async function verdict(actor: ControlActor, token: string): Promise<string> {
  const result = await actor.authorizeMedia('call-1', token);
  return result.ok ? 'ok' : result.reason;
}

test('a wall clock stepped back an hour does not keep an unused token past its 30 s', async () => {
  const { actor, token, clock } = await answeredCall();
  const wall = realDateNow();
  Date.now = () => wall - HOUR_MS;
  clock.ms += TTL_MS + 1;
  assert.equal(await verdict(actor, token), 'expired');
});

test('a wall clock stepped forward an hour does not expire a fresh token', async () => {
  const { actor, token, clock } = await answeredCall();
  const wall = realDateNow();
  Date.now = () => wall + HOUR_MS;
  clock.ms += 1_000;
  assert.equal(await verdict(actor, token), 'no_worker', 'the token passed its check');
});
