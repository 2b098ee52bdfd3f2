/**
 * What a custom ws agent is told, and what the gateway logs, when the agent
 * gets the protocol wrong (found by writing an agent from the docs alone,
 * docs/decisions.md, twenty-fourth session):
 * - a bad handshake (a rate not offered, audio before `ready`) is closed with
 *   1002 and a reason, not cut (the agent saw 1006 and nothing else), and the
 *   gateway's "agent failed to open" line names the error code the docs point at;
 * - a message over 1 MiB is named in the reconnect's log line (it said
 *   "close 1006", as for a dropped socket);
 * - an unknown message type is named in the log line.
 * Real `ws` servers on loopback; the last test runs the whole stack.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentEvent } from '../../src/agent/AgentAdapter.js';
import { WsAgent } from '../../src/agent/WsAgent.js';
import { createLogger } from '../../src/log.js';
import { withStack, waitFor } from '../helpers/stack.js';

const CALL = { callId: 'v3:ws-errors', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };
const RECONNECT = { delaysMs: [50, 100], deadlineMs: 800 };

interface Closed {
  code: number;
  reason: string;
}

/** A server whose answer to each `hello` is `onHello(ws, connection index)`; records how each socket closed. */
async function agentServer(onHello: (ws: WebSocket, index: number) => void): Promise<{ url: string; closes: Closed[]; hellos: Array<Record<string, unknown>>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const closes: Closed[] = [];
  const hellos: Array<Record<string, unknown>> = [];
  wss.on('connection', (ws: WebSocket) => {
    ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      if (msg['type'] === 'hello') {
        hellos.push(msg);
        onHello(ws, hellos.length - 1);
      }
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    closes,
    hellos,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const ready = (ws: WebSocket, rate = 16_000) => ws.send(JSON.stringify({ type: 'ready', sample_rate: rate }));

test('a ready at a rate not offered: open fails with TTMA_ERR_AGENT_PROTOCOL naming it, the agent gets 1002 and why', async () => {
  const server = await agentServer((ws) => ready(ws, 44_100));
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await assert.rejects(agent.open(CALL, { audio() {}, event() {} }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TTMA_ERR_AGENT_PROTOCOL');
      assert.match(err.message, /one of 16000, 24000, 8000>\}, got \{"type":"ready","sample_rate":44100\}/);
      return true;
    });
    await waitFor('the agent socket closed', () => server.closes.length === 1);
    assert.equal(server.closes[0]!.code, 1002, JSON.stringify(server.closes));
    assert.equal(server.closes[0]!.reason, 'expected {"type":"ready","sample_rate":<one of 16000, 24000, 8000>}');
  } finally {
    agent.close();
    await server.close();
  }
});

test('audio before ready: the agent gets 1002 "audio before \\"ready\\""', async () => {
  const server = await agentServer((ws) => ws.send(Buffer.alloc(640)));
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await assert.rejects(agent.open(CALL, { audio() {}, event() {} }), { code: 'TTMA_ERR_AGENT_PROTOCOL' });
    await waitFor('the agent socket closed', () => server.closes.length === 1);
    assert.deepEqual(server.closes[0], { code: 1002, reason: 'audio before "ready"' });
  } finally {
    agent.close();
    await server.close();
  }
});

test('a message over 1 MiB mid-call is named as such (1009), and the socket is connected again', async () => {
  const server = await agentServer((ws, index) => {
    ready(ws);
    if (index === 0) setTimeout(() => ws.send(Buffer.alloc((1 << 20) + 1)), 20);
  });
  const events: AgentEvent[] = [];
  const agent = new WsAgent({ url: server.url, token: '', reconnect: RECONNECT });
  try {
    await agent.open(CALL, { audio() {}, event: (e) => events.push(e) });
    await waitFor('the second hello', () => server.hellos.length === 2, 3_000);
    const errors = events.filter((e): e is Extract<AgentEvent, { type: 'error' }> => e.type === 'error').map((e) => e.message);
    assert.equal(errors[0], 'agent socket failed: a message over 1 MiB (closed with 1009): connecting again', JSON.stringify(errors));
    assert.equal(server.closes[0]?.code, 1009);
    assert.deepEqual((server.hellos[1]!['call'] as Record<string, unknown>)['resumed'], true);
  } finally {
    agent.close();
    await server.close();
  }
});

test('an unknown or missing message type is named in the error', async () => {
  const server = await agentServer((ws) => {
    ready(ws);
    setTimeout(() => {
      ws.send(JSON.stringify({ type: 'transfer_call', to: '+15550102222' }));
      ws.send(JSON.stringify({ kind: 'hangup' }));
      ws.send(JSON.stringify({ type: 7 }));
    }, 20);
  });
  const events: AgentEvent[] = [];
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await agent.open(CALL, { audio() {}, event: (e) => events.push(e) });
    await waitFor('three errors', () => events.filter((e) => e.type === 'error').length === 3);
    assert.deepEqual(
      events.filter((e): e is Extract<AgentEvent, { type: 'error' }> => e.type === 'error').map((e) => e.message),
      [
        'ws agent sent an unknown event type "transfer_call": ignored',
        'ws agent sent an unknown event type (no type): ignored',
        'ws agent sent an unknown event type (a number): ignored',
      ],
    );
  } finally {
    agent.close();
    await server.close();
  }
});

test('through the gateway: "agent failed to open" names TTMA_ERR_AGENT_PROTOCOL, and the agent hears 1002', async () => {
  const server = await agentServer((ws) => ready(ws, 44_100));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  try {
    await withStack({ agent: { kind: 'ws', url: server.url, token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } } }, { logger: createLogger('test', 'info', sink) }, async (stack) => {
      stack.sim.placeInboundCall({ from: '+15550109999', to: '+15550100000', durationMs: 3_000 });
      const failed = () => lines.map((l) => JSON.parse(l) as { msg?: string }).find((l) => l.msg?.startsWith('agent failed to open'));
      await waitFor('the open failure logged', () => failed() !== undefined);
      assert.match(failed()!.msg!, /^agent failed to open \(TTMA_ERR_AGENT_PROTOCOL\): ws agent must answer hello with .*got \{"type":"ready","sample_rate":44100\}$/);
      await waitFor('the agent socket closed', () => server.closes.length === 1);
      assert.equal(server.closes[0]!.code, 1002);
    });
  } finally {
    await server.close();
  }
});
