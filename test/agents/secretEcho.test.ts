/**
 * An agent server that echoes our credentials back in its errors (a
 * misconfigured proxy, a hostile endpoint) must not get them into our error
 * messages, which reach logs and, for consult_agent, the model itself.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { streamChat, synthesize, transcribe } from '../../src/agent/openAiHttp.js';
import { realtimeTestConfig } from './servers.js';

const TOKEN = 'oc-token-must-not-leak-5c1f';
const KEY = 'rt-key-must-not-leak-9a7e';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('HTTP agent endpoints: a refusal quoting our bearer token is redacted', async () => {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(401, { 'content-type': 'text/plain' }).end(`invalid credentials: ${req.headers.authorization ?? ''}`);
  });
  const port = await listen(server);
  const endpoint = { baseUrl: `http://127.0.0.1:${port}`, token: TOKEN };
  const signal = new AbortController().signal;
  try {
    const attempts: Array<() => Promise<unknown>> = [
      async () => {
        for await (const delta of streamChat({ ...endpoint, agentId: 'main' }, 'session', 'hello', signal)) void delta;
      },
      () => transcribe({ ...endpoint, model: 'stt' }, new Int16Array(160), 16000, signal),
      () => synthesize({ ...endpoint, model: 'tts', voice: 'v' }, 'hello', signal, () => undefined),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt, (err: Error) => {
        assert.match(err.message, /answered 401/);
        assert.ok(!err.message.includes(TOKEN), err.message);
        assert.match(err.message, /\[redacted\]/, 'the echo was there, and was taken out');
        return true;
      });
    }
  } finally {
    server.close();
  }
});

test('realtime: a server error event quoting our API key is redacted', async () => {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    socket.send(JSON.stringify({ type: 'error', error: { message: `bad key: ${req.headers.authorization ?? ''}` } }));
  });
  const port = await listen(server);
  const agent = new RealtimeAgent({ ...realtimeTestConfig(`ws://127.0.0.1:${port}/v1/realtime`), apiKey: KEY });
  try {
    await assert.rejects(
      agent.open({ callId: 'c', from: '+15550100001', to: '+15550100000', direction: 'incoming' }, { audio: () => undefined, event: () => undefined }),
      (err: Error) => {
        assert.match(err.message, /refused the session/);
        assert.ok(!err.message.includes(KEY), err.message);
        assert.match(err.message, /\[redacted\]/);
        return true;
      },
    );
  } finally {
    agent.close();
    wss.close();
    server.close();
  }
});
