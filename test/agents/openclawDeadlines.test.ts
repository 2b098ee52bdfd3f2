/**
 * The openclaw adapter against endpoints that accept the connection and never
 * answer (docs/agents.md, "An agent that stops answering"): its open() gives
 * up after 5 s as the ws and realtime adapters' do, close() ends its
 * requests at once, and speech to text, chat and speech each have a deadline
 * during the call. Real servers on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AgentEvent, AgentSink } from '../../src/agent/AgentAdapter.js';
import type { AgentConfig } from '../../src/agent/agentConfig.js';
import { OpenClawAgent } from '../../src/agent/OpenClawAgent.js';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { sleep, tone } from './servers.js';

const CALL = { callId: 'c1', from: '+15550001111', to: '+15550100000', direction: 'incoming' as const };

function config(base: string, greeting = ''): Extract<AgentConfig, { kind: 'openclaw' }> {
  return {
    kind: 'openclaw',
    chat: { baseUrl: base, token: '', agentId: 'main' },
    stt: { baseUrl: base, token: '', model: 'w' },
    tts: { baseUrl: base, token: '', model: 't', voice: 'a' },
    session: 'caller',
    greeting,
    bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 },
    turnEndMs: 300,
  };
}

/** A sink that keeps the adapter's error events. */
function recordingSink(): AgentSink & { errors: string[] } {
  const errors: string[] = [];
  return { errors, audio() {}, event: (e: AgentEvent) => void (e.type === 'error' && errors.push(e.message)) };
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('openclaw: an endpoint that accepts and never answers', () => {
  /** Accepts TCP connections and answers nothing (it reads and drops, so it sees the client close); counts the ones the client closed. */
  let hung: ReturnType<typeof createTcpServer>;
  let hungBase = '';
  const sockets: Socket[] = [];
  let closedByClient = 0;

  before(async () => {
    hung = createTcpServer((socket) => {
      sockets.push(socket);
      socket.resume();
      socket.on('close', () => closedByClient++);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    hungBase = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  it('open() fails after 5 s, like the ws and realtime adapters, naming the endpoint', async () => {
    const agent = new OpenClawAgent(config(hungBase));
    const started = performance.now();
    const outcome = await Promise.race([
      agent.open(CALL, recordingSink()).then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      sleep(8_000).then(() => 'still pending after 8 s'),
    ]);
    const elapsed = performance.now() - started;
    agent.close();
    assert.ok(isTtmaError(outcome, ErrorCodes.AGENT_CONNECT), String(outcome));
    assert.match((outcome as Error).message, new RegExp(`agent endpoint ${hungBase} did not answer its warm-up within 5000 ms`));
    assert.ok(elapsed >= 4_900 && elapsed < 6_500, `gave up after ${elapsed.toFixed(0)} ms`);
  });

  it('close() during open() ends the warm-up requests at once', async () => {
    const agent = new OpenClawAgent(config(hungBase));
    const connected = sockets.length;
    const opening = agent.open(CALL, recordingSink()).then(
      () => 'resolved',
      () => 'rejected',
    );
    await until('the warm-up connections', () => sockets.length >= connected + 1, 2_000);
    const closedBefore = closedByClient;
    const at = performance.now();
    agent.close();
    const outcome = await Promise.race([opening, sleep(2_000).then(() => 'still pending 2 s after close')]);
    assert.equal(outcome, 'rejected');
    await until('the client to close its sockets', () => closedByClient > closedBefore, 2_000);
    assert.ok(performance.now() - at < 1_000);
  });
});

describe('openclaw: deadlines during the call', () => {
  /** Answers the warm-up; every other path is held unanswered (until the client gives up). */
  let server: Server;
  let base = '';
  const held: Array<{ path: string; res: ServerResponse; closedAt: number | null }> = [];

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
        return;
      }
      const entry = { path: req.url ?? '', res, closedAt: null as number | null };
      held.push(entry);
      res.on('close', () => (entry.closedAt = performance.now()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const short = { chatIdleMs: 300, sttMs: 300, ttsIdleMs: 300 };

  it('a chat turn that never answers is given up, with a clear error', async () => {
    const sink = recordingSink();
    const agent = new OpenClawAgent(config(base), { deadlines: short });
    await agent.open(CALL, sink);
    agent.pushDtmf('1');
    await until('the chat error', () => sink.errors.length > 0, 3_000);
    agent.close();
    assert.deepEqual(sink.errors, ['chat completions: no answer within 300 ms']);
    await until('the chat request closed', () => held.some((h) => h.path === '/v1/chat/completions' && h.closedAt !== null), 2_000);
  });

  it('speech to text that never answers is given up', async () => {
    const sink = recordingSink();
    const agent = new OpenClawAgent(config(base), { deadlines: short });
    await agent.open(CALL, sink);
    agent.callStarted();
    // A caller turn: 600 ms of tone, then quiet past the turn's end.
    const speech = tone(24_000, 600);
    for (let at = 0; at < speech.length; at += 480) agent.pushAudio(speech.subarray(at, at + 480));
    for (let i = 0; i < 30; i++) agent.pushAudio(new Int16Array(480));
    await until('the speech-to-text error', () => sink.errors.length > 0, 3_000);
    agent.close();
    assert.deepEqual(sink.errors, ['speech to text: no answer within 300 ms']);
  });

  it('speech that never arrives (the greeting) is given up', async () => {
    const sink = recordingSink();
    const agent = new OpenClawAgent(config(base, 'Hello, how can I help?'), { deadlines: short });
    await agent.open(CALL, sink);
    agent.callStarted();
    await until('the text-to-speech error', () => sink.errors.length > 0, 3_000);
    agent.close();
    assert.deepEqual(sink.errors, ['text to speech: no answer within 300 ms']);
  });

  it('close() ends a turn still waiting for its answer at once (default deadlines)', async () => {
    const sink = recordingSink();
    const agent = new OpenClawAgent(config(base));
    await agent.open(CALL, sink);
    const before = held.length;
    agent.pushDtmf('1');
    await until('the chat request', () => held.length > before, 2_000);
    const at = performance.now();
    agent.close();
    await until('the chat request closed', () => held[before]!.closedAt !== null, 2_000);
    assert.ok(held[before]!.closedAt! - at < 500);
    assert.deepEqual(sink.errors, [], 'an aborted turn is no error');
  });
});
