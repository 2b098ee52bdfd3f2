/**
 * The ws adapter's audio both ways, against a real `ws` server on loopback:
 * the agent's PCM cut into chunks of any byte length (odd ones included)
 * arrives as the same samples; caller audio to an agent that stops reading
 * is dropped past a bound.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { WsAgent } from '../../src/agent/WsAgent.js';

const CALL = { callId: 'v3:audio', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };

async function agentServer(onReady: (ws: WebSocket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && String(data).includes('"hello"')) {
        ws.send(JSON.stringify({ type: 'ready', sample_rate: 16_000 }));
        onReady(ws);
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

test('agent audio in chunks of odd byte lengths arrives as the same samples, none shifted', async () => {
  const sent = new Int16Array(1_000);
  for (let i = 0; i < sent.length; i++) sent[i] = i * 31 - 15_000;
  const bytes = Buffer.from(sent.buffer);
  const server = await agentServer((ws) => {
    // 3, 5, 7... bytes: most chunks end mid-sample.
    for (let at = 0, size = 3; at < bytes.length; at += size, size += 2) ws.send(bytes.subarray(at, at + size), { binary: true });
  });
  const got: number[] = [];
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await agent.open(CALL, { audio: (pcm) => got.push(...pcm), event() {} });
    for (let i = 0; i < 200 && got.length < sent.length; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(got, [...sent]);
  } finally {
    agent.close();
    await server.close();
  }
});

test('caller audio to an agent that stops reading is dropped past the bound, counted and logged, not buffered without end', async () => {
  let paused: WebSocket | null = null;
  const server = await agentServer((ws) => {
    // The agent stops reading its socket (it may well go on talking, so the liveness check keeps it).
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    paused = ws;
  });
  const events: string[] = [];
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await agent.open(CALL, { audio() {}, event: (e) => events.push(e.type === 'error' ? e.message : e.type) });
    const frame = new Int16Array(320); // 20 ms at 16 kHz: 640 bytes
    // Up to 32 MB offered: more than the kernel's loopback buffers and the bound together.
    for (let i = 0; i < 50_000 && agent.callerFramesDropped === 0; i++) {
      agent.pushAudio(frame);
      if (i % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(agent.callerFramesDropped > 0, 'frames were dropped once the backlog passed the bound');
    assert.deepEqual(events, ['ws agent is not reading: caller audio dropped until it does']);
    for (let i = 0; i < 100; i++) agent.pushAudio(frame);
    assert.ok(agent.callerFramesDropped >= 101, 'every frame past the bound is dropped');
    assert.equal(events.length, 1, 'logged once per stretch');
    // It reads again: the backlog drains and caller audio flows, with one line saying how much was lost.
    (paused! as unknown as { _socket: import('node:net').Socket })._socket.resume();
    for (let i = 0; i < 300 && events.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      agent.pushAudio(frame);
    }
    assert.match(events[1] ?? '', /^ws agent reading again: \d+ caller frames were dropped$/);
  } finally {
    agent.close();
    await server.close();
  }
});
