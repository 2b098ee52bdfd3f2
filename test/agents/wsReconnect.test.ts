/**
 * A ws agent server that restarts (closing its sockets with 1001 or 1012, or
 * dropping them) does not end the calls: the adapter connects again, says
 * `resumed` in `hello`, offers only the rate it had, and sends `start` again.
 * A close with 1000 is the agent hanging up; a server that does not come back
 * in time, or comes back at another rate, ends the call after playout. Real
 * `ws` servers on loopback, the same port across a restart.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentEvent } from '../../src/agent/AgentAdapter.js';
import { WsAgent } from '../../src/agent/WsAgent.js';

const CALL = { callId: 'v3:ws-reconnect', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };
/** Shortened: reconnect after 50 ms, then every 100 ms, until 800 ms after the loss. */
const RECONNECT = { delaysMs: [50, 100], deadlineMs: 800 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An agent server: answers hello with ready at `rate`, records every JSON message and caller audio bytes per connection. */
class AgentServer {
  wss: WebSocketServer | null = null;
  port = 0;
  rate = 16_000;
  readonly connections: Array<{ ws: WebSocket; messages: Array<Record<string, unknown>>; audioBytes: number }> = [];

  async start(port = 0): Promise<string> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    this.wss = wss;
    this.port = (wss.address() as AddressInfo).port;
    wss.on('connection', (ws) => {
      const conn = { ws, messages: [] as Array<Record<string, unknown>>, audioBytes: 0 };
      this.connections.push(conn);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          conn.audioBytes += data.length;
          return;
        }
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        conn.messages.push(msg);
        if (msg['type'] === 'hello') ws.send(JSON.stringify({ type: 'ready', sample_rate: this.rate }));
      });
    });
    return `ws://127.0.0.1:${this.port}`;
  }

  async stop(code?: number): Promise<void> {
    const wss = this.wss;
    if (!wss) return;
    this.wss = null;
    for (const client of wss.clients) code === undefined ? client.terminate() : client.close(code, 'server restarting');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  last(): AgentServer['connections'][number] {
    return this.connections.at(-1)!;
  }
}

async function openAgent(url: string): Promise<{ agent: WsAgent; events: AgentEvent[] }> {
  const events: AgentEvent[] = [];
  const agent = new WsAgent({ url, token: '', reconnect: RECONNECT });
  await agent.open(CALL, { audio: () => undefined, event: (e) => events.push(e) });
  agent.callStarted();
  return { agent, events };
}

async function until(what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const hangups = (events: AgentEvent[]) => events.filter((e) => e.type === 'hangup.request');

for (const [how, code] of [['closes with 1001 (going away)', 1001], ['closes with 1012 (service restart)', 1012], ['drops its sockets', undefined]] as const) {
  test(`ws: an agent server that ${how} and comes back: the call goes on with a resumed session`, async () => {
    const server = new AgentServer();
    const url = await server.start();
    const { agent, events } = await openAgent(url);
    try {
      assert.equal(server.last().messages[0]!['call'] !== undefined && (server.last().messages[0]!['call'] as Record<string, unknown>)['resumed'], undefined);
      await server.stop(code);
      await sleep(120);
      await server.start(server.port);
      await until('a new connection', () => server.connections.length === 2);
      await until('start again', () => server.last().messages.some((m) => m['type'] === 'start'));
      const hello = server.last().messages[0]!;
      assert.equal(hello['type'], 'hello');
      assert.equal((hello['call'] as Record<string, unknown>)['id'], CALL.callId);
      assert.equal((hello['call'] as Record<string, unknown>)['resumed'], true);
      assert.deepEqual(hello['sample_rates'], [16_000], 'only the rate the call has');
      agent.pushAudio(new Int16Array(320));
      await until('caller audio on the new socket', () => server.last().audioBytes === 640);
      assert.equal(agent.reconnects, 1);
      assert.deepEqual(hangups(events), []);
      assert.ok(events.some((e) => e.type === 'error' && e.message.includes('connected again')), 'logged');
    } finally {
      agent.close();
      await server.stop();
    }
  });
}

test('ws: a close with 1000 is the agent hanging up: no reconnect', async () => {
  const server = new AgentServer();
  const url = await server.start();
  const { agent, events } = await openAgent(url);
  try {
    server.last().ws.close(1000, 'bye');
    await until('the hang-up', () => hangups(events).length === 1);
    assert.deepEqual(hangups(events)[0], { type: 'hangup.request', reason: 'agent disconnected', afterPlayout: true });
    await sleep(300);
    assert.equal(server.connections.length, 1, 'not connected again');
  } finally {
    agent.close();
    await server.stop();
  }
});

test('ws: a server that does not come back within the deadline, or comes back at another rate, ends the call after playout', async () => {
  for (const comesBackAt of [null, 24_000] as const) {
    const server = new AgentServer();
    const url = await server.start();
    const { agent, events } = await openAgent(url);
    try {
      const lostAt = performance.now();
      await server.stop(1001);
      if (comesBackAt !== null) {
        server.rate = comesBackAt;
        await server.start(server.port);
      }
      await until('the hang-up', () => hangups(events).length === 1, 3_000);
      const tookMs = performance.now() - lostAt;
      assert.ok(tookMs >= RECONNECT.deadlineMs - 150 && tookMs < RECONNECT.deadlineMs + 600, `hung up ${tookMs.toFixed(0)} ms after the loss`);
      const hangup = hangups(events)[0] as Extract<AgentEvent, { type: 'hangup.request' }>;
      assert.equal(hangup.afterPlayout, true);
      assert.match(hangup.reason, /agent socket lost \(close 1001\); not back within 1 s/);
      assert.equal(agent.reconnects, 0);
      if (comesBackAt !== null) assert.ok(server.connections.length >= 2, 'it tried, and refused the other rate');
    } finally {
      agent.close();
      await server.stop();
    }
  }
});
