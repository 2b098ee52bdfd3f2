/**
 * What an operator reads in journald about a call (docs/operations-metrics.md,
 * "Logs"): every line the gateway writes about a call carries its `callId`
 * and `deployment`; the call's media stream landing is one line with its
 * worker, and its end one line; a normal call writes nothing at error level.
 * Covers an inbound call, an outbound dial, a call that rang while no gateway
 * was up, and a live call the next process has no room to take over. Real
 * simulator, platform, gateways (each with its own captured log) and worker
 * threads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gateway } from '../../src/Gateway.js';
import { createLogger } from '../../src/log.js';
import { NUMBER, startStack, waitFor } from '../helpers/stack.js';

interface Line {
  level: number;
  msg: string;
  callId?: string;
  deployment?: string;
  worker?: number;
  [key: string]: unknown;
}

function capture(): { lines: Line[]; logger: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  const logger = createLogger('gateway', 'info', { write: (text: string) => void lines.push(JSON.parse(text) as Line) });
  return { lines, logger };
}

/** Every line about a call names the deployment; the call's own lines, by message. */
function linesOf(lines: Line[], callId: string): Line[] {
  const about = lines.filter((l) => l.callId === callId);
  for (const line of about) assert.equal(line.deployment, 'test', `"${line.msg}" about ${callId} names no deployment`);
  return about;
}

function once(about: Line[], msg: string): Line {
  const found = about.filter((l) => l.msg === msg);
  assert.equal(found.length, 1, `one "${msg}" line, got ${found.length}: ${about.map((l) => l.msg).join(' | ')}`);
  return found[0]!;
}

describe("a call's lifecycle in the gateway's log", () => {
  it('rang while no gateway was up, inbound, outbound: one line per event, each with call id and deployment, none at error level', async () => {
    const stack = await startStack({ workers: 1 }, { sim: { answerTimeoutMs: 8_000, outboundTalkMs: 1_500 } });
    const { lines, logger } = capture();
    let gateway: Gateway | null = null;
    try {
      await stack.gateway.stop();
      const rang = stack.sim.placeInboundCall({ from: '+15550406001', to: NUMBER, durationMs: 1_500 });
      await waitFor('the call to ring with nobody answering', () => rang.state === 'parked', 5_000);
      gateway = new Gateway(stack.gateway.config, logger);
      await gateway.start();
      const inbound = stack.sim.placeInboundCall({ from: '+15550406002', to: NUMBER, durationMs: 1_500 });
      const dialled = await gateway.control.dial('+15550406003');
      for (const done of [rang.done, inbound.done]) assert.equal((await done).endedBy, 'caller');
      await waitFor('every call to end at the gateway', () => gateway!.control.liveCalls === 0 && gateway!.control.counters.callsEnded === 3, 10_000);

      for (const callId of [rang.id, inbound.id, dialled.callId]) {
        const about = linesOf(lines, callId);
        const connected = once(about, 'media stream connected');
        assert.equal(connected.worker, 0, 'the stream line names its worker');
        const ended = once(about, 'call ended');
        assert.equal(ended.worker, 0);
        assert.equal(ended['cause'], 'hangup');
        assert.deepEqual(about.filter((l) => l.level >= 50).map((l) => l.msg), [], `${callId}: nothing at error level`);
      }
      once(linesOf(lines, rang.id), 'call that rang while no gateway was up: answering it');
      once(linesOf(lines, inbound.id), 'answered; waiting for the media stream');
      once(linesOf(lines, dialled.callId), 'outbound call placed; ringing');
      assert.deepEqual(lines.filter((l) => l.level >= 50).map((l) => l.msg), [], 'nothing at error level');
    } finally {
      await gateway?.stop();
      await stack.stop();
    }
  });

  it('a live call the next process has no room for: its refusal names the deployment', async () => {
    const stack = await startStack({ workers: 1, onStop: 'handover' });
    const { lines, logger } = capture();
    let next: Gateway | null = null;
    try {
      const calls = [0, 1].map((i) => stack.sim.placeInboundCall({ from: `+1555040700${i}`, to: NUMBER, durationMs: 4_000 }));
      await waitFor('both calls streaming', () => stack.gateway.control.snapshot().filter((c) => c.state === 'streaming').length === 2, 5_000);
      await stack.gateway.stop();
      next = new Gateway({ ...stack.gateway.config, maxCalls: 1, onStop: 'hangup' }, logger);
      await next.start();
      await waitFor('both calls handled', () => next!.control.counters.callsAdopted + next!.control.counters.callsAdoptionRefused === 2, 5_000);
      const refused = lines.filter((l) => l.msg.startsWith('live call from an earlier gateway process not taken over'));
      assert.equal(refused.length, 1);
      linesOf(lines, refused[0]!.callId!);
      const adopted = lines.find((l) => l.msg === 'live call from an earlier gateway process taken over: asking for a new stream');
      assert.ok(adopted, 'the other call taken over');
      linesOf(lines, adopted.callId!);
      await Promise.all(calls.map((c) => c.done));
    } finally {
      await next?.stop();
      await stack.stop();
    }
  });
});
