/**
 * A realtime session the server ends mid-call (a hosted session's length
 * limit, a local server restarting) is opened again: the new session gets
 * the same settings, the conversation so far as text items (the agent's and
 * the caller's final transcripts, oldest first), no `response.create` (the
 * model waits for the caller), and the caller's audio. A session that ends
 * while the model says goodbye is not reopened; a server that stays away
 * ends the call after playout. A real `ws` server on loopback.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentEvent } from '../../src/agent/AgentAdapter.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { realtimeTestConfig } from './servers.js';

const CALL = { callId: 'v3:rt-reconnect', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };
const RECONNECT = { delaysMs: [50, 100], deadlineMs: 800 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A realtime server: answers session.update, records every JSON message per session. */
class Server {
  readonly wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  readonly sessions: Array<{ ws: WebSocket; messages: Array<Record<string, unknown>>; appends: number }> = [];

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.wss.once('listening', () => resolve()));
    this.wss.on('connection', (ws) => {
      const session = { ws, messages: [] as Array<Record<string, unknown>>, appends: 0 };
      this.sessions.push(session);
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        if (msg['type'] === 'input_audio_buffer.append') return void session.appends++;
        session.messages.push(msg);
        if (msg['type'] === 'session.update') ws.send(JSON.stringify({ type: 'session.updated' }));
      });
    });
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  send(msg: Record<string, unknown>): void {
    this.sessions.at(-1)!.ws.send(JSON.stringify(msg));
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

async function until(what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function opened(server: Server): Promise<{ agent: RealtimeAgent; events: AgentEvent[] }> {
  const url = await server.start();
  const events: AgentEvent[] = [];
  const agent = new RealtimeAgent(realtimeTestConfig(url), null, { reconnect: RECONNECT });
  await agent.open(CALL, { audio: () => undefined, event: (e) => events.push(e) });
  agent.callStarted();
  return { agent, events };
}

const hangups = (events: AgentEvent[]) => events.filter((e) => e.type === 'hangup.request');

test('realtime: a session the server ends is opened again with the conversation so far, and the model waits for the caller', async () => {
  const server = new Server();
  const { agent, events } = await opened(server);
  try {
    await until('the greeting response', () => server.sessions[0]!.messages.some((m) => m['type'] === 'response.create'));
    server.send({ type: 'response.output_audio_transcript.done', transcript: 'Hello, how can I help?' });
    server.send({ type: 'conversation.item.input_audio_transcription.completed', transcript: 'I need to move my appointment.' });
    server.send({ type: 'response.output_audio_transcript.done', transcript: 'Sure, to which day?' });
    await until('the transcripts', () => events.filter((e) => e.type === 'transcript').length === 3);
    // The hosted limit: an error event, then the server closes (1000, as OpenAI does).
    server.send({ type: 'error', error: { code: 'session_expired', message: 'Your session hit the maximum duration of 60 minutes.' } });
    server.sessions[0]!.ws.close(1000, 'session expired');
    await until('a second session', () => server.sessions.length === 2 && server.sessions[1]!.messages.filter((m) => m['type'] === 'conversation.item.create').length === 3);
    const second = server.sessions[1]!;
    assert.equal(second.messages[0]!['type'], 'session.update', 'the same settings first');
    const audio = (second.messages[0]!['session'] as { audio: { input: { transcription: unknown } } }).audio;
    assert.equal(audio.input.transcription, null, 'no caller transcription unless the operator names a model');
    const items = second.messages.filter((m) => m['type'] === 'conversation.item.create').map((m) => m['item'] as { role: string; content: Array<{ type: string; text: string }> });
    assert.deepEqual(
      items.map((i) => [i.role, i.content[0]!.type, i.content[0]!.text]),
      [
        ['assistant', 'output_text', 'Hello, how can I help?'],
        ['user', 'input_text', 'I need to move my appointment.'],
        ['assistant', 'output_text', 'Sure, to which day?'],
      ],
    );
    agent.pushAudio(new Int16Array(480));
    await until('caller audio in the new session', () => second.appends === 1);
    await sleep(100);
    assert.equal(second.messages.filter((m) => m['type'] === 'response.create').length, 0, 'the model waits for the caller');
    assert.equal(agent.reconnects, 1);
    assert.deepEqual(hangups(events), []);
  } finally {
    agent.close();
    await server.stop();
  }
});

test('realtime: a session that ends while the model says goodbye is not reopened; a server that stays away ends the call', async () => {
  const farewell = new Server();
  const a = await opened(farewell);
  try {
    farewell.send({ type: 'response.function_call_arguments.done', name: 'end_call', call_id: 'c1', arguments: JSON.stringify({ reason: 'done' }) });
    await until('the tool output', () => farewell.sessions[0]!.messages.some((m) => m['type'] === 'conversation.item.create'));
    farewell.sessions[0]!.ws.close(1000);
    await until('the hang-up', () => hangups(a.events).length === 1);
    assert.deepEqual(hangups(a.events)[0], { type: 'hangup.request', reason: 'done', afterPlayout: true });
    await sleep(300);
    assert.equal(farewell.sessions.length, 1, 'not reopened');
  } finally {
    a.agent.close();
    await farewell.stop();
  }

  const gone = new Server();
  const b = await opened(gone);
  const lostAt = performance.now();
  await gone.stop();
  try {
    await until('the hang-up', () => hangups(b.events).length === 1, 3_000);
    const tookMs = performance.now() - lostAt;
    assert.ok(tookMs >= RECONNECT.deadlineMs - 150 && tookMs < RECONNECT.deadlineMs + 600, `hung up ${tookMs.toFixed(0)} ms after the loss`);
    assert.match((hangups(b.events)[0] as { reason: string }).reason, /realtime session ended by the server \(close 1006\); not back within 1 s/);
  } finally {
    b.agent.close();
  }
});
