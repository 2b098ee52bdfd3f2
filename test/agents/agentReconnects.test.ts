/**
 * The per-call budget across agent socket losses (agentReconnects.ts), for
 * both adapters that reconnect: a server that accepts each connection and
 * then breaks it at once gets at most MAX_QUICK_LOSSES connections, further
 * apart each time, then one `reconnect.stopped` and a hang-up after playout
 * naming the last reason; a socket that held long enough between losses
 * starts the count again, so a server that restarts now and then is still
 * connected again. Real `ws` servers on loopback; the schedule and the budget
 * shortened (a quick loss: within 300 ms of going live).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import type { AgentAdapter, AgentEvent } from '../../src/agent/AgentAdapter.js';
import { AgentReconnects, MAX_QUICK_LOSSES, QUICK_LOSS_MS } from '../../src/agent/agentReconnects.js';
import { RealtimeAgent } from '../../src/agent/RealtimeAgent.js';
import { WsAgent } from '../../src/agent/WsAgent.js';
import { realtimeTestConfig } from './servers.js';
import { loopbackWss } from '../helpers/loopbackWss.js';

const CALL = { callId: 'v3:agent-reconnects', from: '+15550100001', to: '+15550100000', direction: 'incoming' as const };
const RECONNECT = { delaysMs: [50, 200, 400], deadlineMs: 1_500, quickLossMs: 300 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Kind = 'ws' | 'realtime';
/** What the server does to connection `index` once it is live: close it (after `afterMs`), send more than the adapter takes, or keep it. */
type Breaks = (index: number) => { close: number } | 'oversize' | 'keep';

/** A ws or realtime server that answers the handshake, then breaks each connection as told; it records when each connected. */
class BreakingServer {
  readonly #server = loopbackWss();
  readonly #wss = this.#server.wss;
  readonly connectedAt: number[] = [];
  readonly sockets: WebSocket[] = [];

  constructor(kind: Kind, breaks: Breaks) {
    this.#wss.on('connection', (ws) => {
      const index = this.connectedAt.push(performance.now()) - 1;
      this.sockets.push(ws);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const type = (JSON.parse(data.toString()) as Record<string, unknown>)['type'];
        if (type !== (kind === 'ws' ? 'hello' : 'session.update')) return;
        ws.send(JSON.stringify(kind === 'ws' ? { type: 'ready', sample_rate: 16_000 } : { type: 'session.updated' }));
        const how = breaks(index);
        if (how === 'oversize') ws.send(Buffer.alloc(kind === 'ws' ? (1 << 20) + 1 : (4 << 20) + 1), { binary: kind === 'ws' });
        else if (how !== 'keep') setTimeout(() => ws.close(1011, 'crashed'), how.close).unref();
      });
    });
  }

  start(): Promise<string> {
    return this.#server.start();
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }
}

async function opened(kind: Kind, url: string): Promise<{ agent: AgentAdapter & { reconnects: number }; events: AgentEvent[] }> {
  const events: AgentEvent[] = [];
  const agent = kind === 'ws' ? new WsAgent({ url, token: '', reconnect: RECONNECT }) : new RealtimeAgent(realtimeTestConfig(url), null, { reconnect: RECONNECT });
  await agent.open(CALL, { audio: () => undefined, event: (e) => events.push(e) });
  agent.callStarted();
  return { agent, events };
}

async function until(what: string, check: () => boolean, ms = 4_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('the budget: quick losses in a row stop it at the third, the wait before reconnecting grows, a socket that held starts the count again', () => {
  let now = 0;
  const budget = new AgentReconnects({ delaysMs: [250, 1_000, 2_000], deadlineMs: 10_000 }, () => now);
  budget.live();
  now = 60_000; // a socket up a minute: a restart, not the agent
  assert.deepEqual(budget.lost('close 1012'), { reconnect: true, fromStep: 0 });
  budget.live();
  now += 500;
  assert.deepEqual(budget.lost('close 1011'), { reconnect: true, fromStep: 0 });
  budget.live();
  now += QUICK_LOSS_MS - 1;
  assert.deepEqual(budget.lost('close 1011'), { reconnect: true, fromStep: 1 });
  budget.live();
  now += QUICK_LOSS_MS; // held 10 s: the count starts again
  assert.deepEqual(budget.lost('close 1011'), { reconnect: true, fromStep: 0 });
  for (let i = 1; i <= MAX_QUICK_LOSSES; i++) {
    budget.live();
    now += 100;
    const verdict = budget.lost('a message over 1 MiB (closed with 1009)');
    if (i < MAX_QUICK_LOSSES) assert.deepEqual(verdict, { reconnect: true, fromStep: i - 1 });
    else assert.deepEqual(verdict, { reconnect: false, losses: 3, why: 'the agent lost its socket 3 times in a row, each within 10 s of connecting; last: a message over 1 MiB (closed with 1009)' });
  }
});

for (const kind of ['ws', 'realtime'] as const) {
  const lostAs = kind === 'ws' ? 'agent socket lost (close 1011)' : 'realtime session ended by the server (close 1011)';
  const oversized = kind === 'ws' ? 'agent socket failed: a message over 1 MiB (closed with 1009)' : 'realtime socket failed: a message over 4 MiB (closed with 1009)';
  for (const [how, breaks, reason] of [
    ['closes every socket right after the handshake', () => ({ close: 0 }), lostAs],
    ['sends more than the size limit on every socket', () => 'oversize', oversized],
  ] as const) {
    test(`${kind}: a server that ${how}: ${MAX_QUICK_LOSSES} connections, further apart each time, then the call hangs up naming why`, async () => {
      const server = new BreakingServer(kind, breaks as Breaks);
      const { agent, events } = await opened(kind, await server.start());
      try {
        await until('the hang-up', () => events.some((e) => e.type === 'hangup.request'));
        const stopped = events.filter((e) => e.type === 'reconnect.stopped');
        const why = `the agent lost its socket ${MAX_QUICK_LOSSES} times in a row, each within 0.3 s of connecting; last: ${reason}`;
        assert.deepEqual(stopped, [{ type: 'reconnect.stopped', losses: MAX_QUICK_LOSSES, why }]);
        assert.deepEqual(
          events.filter((e) => e.type === 'hangup.request'),
          [{ type: 'hangup.request', reason: why, afterPlayout: true }],
        );
        assert.equal(server.connectedAt.length, MAX_QUICK_LOSSES);
        const [a, b, c] = server.connectedAt as [number, number, number];
        assert.ok(b - a >= RECONNECT.delaysMs[0]! && c - b >= RECONNECT.delaysMs[1]!, `connections ${(b - a).toFixed(0)} then ${(c - b).toFixed(0)} ms apart`);
        await sleep(600);
        assert.equal(server.connectedAt.length, MAX_QUICK_LOSSES, 'not connected again afterwards');
      } finally {
        agent.close();
        await server.stop();
      }
    });
  }

  test(`${kind}: quick losses with a socket that held between them: connected again every time`, async () => {
    // Two quick losses, one socket that holds past 300 ms, two quick ones again, then a socket that stays.
    const plan: Array<ReturnType<Breaks>> = [{ close: 0 }, { close: 0 }, { close: 450 }, { close: 0 }, { close: 0 }, 'keep'];
    const server = new BreakingServer(kind, (i) => plan[i] ?? 'keep');
    const { agent, events } = await opened(kind, await server.start());
    try {
      await until('the last connection', () => server.connectedAt.length === plan.length, 6_000);
      await until('connected again', () => agent.reconnects === plan.length - 1);
      await sleep(200);
      assert.deepEqual(events.filter((e) => e.type === 'reconnect.stopped' || e.type === 'hangup.request'), []);
    } finally {
      agent.close();
      await server.stop();
    }
  });
}
