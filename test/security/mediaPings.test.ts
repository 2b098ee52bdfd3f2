/**
 * WebSocket pings on an authenticated media socket (FAQ-07 abuse limits,
 * docs/security.md): uWS answers each ping with a pong by itself, so pings
 * went around the per-socket frame bucket, and 50,000 pings at once got
 * tens of thousands of pongs back and never closed the socket. They take from
 * the same bucket as text frames now: a ping flood closes the socket with
 * 1008 TTMA_ERR_MEDIA_FLOOD and ends its call, as a frame flood does, while a
 * few pings (a peer keeping its path alive) close nothing. Both socket layouts
 * (the routes are mounted on the main thread's app or on each worker's).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type WebSocket from 'ws';
import { attack } from './attacks.js';
import { closedWithin, SecurityStack, sleep, waitFor } from './harness.js';

const LAYOUTS = ['worker', 'front'] as const;
const FLOOD_PINGS = 10_000;
const stacks = new Map<(typeof LAYOUTS)[number], SecurityStack>();

before(async () => {
  for (const mediaSockets of LAYOUTS) stacks.set(mediaSockets, await SecurityStack.start({ mediaSockets }));
});

after(async () => {
  for (const s of stacks.values()) await s.stop();
});

async function openStream(s: SecurityStack, label: string): Promise<{ callId: string; ws: WebSocket; pongs: () => number }> {
  const callId = s.callId('hd', label);
  const ws = await s.openMedia(callId, await s.mintToken(callId));
  ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
  ws.send(s.startFrame(callId));
  let pongs = 0;
  ws.on('pong', () => pongs++);
  return { callId, ws, pongs: () => pongs };
}

const isLive = (s: SecurityStack, callId: string) => s.gateway.control.snapshot().some((c) => c.callId === callId);

for (const mediaSockets of LAYOUTS) {
  attack(`media: ping flood (${FLOOD_PINGS} pings at once, ${mediaSockets}-owned sockets)`, async (probe) => {
    const s = stacks.get(mediaSockets)!;
    const floodsBefore = s.gateway.front.counters.mediaClosedForAbuse.flood ?? 0;
    const { callId, ws, pongs } = await openStream(s, `pingflood-${mediaSockets}`);
    const closing = closedWithin(ws, 3_000);
    for (let i = 0; i < FLOOD_PINGS && ws.readyState === ws.OPEN; i++) ws.ping(Buffer.alloc(125, 1));
    const closed = await closing;
    probe.goal(closed === null, 'the socket was still open 3 s into a ping flood');
    assert.equal(closed!.code, 1008, `closed ${closed!.code} (${closed!.reason})`);
    assert.match(closed!.reason, /TTMA_ERR_MEDIA_FLOOD/);
    probe.note(`${pongs()} pongs back for ${FLOOD_PINGS} pings`);
    assert.ok(pongs() < 1_000, `${pongs()} pongs: about the frame bucket's burst, not one per ping`);
    await waitFor('the flooding call to end, counted as closed for abuse', () => !isLive(s, callId) && (s.gateway.front.counters.mediaClosedForAbuse.flood ?? 0) === floodsBefore + 1);
    await waitFor('the call to be hung up through the platform', () => s.tap.hangups.has(callId));
  });

  test(`a few pings, among the media frames, close nothing (${mediaSockets}-owned sockets)`, async () => {
    const s = stacks.get(mediaSockets)!;
    const { callId, ws, pongs } = await openStream(s, `pings-${mediaSockets}`);
    for (let i = 0; i < 20; i++) {
      ws.ping();
      ws.send(s.mediaFrame(i));
      await sleep(20);
    }
    assert.equal(await closedWithin(ws, 500), null, 'the socket stays open');
    assert.equal(pongs(), 20);
    assert.ok(isLive(s, callId));
    ws.terminate();
    await s.hangup(callId);
    await waitFor(`${callId} to end`, () => !isLive(s, callId));
  });
}
