/**
 * Redis loses its data (FLUSHALL) under a running platform, with a gateway connected and a call
 * streaming. Media never passes the platform, so the call keeps its audio and ends as its caller
 * hangs up; the gateway is told plainly that the platform no longer knows its deployment (its log
 * once, /readyz, /debug/status for `ttma doctor`), not a generic authentication failure.
 * Real simulator, platform, gateway and redis-server on loopback.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { checkControl } from '../../src/control/doctorChecks.js';
import { redisUnavailable, startRedisServer } from '../helpers/redisServer.js';
import { startStack, streamingCall, waitFor } from '../helpers/stack.js';
import { capturingLogger } from '../platform/helpers.js';

const UNKNOWN = 'the platform does not know this deployment';

describe('Redis losing its data under a gateway with a live call', { skip: redisUnavailable() }, () => {
  it('the call keeps its audio and ends at its hang-up; the gateway says the platform does not know its deployment, once', async () => {
    const redis = await startRedisServer();
    const raw = new Redis(redis.url);
    const { logger, lines } = capturingLogger();
    const stack = await startStack({ workers: 1 }, { platform: { redisUrl: redis.url }, logger });
    try {
      await waitFor('the control connection', () => stack.gateway.channel.authenticated, 5_000);
      const live = await streamingCall(stack, '+15550407001', 6_000);

      await raw.flushall();
      const framesAtFlush = live.summary().framesReturned;
      const readyz = async () => {
        const res = await fetch(`http://127.0.0.1:${stack.ports.local}/readyz`);
        return { status: res.status, body: (await res.json()) as { reasons: string[] } };
      };
      await waitFor('the gateway told', async () => (await readyz()).body.reasons.includes(UNKNOWN), 5_000);
      assert.equal((await readyz()).status, 503);
      assert.equal(live.state === 'ended', false, 'the call is still up');

      // Closed first (4401 "deployment removed"), then refused at each reconnection, saying why.
      await waitFor('a reconnection refused', () => (stack.gateway.channel.lastError ?? '').includes('TTMA_ERR_STORE_DATA_LOST'), 5_000);
      // What `ttma doctor` reads from the running gateway.
      const status = await fetch(`http://127.0.0.1:${stack.ports.local}/debug/status`);
      const probe = { kind: 'answered', status: status.status, body: await status.text() } as const;
      const verdict = checkControl('http://platform.example', { host: '127.0.0.1', health: { kind: 'answered', status: 200, body: '' }, localStatus: probe });
      assert.equal(verdict.status, 'fail');
      assert.match(verdict.message, /the platform does not know this deployment: its store lost its data/);

      const report = await live.done;
      assert.equal(report.endedBy, 'caller', report.endReason ?? '');
      assert.equal(report.streamsOpened, 1, 'the call kept its stream');
      const framesAfter = report.framesReturned - framesAtFlush;
      assert.ok(framesAfter > 100, `audio after the flush: ${framesAfter} frames echoed`);
      await waitFor('the gateway to end the call', () => stack.gateway.control.snapshot().length === 0, 5_000);

      // Several refused reconnections by now; the plain sentence logged once for this state.
      await waitFor('a few retries', () => stack.gateway.channel.failures >= 3, 10_000);
      const said = lines.filter((l) => l.includes(UNKNOWN) && l.includes('"level":50'));
      // One line per state: the close, then the refusals (however many).
      assert.deepEqual(said.map((l) => /it was removed|its store lost its data/.exec(l)?.[0]), ['it was removed', 'its store lost its data'], said.join('\n'));
      assert.ok(!lines.some((l) => l.includes('check the deployment id and agent secret')), 'not a generic authentication failure');
    } finally {
      await stack.stop();
      raw.disconnect();
      await redis.stop();
    }
  });
});
