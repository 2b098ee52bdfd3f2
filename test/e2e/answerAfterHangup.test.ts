/**
 * A caller who hangs up while the gateway's answer is in flight: the
 * provider refuses the answer with 422 code 90018 ("Call has already
 * ended"). That is an outcome, not a fault: the platform answers the gateway
 * 409 TTMA_ERR_CALL_ENDED and both log it at info; nothing is written at
 * error level and the call ends as a hang-up. Real simulator, platform and
 * gateway on loopback; the platform's provider transport holds the answer
 * back until the simulator's call has ended (its answer timeout).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { hookedProviderTransport } from '../helpers/providerHooks.js';
import type { SimCall } from '../../src/sim/SimCall.js';
import { NUMBER, startStack, waitFor } from '../helpers/stack.js';

interface Line {
  level: number;
  msg: string;
  callId?: string;
  code?: string;
  [key: string]: unknown;
}

const ERROR_LEVEL = 50;

describe('a caller gone before the answer lands', () => {
  it('is logged at info on both sides, never at error; the call ends as a hang-up', async () => {
    const lines: Line[] = [];
    const logger = createLogger('test', 'info', { write: (text: string) => void lines.push(JSON.parse(text) as Line) });
    let placed: SimCall | null = null;
    let answersHeld = 0;
    const stack = await startStack(
      { workers: 1 },
      {
        logger,
        // The caller gives up ringing after 300 ms (the provider's answer timeout ends the call).
        sim: { answerTimeoutMs: 300 },
        platform: {
          provider: {
            transport: hookedProviderTransport({
              before: async (_method, url) => {
                if (!url.pathname.endsWith('/actions/answer')) return;
                answersHeld++;
                await waitFor('the caller to hang up', () => placed?.state === 'ended', 5_000);
              },
            }),
          },
        },
      },
    );
    try {
      await waitFor('the control connection', () => stack.gateway.channel.authenticated, 5_000);
      const call = stack.sim.placeInboundCall({ from: '+15550408001', to: NUMBER, durationMs: 1_000 });
      placed = call;
      await call.done;
      await waitFor('the gateway to end the call', () => stack.gateway.control.liveCalls === 0 && stack.gateway.control.counters.callsEnded === 1, 5_000);
      await waitFor('the platform to log the refused answer', () => lines.some((l) => l.code === 'TTMA_ERR_CALL_ENDED' && l.msg.startsWith('call already ended')), 5_000);
      await waitFor('the gateway to log it', () => lines.some((l) => l.callId === call.id && l.msg === 'caller hung up before the answer landed'), 5_000);
      assert.equal(answersHeld, 1, 'the answer went to the provider once (not retried)');

      const platformLine = lines.find((l) => l.code === 'TTMA_ERR_CALL_ENDED' && l.msg.startsWith('call already ended'))!;
      assert.equal(platformLine.level, 30, 'the platform logs it at info');
      assert.equal(platformLine['status'], 409);
      // The gateway's line (its call lines name the deployment; the simulator's does not).
      const ended = lines.find((l) => l.callId === call.id && l.msg === 'call ended' && l['deployment'] === 'test');
      assert.equal(ended?.['cause'], 'hangup', `the call ends as a hang-up: ${JSON.stringify(ended)}`);
      assert.deepEqual(
        lines.filter((l) => l.level >= ERROR_LEVEL).map((l) => l.msg),
        [],
        'nothing at error level on either side',
      );
    } finally {
      await stack.stop();
    }
  });
});
