/**
 * An agent that accepts the gateway's connection and then breaks it every
 * time (a message over the 1 MiB limit, or a close right after `ready`) must
 * not make the call reconnect for as long as it lasts: the gateway stops
 * after a few such losses in a row (agentReconnects.ts), hangs up after
 * playout as when a reconnect gives up, logs one warn line and counts it in
 * /metrics. An agent server that restarts once mid-call is still connected
 * again, and the call carries audio afterwards. Real simulator, platform and
 * gateway (a real worker) on loopback, and a real `ws` agent server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { MAX_QUICK_LOSSES } from '../../src/agent/agentReconnects.js';
import { createLogger } from '../../src/log.js';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, startStack, waitFor } from '../helpers/stack.js';
import { loopbackWss } from '../helpers/loopbackWss.js';

type Mode = 'oversize' | 'closeAfterReady' | 'restartOnce';

interface Line {
  level: number;
  msg: string;
  callId?: string;
  [key: string]: unknown;
}

/**
 * A `ws` agent: answers hello with ready at 16 kHz and echoes caller audio; then, per mode,
 * sends a message over 1 MiB on the first caller audio, closes (1011) right after `ready`,
 * or closes its first socket with 1012 (service restart) 1.5 s into the call and comes back.
 */
class BreakingAgent {
  readonly #server = loopbackWss();
  readonly #wss = this.#server.wss;
  readonly connectedAt: number[] = [];
  /** Caller audio bytes echoed on each connection. */
  readonly echoed: number[] = [];

  constructor(readonly mode: Mode) {
    this.#wss.on('connection', (ws: WebSocket) => {
      const index = this.connectedAt.push(performance.now()) - 1;
      this.echoed.push(0);
      let broke = false;
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          const msg = JSON.parse(data.toString()) as Record<string, unknown>;
          if (msg['type'] !== 'hello') return;
          ws.send(JSON.stringify({ type: 'ready', sample_rate: 16_000 }));
          if (mode === 'closeAfterReady') ws.close(1011, 'crashed');
          if (mode === 'restartOnce' && index === 0) setTimeout(() => ws.close(1012, 'restarting'), 1_500).unref();
          return;
        }
        if (mode === 'oversize' && !broke) {
          broke = true;
          ws.send(Buffer.alloc((1 << 20) + 1), { binary: true });
          return;
        }
        if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
        this.echoed[index]! += data.length;
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

async function withAgent(mode: Mode, run: (agent: BreakingAgent, stack: Awaited<ReturnType<typeof startStack>>, lines: Line[]) => Promise<void>): Promise<void> {
  const agent = new BreakingAgent(mode);
  const url = await agent.start();
  const lines: Line[] = [];
  const logger = createLogger('gateway', 'info', { write: (text: string) => void lines.push(JSON.parse(text) as Line) });
  const stack = await startStack({ workers: 1, agent: { kind: 'ws', url, token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } } }, { logger });
  try {
    await run(agent, stack, lines);
  } finally {
    await stack.stop();
    await agent.stop();
  }
}

describe('an agent that breaks its socket every time', () => {
  for (const [mode, reason] of [
    ['oversize', /a message over 1 MiB \(closed with 1009\)/],
    ['closeAfterReady', /agent socket lost \(close 1011\)/],
  ] as const) {
    it(`${mode}: at most ${MAX_QUICK_LOSSES} connections, then the call ends with the reason logged and counted`, async () => {
      await withAgent(mode, async (agent, stack, lines) => {
        // Long enough that a call reconnecting for its whole length is told apart from one the gateway ended.
        const call = stack.sim.placeInboundCall({ from: '+15550208001', to: NUMBER, durationMs: 12_000 });
        const report = await call.done;
        const firstAt = agent.connectedAt[0]!;
        const endedAfterMs = performance.now() - firstAt;
        assert.equal(report.endedBy, 'gateway', `${report.endedBy}: ${report.endReason}; ${agent.connectedAt.length} agent connections`);
        assert.ok(agent.connectedAt.length <= MAX_QUICK_LOSSES, `${agent.connectedAt.length} agent connections`);
        assert.ok(endedAfterMs < 8_000, `ended ${endedAfterMs.toFixed(0)} ms after the first connection`);
        // The waits between connections grow: no storm while the budget lasts.
        const gaps = agent.connectedAt.slice(1).map((at, i) => at - agent.connectedAt[i]!);
        for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! > gaps[i - 1]!, `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);

        const warned = lines.filter((l) => l.level === 40 && l.callId === call.id && /stopped connecting to the agent again/.test(l.msg));
        assert.equal(warned.length, 1, lines.filter((l) => l.callId === call.id).map((l) => l.msg).join(' | '));
        assert.match(warned[0]!.msg, new RegExp(`lost its socket ${MAX_QUICK_LOSSES} times in a row`));
        assert.match(warned[0]!.msg, reason);
        await waitFor('the counter in /metrics', async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
          return metricValue(metrics, 'ttma_agent_reconnects_stopped_total') === 1;
        });
        const connections = agent.connectedAt.length;
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.equal(agent.connectedAt.length, connections, 'nothing connects after the call ended');
      });
    });
  }

  it('an agent server that restarts once mid-call is connected again, and the call carries audio afterwards', async () => {
    await withAgent('restartOnce', async (agent, stack) => {
      const call = stack.sim.placeInboundCall({ from: '+15550208002', to: NUMBER, durationMs: 5_000 });
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason);
      assert.equal(agent.connectedAt.length, 2, 'connected again once');
      assert.ok(agent.echoed[1]! > 16_000, `${agent.echoed[1]} bytes of caller audio echoed after the restart`);
      // The echo reached the phone after the restart too: well over the 1.5 s before it.
      assert.ok(report.framesReturned > 100, `${report.framesReturned} frames returned`);
      const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
      assert.equal(metricValue(metrics, 'ttma_agent_reconnects_stopped_total') ?? 0, 0);
    });
  });
});
