/**
 * Which OpenClaw session a call's turns go to (src/agent/sessionKey.ts), as
 * the real adapters send it to a real OpenClaw-compatible server: the far
 * party's number on incoming and outgoing calls alike, in both the openclaw
 * adapter and realtime's consult_agent; a session of its own for a call
 * whose far number is withheld (not E.164).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AgentCall, AgentSink } from '../../src/agent/AgentAdapter.js';
import { OpenClawAgent } from '../../src/agent/OpenClawAgent.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { openClawSessionKey } from '../../src/agent/sessionKey.js';
import { OpenClawTestServer, RealtimeTestServer, realtimeTestConfig, sleep } from './servers.js';

const OURS = '+15550100000';
const sink: AgentSink = { audio() {}, event() {} };
let openclaw: OpenClawTestServer;
let base: string;

before(async () => {
  openclaw = new OpenClawTestServer();
  base = await openclaw.start();
});

after(async () => {
  await openclaw.stop();
});

/** The session keys of the chat requests made while `run` ran (header and `user` must agree). */
async function keysOf(run: () => Promise<void>): Promise<string[]> {
  const from = openclaw.chats().length;
  await run();
  return openclaw.chats().slice(from).map((r) => {
    const header = String(r.headers['x-openclaw-session-key']);
    assert.equal(JSON.parse(r.body.toString()).user, header);
    return header;
  });
}

function openclawAgent(session: 'caller' | 'call' = 'caller'): OpenClawAgent {
  const endpoint = { baseUrl: base, token: 'oc-gateway-token' };
  return new OpenClawAgent({
    kind: 'openclaw',
    chat: { ...endpoint, agentId: 'main' },
    stt: { ...endpoint, model: 'w' },
    tts: { ...endpoint, model: 't', voice: 'a' },
    session,
    greeting: '',
    bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 },
    turnEndMs: 600,
  });
}

/** One openclaw call: a key press is a text turn, which goes to chat. */
async function openclawTurn(call: AgentCall, session: 'caller' | 'call' = 'caller'): Promise<void> {
  const agent = openclawAgent(session);
  await agent.open(call, sink);
  const before = openclaw.chats().length;
  agent.pushDtmf('1');
  for (let i = 0; i < 200 && openclaw.chats().length === before; i++) await sleep(10);
  agent.close();
}

describe('OpenClaw session keys', () => {
  it('realtime consult_agent on outgoing calls: the callee, so two callees get two sessions', async () => {
    const realtime = new RealtimeTestServer();
    const url = await realtime.start();
    try {
      const keys = await keysOf(async () => {
        let index = 0;
        for (const to of ['+15550001111', '+15550002222']) {
          const agent = new RealtimeAgent({ ...realtimeTestConfig(url), consult: { baseUrl: base, token: 'oc-gateway-token', agentId: 'main' } });
          await agent.open({ callId: `out-${to}`, from: OURS, to, direction: 'outgoing' }, sink);
          const conn = await realtime.connection(index++);
          const chats = openclaw.chats().length;
          conn.send({ type: 'response.function_call_arguments.done', name: 'consult_agent', call_id: 'c1', arguments: '{"question":"what did I order?"}' });
          await conn.inbox.waitFor((m) => m['type'] === 'conversation.item.create', 'the consult answer', 3_000);
          assert.equal(openclaw.chats().length, chats + 1);
          agent.close();
        }
      });
      assert.deepEqual(keys, ['ttma:+15550001111', 'ttma:+15550002222']);
    } finally {
      await realtime.stop();
    }
  });

  it('realtime consult_agent on an incoming call: the caller', async () => {
    const realtime = new RealtimeTestServer();
    const url = await realtime.start();
    try {
      const keys = await keysOf(async () => {
        const agent = new RealtimeAgent({ ...realtimeTestConfig(url), consult: { baseUrl: base, token: 'oc-gateway-token', agentId: 'main' } });
        await agent.open({ callId: 'in-1', from: '+15550003333', to: OURS, direction: 'incoming' }, sink);
        const conn = await realtime.connection(0);
        conn.send({ type: 'response.function_call_arguments.done', name: 'consult_agent', call_id: 'c1', arguments: '{"question":"hi"}' });
        await conn.inbox.waitFor((m) => m['type'] === 'conversation.item.create', 'the consult answer', 3_000);
        agent.close();
      });
      assert.deepEqual(keys, ['ttma:+15550003333']);
    } finally {
      await realtime.stop();
    }
  });

  it('openclaw: the far party both ways; withheld callers each get their own session', async () => {
    const keys = await keysOf(async () => {
      await openclawTurn({ callId: 'in-a', from: '+15550004444', to: OURS, direction: 'incoming' });
      await openclawTurn({ callId: 'out-a', from: OURS, to: '+15550005555', direction: 'outgoing' });
      await openclawTurn({ callId: 'in-anon-1', from: 'anonymous', to: OURS, direction: 'incoming' });
      await openclawTurn({ callId: 'in-anon-2', from: 'anonymous', to: OURS, direction: 'incoming' });
      await openclawTurn({ callId: 'in-restricted', from: 'restricted', to: OURS, direction: 'incoming' });
      await openclawTurn({ callId: 'in-empty', from: '', to: OURS, direction: 'incoming' });
      await openclawTurn({ callId: 'in-per-call', from: '+15550004444', to: OURS, direction: 'incoming' }, 'call');
    });
    assert.deepEqual(keys, [
      'ttma:+15550004444',
      'ttma:+15550005555',
      'ttma:call:in-anon-1',
      'ttma:call:in-anon-2',
      'ttma:call:in-restricted',
      'ttma:call:in-empty',
      'ttma:call:in-per-call',
    ]);
  });

  it('realtime consult_agent for a withheld caller: a session of its own', () => {
    // The same helper both adapters use; the end-to-end path is the first test's.
    assert.equal(openClawSessionKey({ callId: 'x1', from: 'anonymous', to: OURS, direction: 'incoming' }), 'ttma:call:x1');
    assert.equal(openClawSessionKey({ callId: 'x2', from: '5550001111', to: OURS, direction: 'incoming' }), 'ttma:call:x2', 'no +: not E.164');
    assert.equal(openClawSessionKey({ callId: 'x3', from: OURS, to: 'sip:alice@example.com', direction: 'outgoing' }), 'ttma:call:x3');
  });
});
