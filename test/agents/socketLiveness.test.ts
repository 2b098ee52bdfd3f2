/**
 * An agent server that stops answering (hung, or the path to it half-open)
 * never closes its socket: the call would sit in silence. The realtime and ws
 * adapters ping it and drop a socket that answers nothing between two pings:
 * both connect again (and hang up after playout only if that fails:
 * test/agents/wsReconnect.test.ts, test/agents/realtimeReconnect.test.ts). A quiet server
 * that still answers pings is kept. Real `ws` servers on loopback; "stalled" stops reading the
 * TCP socket, so pings go unanswered and nothing is sent.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentEvent } from '../../src/agent/AgentAdapter.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { WsAgent } from '../../src/agent/WsAgent.js';
import { realtimeTestConfig } from './servers.js';

const PING_EVERY_MS = 150;
const CALL = { callId: 'v3:liveness', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server that answers the adapter's opening message, then keeps its socket for the test. */
async function agentServer(kind: 'realtime' | 'ws'): Promise<{ url: string; socket: Promise<WebSocket>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const socket = new Promise<WebSocket>((resolve) => {
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        if (kind === 'realtime' && msg['type'] === 'session.update') ws.send(JSON.stringify({ type: 'session.updated' }));
        if (kind === 'ws' && msg['type'] === 'hello') ws.send(JSON.stringify({ type: 'ready', sample_rate: 16_000 }));
      });
      resolve(ws);
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    socket,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function stall(ws: WebSocket): void {
  (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
}


for (const kind of ['realtime', 'ws'] as const) {
  test(`${kind}: a server that stops answering is dropped within two pings and connected again; a quiet one is kept`, async () => {
    const stalled = await agentServer(kind);
    const quiet = await agentServer(kind);
    const open = async (url: string) => {
      const events: AgentEvent[] = [];
      const agent = kind === 'realtime' ? new RealtimeAgent(realtimeTestConfig(url), null, { pingEveryMs: PING_EVERY_MS }) : new WsAgent({ url, token: '', pingEveryMs: PING_EVERY_MS });
      await agent.open(CALL, { audio: () => undefined, event: (e) => events.push(e) });
      return { agent, events };
    };
    const a = await open(stalled.url);
    const b = await open(quiet.url);
    try {
      const stalledAt = performance.now();
      stall(await stalled.socket);
      await quiet.socket; // connected, sends nothing from here on, but its ws answers pings
      // The drop is reported and the socket connected again (the server still takes new connections).
      const dropped = (e: AgentEvent) =>
        e.type === 'error' && e.message === (kind === 'realtime' ? 'realtime server stopped answering: opening the session again' : 'agent stopped answering: connecting again');
      let droppedAfterMs = -1;
      for (let waited = 0; waited < 20 * PING_EVERY_MS && droppedAfterMs < 0; waited += 10) {
        if (a.events.some(dropped)) droppedAfterMs = performance.now() - stalledAt;
        else await sleep(10);
      }
      assert.ok(droppedAfterMs >= 0, 'the stalled server was dropped');
      assert.ok(droppedAfterMs <= 3 * PING_EVERY_MS, `dropped ${droppedAfterMs.toFixed(0)} ms after it stalled (pings every ${PING_EVERY_MS} ms)`);
      for (let waited = 0; waited < 40 && a.agent.reconnects === 0; waited++) await sleep(50);
      assert.equal(a.agent.reconnects, 1, 'connected again');
      assert.deepEqual(a.events.filter((e) => e.type === 'hangup.request'), [], 'no hang-up');
      await sleep(6 * PING_EVERY_MS);
      assert.deepEqual(b.events.filter((e) => e.type === 'hangup.request'), [], 'a quiet server that answers pings is kept');
    } finally {
      a.agent.close();
      b.agent.close();
      await stalled.close();
      await quiet.close();
    }
  });
}
