/**
 * One agent that sends requests too fast must not cost another caller their
 * call (docs/agent-protocols.md, "Limits"): the deployment's signalling budget
 * at the platform (20 a second, burst 40) is shared by every call, and an
 * inbound call's answer refused 429 used to end that call. Real simulator,
 * platform and gateway (real workers) on loopback, a real `ws` agent server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignallingClient } from '../../src/control/SignallingClient.js';
import { ErrorCodes, isTtmaError } from '../../src/errors.js';
import { sleep, WsAgentTestServer } from '../agents/servers.js';
import { metricValue } from '../helpers/promText.js';
import { NUMBER, startStack, waitFor } from '../helpers/stack.js';

describe('agent requests and the deployment budget', () => {
  it("an agent flooding DTMF (200 at once, then 100 a second) gets refusals; another caller's call is answered and carried", async () => {
    const agent = new WsAgentTestServer(16_000);
    const url = await agent.start();
    const stack = await startStack({ workers: 1, agent: { kind: 'ws', url, token: '', bargeIn: { thresholdDbfs: -35, minSpeechMs: 200 } } });
    let flooding: NodeJS.Timeout | undefined;
    try {
      const a = stack.sim.placeInboundCall({ from: '+15550207001', to: NUMBER, durationMs: 5_000 });
      const flooder = await agent.connectionFor('+15550207001');
      await flooder.inbox.waitFor((m) => m['type'] === 'start', 'start');
      for (let i = 0; i < 200; i++) flooder.send({ type: 'dtmf', digits: '1' });
      flooding = setInterval(() => {
        for (let i = 0; i < 2; i++) flooder.send({ type: 'dtmf', digits: '1' });
      }, 20);
      await sleep(300);
      const b = stack.sim.placeInboundCall({ from: '+15550207002', to: NUMBER, durationMs: 1_500 });
      const innocent = await b.done;
      clearInterval(flooding);
      assert.equal(innocent.endedBy, 'caller', `the innocent call: ${innocent.endReason ?? ''}`);
      assert.ok(innocent.streamsOpened >= 1 && innocent.framesSent > 0, JSON.stringify({ streams: innocent.streamsOpened, frames: innocent.framesSent }));

      const report = await a.done;
      assert.equal(report.endedBy, 'caller', 'the flooding call itself goes on');

      // The flooder heard why: refusals naming the code; what was accepted reached the far end, in order.
      const results = flooder.inbox.messages.filter((m) => m.msg['type'] === 'result' && m.msg['request'] === 'dtmf').map((m) => m.msg);
      const refused = results.filter((r) => r['ok'] === false);
      assert.ok(refused.length > 100, `${refused.length} refusals`);
      assert.match(String(refused[0]?.['detail']), /TTMA_ERR_RATE_LIMITED: agent dtmf request not sent: too many/);
      const sent = results.filter((r) => r['ok'] === true).length;
      // Burst 5 and 2 a second per call, over the 2 s or so of flood.
      assert.ok(sent >= 5 && sent <= 15, `${sent} DTMF requests sent`);
      assert.equal(report.dtmfReceived, '1'.repeat(sent), 'every DTMF reported sent reached the far end');
      const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
      assert.ok((metricValue(metrics, 'ttma_agent_requests_refused_total', { by: 'call' }) ?? 0) >= refused.length);
      assert.equal(metricValue(metrics, 'ttma_platform_refusals_total', { code: 'TTMA_ERR_RATE_LIMITED' }) ?? 0, 0, 'the platform never had to refuse anything');
    } finally {
      clearInterval(flooding);
      await stack.stop();
      await agent.stop();
    }
  });

  it("an answer the platform refuses for the rate limit is sent again after its Retry-After, and the call is carried", async () => {
    // A bucket of 2, refilled at 2 a second: spent just before the call rings.
    const stack = await startStack({ workers: 1 }, { platform: { rateLimit: { ratePerSec: 2, burst: 2 } } });
    const client = new SignallingClient({ platformUrl: `http://127.0.0.1:${stack.ports.platform}`, deploymentId: 'test', agentSecret: stack.agentSecret });
    try {
      await sleep(1_200); // the gateway's own start-up requests are paid for
      for (let i = 0; i < 10; i++) {
        const refusal = await client.usage().then(() => null, (err: unknown) => err);
        if (isTtmaError(refusal, ErrorCodes.RATE_LIMITED)) break;
      }
      const call = stack.sim.placeInboundCall({ from: '+15550207003', to: NUMBER, durationMs: 1_000 });
      const report = await call.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.ok(report.framesReturned > 10, `${report.framesReturned} frames echoed`);
      const control = stack.gateway.control;
      assert.ok(control.counters.answerRetries >= 1, 'the answer was refused and sent again');
      await waitFor('the call ended at the gateway', () => control.liveCalls === 0);
      assert.equal(control.ended['answer_failed'] ?? 0, 0);
    } finally {
      client.close();
      await stack.stop();
    }
  });
});
