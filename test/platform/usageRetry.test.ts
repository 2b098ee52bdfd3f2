/**
 * Nothing lost (FAQ-14): a usage report the platform refuses only because its
 * Redis is down is re-sent by the gateway's ControlChannel until it is
 * recorded, so the call is compared and not flagged `unreported` for a
 * platform outage. Real parts: a real platform on a real redis-server (kept on
 * disk, stopped and started again on its port), the gateway's real
 * ControlChannel over a real WebSocket. A refusal with any other code is final.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlChannel } from '../../src/control/ControlChannel.js';
import { createLogger } from '../../src/log.js';
import { PLATFORM_PATHS } from '../../src/wire/platformApi.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { STREAM_TOKEN, agentHeaders, call, envelope, postWebhook, startHarness, type Harness, waitFor } from './helpers.js';

const D = { id: 'retry-dep', numbers: ['+15551430001'], tunnelHost: 'retry.trycloudflare.com' };
/** Short enough that a lost report would be flagged `unreported` within the test. */
const GRACE_MS = 400;

const skip = redisUnavailable();

describe('a usage report refused while Redis is down is re-sent and recorded', { skip }, () => {
  let dataDir: string;
  let redis: RedisServer;
  let h: Harness;
  let channel: ControlChannel;
  let headers: Record<string, string>;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ttma-redis-'));
    redis = await startRedisServer(undefined, { dataDir });
    h = await startHarness({ redisUrl: redis.url, usageReportGraceMs: GRACE_MS, cdr: { attempts: 3, backoffMs: 20 } });
    const secret = (await h.platform.deployments.register(D)).agentSecret;
    headers = agentHeaders(D.id, secret);
    channel = new ControlChannel({
      platformUrl: h.base,
      deploymentId: D.id,
      agentSecret: secret,
      log: createLogger('test', 'silent'),
      onMessage: () => undefined,
      baseDelayMs: 50,
      maxDelayMs: 200,
      reportRetryBaseMs: 100,
      reportRetryMaxMs: 400,
    });
    channel.start();
    await waitFor('the control connection', () => channel.authenticated);
  });
  after(async () => {
    channel?.stop();
    await h?.close();
    await redis?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function dialAndSettle(n: number, providerMs: number): Promise<string> {
    const dial = await call(h.base, 'POST', PLATFORM_PATHS.dial, {
      headers,
      body: { to: '+15557654321', stream_url: `wss://${D.tunnelHost}/v1/media/usage-retry${n}`, stream_auth_token: STREAM_TOKEN },
    });
    assert.equal(dial.status, 200, JSON.stringify(dial.body));
    const id = dial.body.call_control_id as string;
    Object.assign(h.provider.calls.get(id)!, { alive: false, durationMs: providerMs });
    await postWebhook(h, envelope('call.hangup', { call_control_id: id, from: D.numbers[0]!, to: '+15557654321', direction: 'outgoing', hangup_cause: 'normal_clearing' }));
    await waitFor('the provider figure in the ledger', async () => (await h.platform.ledger.get(D.id, id))?.providerMs === providerMs);
    return id;
  }

  it('keeps the refused report, re-sends it with backoff, and the ledger compares it once Redis is back', async () => {
    const id = await dialAndSettle(1, 30_500);
    await redis.stop();
    channel.reportUsage(id, 30_000);
    // Refused twice at least (the first send and one re-send), never given up.
    await waitFor('two refusals for the unreachable store', () => channel.counters.reportsRetried >= 2);
    assert.equal(channel.pendingReports, 1);
    assert.equal(channel.counters.reportsRefused, 0, 'a store refusal is not final');
    assert.equal(channel.counters.reportsAcked, 0);
    // Longer than the grace: a report lost here would be flagged `unreported`.
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));

    redis = await startRedisServer(redis.port, { dataDir });
    await waitFor('the re-sent report acknowledged', () => channel.counters.reportsAcked === 1);
    assert.equal(channel.pendingReports, 0);
    const entry = await h.platform.ledger.get(D.id, id);
    assert.deepEqual(
      { providerMs: entry?.providerMs, gatewayMs: entry?.gatewayMs, flags: entry?.flags },
      { providerMs: 30_500, gatewayMs: 30_000, flags: [] },
      'compared, and not flagged unreported',
    );
    // Acknowledged means done: nothing more goes out for it.
    const sent = channel.counters.reportsSent;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(channel.counters.reportsSent, sent);
  });

  it('a tampered report re-sent after the outage is still flagged, billing stays on the provider figure', async () => {
    const id = await dialAndSettle(2, 45_000);
    await redis.stop();
    channel.reportUsage(id, 1_000);
    await waitFor('a refusal for the unreachable store', () => channel.pendingReports === 1 && channel.counters.reportsRetried >= 3);
    redis = await startRedisServer(redis.port, { dataDir });
    await waitFor('the re-sent report acknowledged', () => channel.counters.reportsAcked === 2);
    assert.deepEqual((await h.platform.ledger.get(D.id, id))?.flags, ['duration_mismatch']);
    assert.deepEqual((await h.platform.calls.get(id))?.billing, { source: 'cdr', durationMs: 45_000, billedMinutes: 1, costMicroUsd: 10_000 });
  });

  it('a refusal with any other code is final: a report for a call the platform does not know is not re-sent', async () => {
    const before = { sent: channel.counters.reportsSent, refused: channel.counters.reportsRefused, retried: channel.counters.reportsRetried };
    channel.reportUsage('v3:never-dialled', 5_000);
    await waitFor('the refusal', () => channel.counters.reportsRefused === before.refused + 1);
    assert.equal(channel.pendingReports, 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(channel.counters.reportsSent, before.sent + 1, 'sent once, never again');
    assert.equal(channel.counters.reportsRetried, before.retried);
  });
});
