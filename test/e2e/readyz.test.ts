/**
 * GET /readyz on the gateway's local listener and `ttma_platform_connected`:
 * ready with the platform connected and the workers up; 503 naming each
 * reason while a drain hangs up the calls, once the platform is gone, or
 * while the gateway has no webhook signing key.
 * /healthz stays 200 throughout (liveness). Real simulator, platform and
 * gateway on loopback; the platform's provider transport holds back a
 * drain's hang-ups so the drain lasts long enough to be asked about.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hookedProviderTransport } from '../helpers/providerHooks.js';
import { metricValue } from '../helpers/promText.js';
import { startStack, streamingCall, waitFor, type Stack } from '../helpers/stack.js';

/** How long the platform holds a hang-up back while the gateway drains. */
const HANGUP_DELAY_MS = 1_500;

async function readyz(stack: Stack): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const response = await fetch(`http://127.0.0.1:${stack.ports.local}/readyz`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; reasons: string[] } };
}

async function connectedGauge(stack: Stack): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
  return metricValue(text, 'ttma_platform_connected');
}

async function healthz(stack: Stack): Promise<number> {
  return (await fetch(`http://127.0.0.1:${stack.ports.local}/healthz`)).status;
}

describe('gateway readiness', () => {
  it('ready when connected; 503 "platform unreachable" once the platform stops, while /healthz stays 200', async () => {
    const stack = await startStack({ workers: 1 });
    try {
      await waitFor('the control connection', () => stack.gateway.channel.authenticated, 5_000);
      assert.deepEqual(await readyz(stack), { status: 200, body: { ready: true, reasons: [] } });
      assert.equal(await connectedGauge(stack), 1);

      await stack.platform.stop();
      await waitFor('the gateway to notice the platform is gone', async () => (await readyz(stack)).status === 503, 5_000);
      assert.deepEqual(await readyz(stack), { status: 503, body: { ready: false, reasons: ['platform unreachable'] } });
      assert.equal(await connectedGauge(stack), 0);
      assert.equal(await healthz(stack), 200, 'liveness is unchanged');
    } finally {
      await stack.stop();
    }
  });

  it('503 "no webhook signing key" for a gateway started without one: it refuses every webhook, so no call can start', async () => {
    const stack = await startStack({ workers: 1 }, { webhookKey: false });
    try {
      await waitFor('the control connection', () => stack.gateway.channel.authenticated, 5_000);
      assert.deepEqual(await readyz(stack), { status: 503, body: { ready: false, reasons: ['no webhook signing key'] } });
      assert.equal(await healthz(stack), 200, 'liveness is unchanged');
    } finally {
      await stack.stop();
    }
  });

  it('503 "draining" while stop() hangs up the live calls', async () => {
    let holdHangups = false;
    const stack = await startStack(
      { workers: 1 },
      {
        platform: {
          provider: {
            transport: hookedProviderTransport({
              before: async (_method, url) => {
                if (holdHangups && url.pathname.endsWith('/actions/hangup')) await new Promise((resolve) => setTimeout(resolve, HANGUP_DELAY_MS));
              },
            }),
          },
        },
      },
    );
    try {
      await waitFor('the control connection', () => stack.gateway.channel.authenticated, 5_000);
      await streamingCall(stack, '+15550407001', 10_000);
      holdHangups = true;
      const stopped = stack.gateway.stop();
      const during = await readyz(stack);
      assert.equal(during.status, 503);
      assert.ok(during.body.reasons.includes('draining'), `reasons: ${during.body.reasons.join(', ')}`);
      await stopped;
    } finally {
      await stack.stop();
    }
  });
});
