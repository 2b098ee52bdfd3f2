/**
 * Adversarial media streams (FAQ-07, DESIGN 3 step 4 and 7): upgrades to
 * /v1/media/<callId> without, with wrong, reused, foreign, revoked or expired
 * tokens, hostile paths, and hostile frames on an authenticated socket (a
 * start frame naming another call, oversize, binary, a flood). The test plays
 * the provider by hand for the `hd-` calls (the tap answers them and keeps
 * the minted token), while an honest simulator call streams through the same
 * gateway and must come back whole.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type WebSocket from 'ws';
import { attack, type AttackProbe } from './attacks.js';
import { closedWithin, SecurityStack, sleep, waitFor, type HonestCall } from './harness.js';
import { TUNNEL_HOST } from '../helpers/stack.js';

/** Short, so a held token can be seen to expire (1000 is the config minimum). */
const TOKEN_TTL_MS = 1_000;
/** Long enough to span every attack below (about 2 s here), with margin. */
/** How long a socket the gateway should close may stay open before the attack counts as accepted. */
const CLOSE_WITHIN_MS = 2_000;
const TOKEN_HEADER = 'x-telnyx-streaming-auth-token';

let s: SecurityStack;
let honest: HonestCall;
let honestToken: string;

before(async () => {
  s = await SecurityStack.start({ mediaTokenTtlMs: TOKEN_TTL_MS });
  honest = await s.honestCall();
  const token = honest.call.testOnlyStreamToken;
  assert.ok(token, 'the simulator kept the token it used');
  honestToken = token;
});

after(async () => {
  await s?.stop();
});

function honestStreaming(): boolean {
  return s.gateway.control.snapshot().some((c) => c.callId === honest.call.id && c.state === 'streaming');
}

function isLive(callId: string): boolean {
  return s.gateway.control.snapshot().some((c) => c.callId === callId);
}

/** End a hand-driven call the way the provider would, and wait until the gateway has let it go. */
async function cleanup(callId: string, ws?: WebSocket | null): Promise<void> {
  ws?.terminate();
  if (isLive(callId)) await s.hangup(callId);
  await waitFor(`${callId} to end`, () => !isLive(callId));
}

function refusedUpgrades(): number {
  return Object.values(s.gateway.front.counters.mediaRefused).reduce((sum, n) => sum + n, 0);
}

/** An upgrade that must be refused with 401 before any socket exists, with no effect on any call. */
async function expectUpgradeRefused(probe: AttackProbe, path: string, headers: Record<string, string>, query = ''): Promise<void> {
  const before = s.effects();
  const refusedBefore = refusedUpgrades();
  const { status, ws } = await s.upgrade(path, headers, query);
  ws?.terminate();
  probe.goal(status === 101, 'the media upgrade was accepted');
  assert.equal(status, 401);
  // A worker's listener counts its refusals through a message to the main thread: counted soon, not at once.
  await waitFor('the refusal to be counted as a refused upgrade', () => refusedUpgrades() === refusedBefore + 1);
  assert.equal(refusedUpgrades(), refusedBefore + 1, 'counted once as a refused upgrade');
  s.assertNoEffect(before, probe.name);
  assert.ok(honestStreaming(), 'the honest call is still streaming');
}

/** A hand-driven call with its media socket open and a valid start frame sent. */
async function openStream(label: string): Promise<{ callId: string; ws: WebSocket }> {
  const callId = s.callId('hd', label);
  const token = await s.mintToken(callId);
  const ws = await s.openMedia(callId, token);
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(s.startFrame(callId));
  return { callId, ws };
}

/** The gateway must close the socket with one of `codes` (and a reason matching `reason`), end that call, and leave the others alone. */
async function expectClosedByGateway(probe: AttackProbe, callId: string, ws: WebSocket, codes: number[], reason?: RegExp): Promise<void> {
  const closed = await closedWithin(ws, CLOSE_WITHIN_MS);
  probe.goal(closed === null, `the socket was still open ${CLOSE_WITHIN_MS} ms later`);
  assert.ok(codes.includes(closed!.code), `close code ${closed!.code} (${closed!.reason}), expected one of ${codes.join(', ')}`);
  if (reason) assert.match(closed!.reason, reason);
  await cleanup(callId, ws);
  assert.ok(honestStreaming(), 'the honest call is still streaming');
  assert.equal(s.gateway.status().workerRestarts, 0);
}

attack('media: upgrade without a token', async (probe) => {
  const callId = s.callId('hd', 'notoken');
  const token = await s.mintToken(callId);
  await expectUpgradeRefused(probe, callId, {});
  // The refused attempt did not burn the genuine provider's token.
  const ws = await s.openMedia(callId, token);
  await cleanup(callId, ws);
});

attack('media: upgrade with a wrong token (random 256 bits)', async (probe) => {
  const callId = s.callId('hd', 'wrongtoken');
  await s.mintToken(callId);
  await expectUpgradeRefused(probe, callId, { [TOKEN_HEADER]: randomBytes(32).toString('base64url') });
  await cleanup(callId);
});

attack('media: honest call token reused (header) while the call is live', async (probe) => {
  await expectUpgradeRefused(probe, encodeURIComponent(honest.call.id), { [TOKEN_HEADER]: honestToken });
});

attack('media: honest call token reused (?token= query) while the call is live', async (probe) => {
  await expectUpgradeRefused(probe, encodeURIComponent(honest.call.id), {}, `?token=${encodeURIComponent(honestToken)}`);
});

attack('media: hijack of the live honest call with a guessed token', async (probe) => {
  await expectUpgradeRefused(probe, encodeURIComponent(honest.call.id), { [TOKEN_HEADER]: randomBytes(32).toString('base64url') });
});

attack("media: token of another call (A's token on B's path)", async (probe) => {
  const a = s.callId('hd', 'tokA');
  const b = s.callId('hd', 'tokB');
  const tokenA = await s.mintToken(a);
  await s.mintToken(b);
  const wrongCall = s.gateway.front.counters.mediaRefused.wrong_call ?? 0;
  await expectUpgradeRefused(probe, b, { [TOKEN_HEADER]: tokenA });
  assert.equal(s.gateway.front.counters.mediaRefused.wrong_call, wrongCall + 1, 'refused as bound to another call');
  await cleanup(a);
  await cleanup(b);
});

attack('media: leaked token retried on its own call after being presented elsewhere', async (probe) => {
  const a = s.callId('hd', 'leakA');
  const b = s.callId('hd', 'leakB');
  const tokenA = await s.mintToken(a);
  await s.mintToken(b);
  const first = await s.upgrade(b, { [TOKEN_HEADER]: tokenA });
  first.ws?.terminate();
  assert.equal(first.status, 401);
  // Presented for another call, the token has leaked: it must not work anywhere now.
  await expectUpgradeRefused(probe, a, { [TOKEN_HEADER]: tokenA });
  await cleanup(a);
  await cleanup(b);
});

/** A hand-driven call whose socket is lost mid-call (no stop, no close frame): resolves once the gateway asked for a new stream. */
async function loseStream(label: string): Promise<{ callId: string; oldToken: string; newToken: string }> {
  const callId = s.callId('hd', label);
  const oldToken = await s.mintToken(callId);
  const ws = await s.openMedia(callId, oldToken);
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(s.startFrame(callId));
  for (let i = 0; i < 5; i++) ws.send(s.mediaFrame(i));
  // The worker must have read the start frame: only a stream that started is restarted.
  await sleep(200);
  ws.terminate();
  await waitFor(`a new stream asked for ${callId}`, () => (s.tap.restarts.get(callId)?.length ?? 0) > 0);
  const restart = s.tap.restarts.get(callId)!.at(-1)!;
  assert.equal(restart.stream_url, `wss://${TUNNEL_HOST}/v1/media/${encodeURIComponent(callId)}`);
  assert.notEqual(restart.stream_auth_token, oldToken, 'a fresh token for the new stream');
  return { callId, oldToken, newToken: restart.stream_auth_token };
}

attack("media: a lost stream's own token replayed while the gateway waits for the new stream", async (probe) => {
  const { callId, oldToken, newToken } = await loseStream('replayold');
  await expectUpgradeRefused(probe, encodeURIComponent(callId), { [TOKEN_HEADER]: oldToken });
  // The provider's new stream, with the token minted for it, still gets in (once).
  const ws = await s.openMedia(callId, newToken);
  const again = await s.upgrade(encodeURIComponent(callId), { [TOKEN_HEADER]: newToken });
  again.ws?.terminate();
  assert.equal(again.status, 401, 'the new token is one-time too');
  await cleanup(callId, ws);
});

attack('media: hijack of a call between streams with a guessed token', async (probe) => {
  const { callId, newToken } = await loseStream('betweenguess');
  await expectUpgradeRefused(probe, encodeURIComponent(callId), { [TOKEN_HEADER]: randomBytes(32).toString('base64url') });
  await cleanup(callId);
  const late = await s.upgrade(encodeURIComponent(callId), { [TOKEN_HEADER]: newToken });
  late.ws?.terminate();
  assert.equal(late.status, 401, 'the new stream\'s token is revoked with the call');
});

attack('media: token used after the call was hung up', async (probe) => {
  const callId = s.callId('hd', 'afterhangup');
  const token = await s.mintToken(callId);
  await s.hangup(callId);
  await waitFor(`${callId} to end`, () => !isLive(callId));
  await expectUpgradeRefused(probe, callId, { [TOKEN_HEADER]: token });
});

attack('media: token used after it expired unused', async (probe) => {
  const callId = s.callId('hd', 'expired');
  const token = await s.mintToken(callId);
  await sleep(TOKEN_TTL_MS + 200);
  assert.ok(isLive(callId), 'the call itself is still waiting for its stream');
  await expectUpgradeRefused(probe, callId, { [TOKEN_HEADER]: token });
  await cleanup(callId);
});

attack('media: malformed percent-escapes in the call id path', async (probe) => {
  const callId = s.callId('hd', 'escapes');
  const token = await s.mintToken(callId);
  for (const path of ['%E0%A4%A', '%', '%00', `${callId}%E0%A4%A`]) {
    await expectUpgradeRefused(probe, path, { [TOKEN_HEADER]: token });
  }
  await cleanup(callId);
});

attack('media: path traversal in the call id', async (probe) => {
  const callId = s.callId('hd', 'traversal');
  const token = await s.mintToken(callId);
  for (const path of ['..%2F..%2Fdebug%2Fstatus', `..%2F${callId}`, `${callId}%2F..%2F..%2Fhealthz`]) {
    await expectUpgradeRefused(probe, path, { [TOKEN_HEADER]: token });
  }
  await cleanup(callId);
});

attack('media: overlong call id (300 characters)', async (probe) => {
  await expectUpgradeRefused(probe, 'a'.repeat(300), { [TOKEN_HEADER]: randomBytes(32).toString('base64url') });
});

attack('media: start frame naming another call', async (probe) => {
  const callId = s.callId('hd', 'startother');
  const token = await s.mintToken(callId);
  const ws = await s.openMedia(callId, token);
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(s.startFrame(s.callId('hd', 'someone-else')));
  await expectClosedByGateway(probe, callId, ws, [1008], /TTMA_ERR_MEDIA_PROTOCOL/);
  assert.ok(s.tap.hangups.has(callId), 'the gateway hung the call up through the platform');
});

attack('media: start frame with a long non-ASCII encoding (a close reason past 123 bytes of UTF-8)', async (probe) => {
  const callId = s.callId('hd', 'utf8reason');
  const token = await s.mintToken(callId);
  const ws = await s.openMedia(callId, token);
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(s.startFrame(callId, 'é'.repeat(60)));
  // The refusal names its code whole: not a reason cut mid-character, which the peer reads as 1006.
  await expectClosedByGateway(probe, callId, ws, [1003], /^TTMA_ERR_CODEC_UNSUPPORTED: media encoding "é+/);
});

attack('media: start frame naming the live honest call (stream redirect)', async (probe) => {
  const callId = s.callId('hd', 'starthonest');
  const token = await s.mintToken(callId);
  const ws = await s.openMedia(callId, token);
  ws.send(s.startFrame(honest.call.id));
  await expectClosedByGateway(probe, callId, ws, [1008], /TTMA_ERR_MEDIA_PROTOCOL/);
});

attack('media: oversize frame (17 KiB text message)', async (probe) => {
  const { callId, ws } = await openStream('oversize');
  ws.send(JSON.stringify({ event: 'media', media: { track: 'inbound', payload: 'A'.repeat(17 * 1024) } }));
  // uWS ends the socket itself: 1009 (message too big), or a dropped connection (1006) on the client.
  await expectClosedByGateway(probe, callId, ws, [1009, 1006]);
});

attack('media: binary garbage frames', async (probe) => {
  const { callId, ws } = await openStream('binary');
  for (let i = 0; i < 3; i++) ws.send(randomBytes(200), { binary: true });
  await expectClosedByGateway(probe, callId, ws, [1003], /TTMA_ERR_MEDIA_PROTOCOL/);
});

attack('media: frame flood (600 valid frames at once)', async (probe) => {
  const { callId, ws } = await openStream('flood');
  for (let i = 0; i < 600 && ws.readyState === ws.OPEN; i++) ws.send(s.mediaFrame(i));
  await expectClosedByGateway(probe, callId, ws, [1008], /TTMA_ERR_MEDIA_FLOOD/);
});

test('the honest call kept flowing through every media attack', async () => {
  assert.equal(await s.healthz(), 200);
  await honest.finish();
  assert.equal(s.gateway.control.liveCalls, 0, 'every hand-driven call was let go');
});
