/**
 * A platform restart and the webhook replay cache (FAQ-05). On the embedded
 * store the cache starts empty with each process, so the new process refuses
 * signatures made before it started (503; the provider signs its retry when it
 * sends it). On Redis the cache outlives the process: the replay is a
 * duplicate, and a delivery signed just before the start is not refused.
 * Two real PlatformServers one after the other, the second with its clock 5 s on.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { RedisReplayStore } from '../../src/platform/store/RedisReplayStore.js';
import { WEBHOOK_TOLERANCE_SEC } from '../../src/wire/telnyx.js';
import { redisUnavailable, useRedisServer } from '../helpers/redisServer.js';
import { envelope, postWebhook, signedHeaders, startHarness, type Harness } from './helpers.js';
import type { PlatformServerOptions } from '../../src/platform/PlatformServer.js';

const NUMBER = '+15551230077';
const keyPair = nacl.sign.keyPair();
const publicKey = Buffer.from(keyPair.publicKey).toString('base64');
const RESTART_AFTER_MS = 5_000;
let seq = 0;

function initiated(): { callId: string; body: string } {
  const callId = `v3:restart-${process.pid}-${++seq}`;
  return { callId, body: envelope('call.initiated', { call_control_id: callId, from: '+15550000077', to: NUMBER, direction: 'incoming' }) };
}

/** The old process, stopped after `run`; then the new one, 5 s later by its clock. */
async function restartAround(overrides: () => Partial<PlatformServerOptions>, run: (old: Harness) => Promise<void>): Promise<Harness> {
  const old = await startHarness({ webhookPublicKeyBase64: publicKey, ...overrides() });
  try {
    await old.platform.deployments.register({ id: 'dep-r', numbers: [NUMBER], tunnelHost: 'rrr.trycloudflare.com' });
    await run(old);
  } finally {
    await old.close();
  }
  const next = await startHarness({ webhookPublicKeyBase64: publicKey, now: () => Date.now() + RESTART_AFTER_MS, ...overrides() });
  await next.platform.deployments.register({ id: 'dep-r', numbers: [NUMBER], tunnelHost: 'rrr.trycloudflare.com' }).catch(() => undefined);
  return next;
}

describe('a platform restart on the embedded store', () => {
  let next: Harness | undefined;
  after(() => next?.close());

  it('refuses a captured event signed before it started (503), and takes the provider\'s fresh retry', async () => {
    const { callId, body } = initiated();
    const captured = signedHeaders(keyPair.secretKey, body);
    next = await restartAround(() => ({}), async (old) => {
      assert.equal((await postWebhook(old, body, captured)).status, 200);
    });
    const replay = await postWebhook(next, body, captured);
    assert.equal(replay.status, 503);
    assert.equal(replay.body.error.code, 'TTMA_ERR_WEBHOOK_REPLAY');
    assert.equal(await next.platform.calls.get(callId), undefined, 'nothing recorded from the replay');
    const retry = await postWebhook(next, body, signedHeaders(keyPair.secretKey, body, Math.floor((Date.now() + RESTART_AFTER_MS) / 1000)));
    assert.equal(retry.status, 200);
    assert.equal((await next.platform.calls.get(callId))?.deploymentId, 'dep-r');
  });
});

describe('a platform restart on Redis', { skip: redisUnavailable() }, () => {
  const redis = useRedisServer();
  let next: Harness | undefined;
  const replayStore = (): RedisReplayStore => new RedisReplayStore({ url: redis.server.url, ttlMs: 2 * WEBHOOK_TOLERANCE_SEC * 1000 });
  after(() => next?.close());

  it('answers the replay as a duplicate (the cache outlived the process) and takes a delivery signed before the start', async () => {
    const seen = initiated();
    const captured = signedHeaders(keyPair.secretKey, seen.body);
    const unseen = initiated();
    const heldUp = signedHeaders(keyPair.secretKey, unseen.body);
    next = await restartAround(() => ({ redisUrl: redis.server.url, replayStore: replayStore() }), async (old) => {
      assert.equal((await postWebhook(old, seen.body, captured)).status, 200);
    });
    const replay = await postWebhook(next, seen.body, captured);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.duplicate, true);
    // Signed by the provider before this process started, never delivered: Redis can vouch that it is new.
    assert.equal((await postWebhook(next, unseen.body, heldUp)).status, 200);
    assert.equal((await next.platform.calls.get(unseen.callId))?.deploymentId, 'dep-r');
  });
});

/**
 * The platform's clock stepped after its start (NTP's step at boot, `date -s`), on the embedded
 * store: the start is kept in the frame of the clock as it is now, as the gateway's WebhookGate does.
 */
describe('a platform on the embedded store whose clock is stepped after its start', () => {
  const started: Harness[] = [];
  after(() => Promise.all(started.map((h) => h.close())));

  async function platformStartedOffBy(ms: number): Promise<{ h: Harness; step: () => void }> {
    let offset = 0;
    // Its clock reads `real + ms` from the start until the step sets it right.
    const h = await startHarness({ webhookPublicKeyBase64: publicKey, now: () => Date.now() + ms - offset, clockOffsetMs: () => -offset });
    started.push(h);
    await h.platform.deployments.register({ id: 'dep-r', numbers: [NUMBER], tunnelHost: 'rrr.trycloudflare.com' });
    return { h, step: () => (offset = ms) };
  }

  it('started with its clock behind and stepped forward: an event signed before the start is still refused', async () => {
    const { h, step } = await platformStartedOffBy(-600_000);
    step();
    const { body } = initiated();
    const captured = await postWebhook(h, body, signedHeaders(keyPair.secretKey, body, Math.floor(Date.now() / 1000) - 20));
    assert.equal(captured.status, 503, 'signed before the process started: its empty replay cache cannot vouch for it');
    assert.equal(captured.body.error.code, 'TTMA_ERR_WEBHOOK_REPLAY');
  });

  it('started with its clock ahead and stepped back: a genuine event is taken at once', async () => {
    const { h, step } = await platformStartedOffBy(120_000);
    step();
    const { callId, body } = initiated();
    const genuine = await postWebhook(h, body, signedHeaders(keyPair.secretKey, body));
    assert.equal(genuine.status, 200, JSON.stringify(genuine.body));
    assert.equal((await h.platform.calls.get(callId))?.deploymentId, 'dep-r');
  });
});
