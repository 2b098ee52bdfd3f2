/**
 * Agent input that is valid JSON but not an object (`null`, a number, a
 * string, an array) is a protocol error for that session, never a throw: a
 * throw in a socket listener ends the media worker with every call on it.
 * Real `ws` and HTTP servers on loopback send such text, then a valid message
 * that must still be handled.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentEvent } from '../../src/agent/AgentAdapter.js';
import { chatOnce } from '../../src/agent/openAiHttp.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { WsAgent } from '../../src/agent/WsAgent.js';
import { realtimeTestConfig } from './servers.js';

const NOT_OBJECTS = ['null', '5', '"text"', '[1]', '[]', 'true'];
const CALL = { callId: 'v3:json', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };

/** A server that answers the adapter's opening message, then sends `script` (raw text frames). */
async function agentServer(kind: 'realtime' | 'ws', script: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      const opened =
        (kind === 'realtime' && msg['type'] === 'session.update' && (ws.send(JSON.stringify({ type: 'session.updated' })), true)) ||
        (kind === 'ws' && msg['type'] === 'hello' && (ws.send(JSON.stringify({ type: 'ready', sample_rate: 16_000 })), true));
      if (opened) setTimeout(() => script.forEach((text) => ws.send(text)), 20);
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

async function until(events: AgentEvent[], pred: (e: AgentEvent) => boolean, what: string): Promise<AgentEvent> {
  for (let i = 0; i < 200; i++) {
    const hit = events.find(pred);
    if (hit) return hit;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no ${what} within 2 s; events: ${JSON.stringify(events)}`);
}

test('ws: null, a number, a string or an array from the agent is one error event each; the session goes on', async () => {
  const server = await agentServer('ws', [...NOT_OBJECTS, JSON.stringify({ type: 'hangup', reason: 'bye' })]);
  const events: AgentEvent[] = [];
  const agent = new WsAgent({ url: server.url, token: '' });
  try {
    await agent.open(CALL, { audio() {}, event: (e) => events.push(e) });
    const hangup = await until(events, (e) => e.type === 'hangup.request', 'hang-up');
    assert.deepEqual(hangup, { type: 'hangup.request', reason: 'bye', afterPlayout: true });
    const errors = events.filter((e) => e.type === 'error');
    assert.equal(errors.length, NOT_OBJECTS.length, JSON.stringify(errors));
    for (const e of errors) assert.match((e as { message: string }).message, /not a JSON object/);
  } finally {
    agent.close();
    await server.close();
  }
});

test('realtime: non-object server events are errors; end_call with arguments "null" or "[1]" still ends the call', async () => {
  const toolCall = (args: string, id: string) =>
    JSON.stringify({ type: 'response.function_call_arguments.done', name: 'end_call', call_id: id, arguments: args });
  const server = await agentServer('realtime', [
    ...NOT_OBJECTS,
    toolCall('null', 'c1'),
    toolCall('[1]', 'c2'),
    JSON.stringify({ type: 'response.done', response: null }),
  ]);
  const events: AgentEvent[] = [];
  const agent = new RealtimeAgent(realtimeTestConfig(server.url));
  try {
    await agent.open(CALL, { audio() {}, event: (e) => events.push(e) });
    const hangup = await until(events, (e) => e.type === 'hangup.request', 'hang-up');
    assert.deepEqual(hangup, { type: 'hangup.request', reason: 'agent ended the call', afterPlayout: true });
    assert.equal(events.filter((e) => e.type === 'error').length, NOT_OBJECTS.length);
  } finally {
    agent.close();
    await server.close();
  }
});

test('openclaw chat: an SSE line of `null` or `[]` is skipped, the reply is read on', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const data of ['null', '[]', '{"choices":null}', '{"choices":[null]}', '{"choices":[{"delta":{"content":"hello"}}]}', '[DONE]']) res.write(`data: ${data}\n\n`);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const { port } = server.address() as AddressInfo;
    const reply = await chatOnce({ baseUrl: `http://127.0.0.1:${port}`, token: '', agentId: 'main' }, 'ttma:x', 'hi', AbortSignal.timeout(5_000));
    assert.equal(reply, 'hello');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
