/**
 * Usage reports past the deployment's rate limit are not left waiting for the
 * next reconnect (which may be days away): the platform names the refused
 * report, the gateway sends it again with backoff, and the reports waiting at
 * a hello go out a few at a time. Real parts: a real platform with a small
 * rate limit, the gateway's real ControlChannel over a real WebSocket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlChannel, type ControlChannelOptions } from '../../src/control/ControlChannel.js';
import { createLogger } from '../../src/log.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, waitFor } from './helpers.js';

const D = { id: 'rate-dep', numbers: ['+15551440001'], tunnelHost: 'rate.trycloudflare.com' };
/** Five tokens, five a second: ten reports at once are over it. */
const RATE = { ratePerSec: 5, burst: 5 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('usage reports over the rate limit', () => {
  let h: Harness;
  let secret: string;
  const ids: string[] = [];
  const channels: ControlChannel[] = [];

  function channel(extra: Partial<ControlChannelOptions> = {}): ControlChannel {
    const c = new ControlChannel({
      platformUrl: h.base,
      deploymentId: D.id,
      agentSecret: secret,
      log: createLogger('test', 'silent'),
      onMessage: () => undefined,
      baseDelayMs: 50,
      maxDelayMs: 200,
      reportRetryBaseMs: 200,
      reportRetryMaxMs: 800,
      ...extra,
    });
    channels.push(c);
    return c;
  }

  before(async () => {
    h = await startHarness({ rateLimit: RATE, usageReportGraceMs: 60_000, cdr: { attempts: 2, backoffMs: 10 } });
    secret = (await h.platform.deployments.register(D)).agentSecret;
    const headers = agentHeaders(D.id, secret);
    for (let n = 0; ids.length < 10 && n < 200; n++) {
      const dial = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
        headers,
        body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/usage-rate-${ids.length}`, stream_auth_token: STREAM_TOKEN },
      });
      if (dial.status === 429) {
        await sleep(200);
        continue;
      }
      assert.equal(dial.status, 200, JSON.stringify(dial.body));
      const id = dial.body.call_control_id as string;
      Object.assign(h.provider.calls.get(id)!, { alive: false, durationMs: 10_000 + ids.length });
      await postWebhook(h, envelope('call.hangup', { call_control_id: id, from: D.numbers[0]!, to: '+15557654321', direction: 'outgoing', hangup_cause: 'normal_clearing' }));
      ids.push(id);
    }
    assert.equal(ids.length, 10);
    for (const id of ids) await waitFor('settled', async () => (await h.platform.ledger.get(D.id, id))?.providerMs !== undefined);
  });
  after(async () => {
    for (const c of channels) c.stop();
    await h?.close();
  });

  it('ten reports at once: those refused for the rate limit are sent again and all recorded, on the same connection', async () => {
    await sleep(1_200); // the bucket full again after the dials
    const c = channel();
    c.start();
    await waitFor('the control connection', () => c.authenticated);
    ids.forEach((id, i) => c.reportUsage(id, 10_000 + i));
    await waitFor('every report acknowledged', () => c.counters.reportsAcked === 10, 10_000);
    assert.equal(c.pendingReports, 0);
    assert.ok(c.counters.reportsRetried >= 1, `${c.counters.reportsRetried} re-sends`);
    assert.equal(c.counters.disconnects, 0, 'no reconnect was needed');
    for (const [i, id] of ids.entries()) assert.equal((await h.platform.ledger.get(D.id, id))?.gatewayMs, 10_000 + i);
    c.stop();
  });

  it('reports waiting at the hello go out a few at a time, within the rate limit', async () => {
    await sleep(1_200);
    // Two every 500 ms is 4 a second, under the platform's 5.
    const c = channel({ flushBatch: 2, flushEveryMs: 500 });
    ids.forEach((id, i) => c.reportUsage(id, 10_000 + i));
    c.start();
    await waitFor('every report acknowledged', () => c.counters.reportsAcked === 10, 10_000);
    assert.equal(c.counters.reportsRetried, 0, 'none was refused for the rate limit');
    assert.equal(c.counters.reportsSent, 10);
  });
});
