/**
 * A media worker asks the main thread to close a call's stream (`media.close`,
 * which ends the call) only for an actor it still carries: an actor ended while
 * its agent was connecting (its call moved to another worker, or ended) fails
 * that connection by closing it, and that failure is not the call's. A real
 * worker thread and a real `ws` agent server that never answers `hello`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { DEFAULT_BARGE_IN } from '../../src/agent/agentConfig.js';
import type { FromWorker } from '../../src/actors/messages.js';
import { WorkerHost } from '../../src/actors/WorkerHost.js';

test('an actor ended while its agent connects does not close the call\'s stream; one still carried does', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  let hellos = 0;
  wss.on('connection', (ws) => ws.on('message', (data) => (String(data).includes('"hello"') ? hellos++ : 0))); // never `ready`
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const messages: FromWorker[] = [];
  const host = new WorkerHost({
    index: 0,
    call: { mailboxFrames: 50, jitterMinDelayMs: 20, jitterMaxDelayMs: 200, greeting: null, hold: null },
    tickMs: 5,
    maxHeapMb: 128,
    tunnel: null,
    onMedia: () => {},
    onControl: (message) => messages.push(message),
  });
  try {
    await host.ready();
    const open = (slot: number) =>
      host.send({ type: 'call.open', slot, callId: `v3:moved-${slot}`, from: '+15550100001', to: '+15550100000', direction: 'incoming', agent: { kind: 'ws', url, token: '', bargeIn: DEFAULT_BARGE_IN }, bargeIn: DEFAULT_BARGE_IN });
    open(1);
    for (let i = 0; i < 200 && hellos < 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(hellos, 1, 'the agent is connecting');
    // The call moves away (its restarted stream landed on another worker): this actor ends, its agent closes mid-handshake.
    host.send({ type: 'call.end', slot: 1, reason: 'media stream moved to another worker' });
    for (let i = 0; i < 200 && !messages.some((m) => m.type === 'call.ended'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    // A call still carried whose agent fails does get its stream closed: the same path, as a control.
    open(2);
    for (let i = 0; i < 200 && hellos < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const client of wss.clients) client.terminate();
    for (let i = 0; i < 300 && !messages.some((m) => m.type === 'media.close' && m.slot === 2); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const closes = messages.filter((m) => m.type === 'media.close');
    assert.deepEqual(closes.map((m) => (m as { slot: number }).slot), [2], 'only the carried call\'s stream is closed');
  } finally {
    await host.close();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});
