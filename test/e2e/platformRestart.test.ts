/**
 * A platform restart (a deploy: the process stops, a new one starts on the
 * same port and Redis) drops no call. The gateway sends a request whose
 * connection was refused again for up to 5 s, so a call that rings while the
 * platform is down is answered once it is back; a call streaming through the
 * restart goes on (media never passes the platform) and ends as its caller
 * hangs up, settled by the new process. Real simulator, gateway, Redis and
 * two platform processes' worth of PlatformServer, one after the other.
 *
 * The ringing call is answered only once its signed call.initiated reaches
 * the new process: the provider's call status names no number, so nothing
 * else can tie the call to the deployment (docs/platform.md, "A call's
 * facts"). The simulator here retries a delivery that found no one
 * listening for 1.5 s, on its own for the platform (the gateway's copy is
 * not held back by it), as a provider with a retry delay set would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PlatformServer } from '../../src/platform/PlatformServer.js';
import { redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redisServer.js';
import { NUMBER, startStack, streamingCall, waitFor, type Stack } from '../helpers/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a platform restart', { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    await redis?.stop();
  });

  it('a call ringing while the platform is down is answered when it is back; a live call goes on', async () => {
    const stack: Stack = await startStack(
      { workers: 1 },
      { platform: { redisUrl: redis.url }, sim: { webhookAttempts: 7, webhookBackoffMs: [250] }, platformWebhookDelayMs: 1 },
    );
    let next: PlatformServer | null = null;
    try {
      const live = await streamingCall(stack, '+15550406001', 5_000);
      await stack.platform.stop();
      const retriesBefore = await stackRetries(stack);
      const ringing = stack.sim.placeInboundCall({ from: '+15550406002', to: NUMBER, durationMs: 2_000 });
      await sleep(700);
      assert.equal(ringing.state, 'parked', 'not answered while the platform is down');
      next = new PlatformServer(stack.platformOptions);
      await next.start();
      const report = await ringing.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.ok(report.framesReturned > 50, `echo after the restart: ${report.framesReturned} frames`);
      assert.ok((await stackRetries(stack)) > retriesBefore, 'the answer was sent again');
      const liveReport = await live.done;
      assert.equal(liveReport.endedBy, 'caller', liveReport.endReason ?? '');
      assert.equal(liveReport.streamsOpened, 1, 'the live call kept its stream');
      await waitFor('the new process to settle both calls', async () => {
        const records = await Promise.all([live.id, ringing.id].map((id) => next!.calls.get(id)));
        return records.every((r) => r?.billing !== null && r?.billing !== undefined);
      }, 8_000);
    } finally {
      await stack.stop();
      await next?.stop();
    }
  });
});

/** The gateway's signalling client's count of requests sent again after a refused connection, read from /metrics. */
async function stackRetries(stack: Stack): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.ports.local}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('ttma_platform_connect_retries_total'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
