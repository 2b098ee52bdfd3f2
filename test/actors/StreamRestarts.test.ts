/**
 * StreamRestarts' schedule, with its timing shortened: a loss is an episode
 * whose requests back off (base, 2 x base, then the cap) until its deadline;
 * the platform's 429 costs nothing; a refusal ends the call; a landed stream
 * ends the episode; the number of episodes is bounded. The signalling client
 * here records requests and answers as told (the e2e tests use the real one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { MAX_STREAM_LOSSES, StreamRestarts, type RestartableCall } from '../../src/actors/StreamRestarts.js';

const TIMING = { deadlineMs: 400, retryBaseMs: 20, retryMaxMs: 80 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(answer: () => Promise<void> = async () => undefined, timing = TIMING) {
  const asked: number[] = [];
  const ended: Array<{ reason: string; cause: string; atMs: number }> = [];
  const tokens = { issued: 0, revoked: 0, revokedTokens: [] as string[] };
  const counters = { streamRestarts: 0, streamRestartsLanded: 0, streamRestartsFailed: 0 };
  const askedBy: Record<string, number> = {};
  const t0 = performance.now();
  const call: RestartableCall & { state: string; socket: unknown } = {
    callId: 'v3:call',
    state: 'streaming',
    socket: null,
    log: createLogger('test', 'silent'),
    record: { stream_restarts: 0 },
    orphanTimer: null,
    streamRestarts: 0,
    streamLosses: 0,
    episodeAttempts: 0,
    episodeDeadline: 0,
    retryPending: false,
  };
  const restarts = new StreamRestarts<'media_closed' | 'streaming_failed'>({
    signalling: {
      streamingStart: async () => {
        asked.push(performance.now() - t0);
        await answer();
      },
    },
    tokens: {
      issueAnother: () => `token-${++tokens.issued}`,
      revoke: (_callId, token) => {
        tokens.revoked++;
        tokens.revokedTokens.push(token);
      },
    },
    publicHost: 'gw.example.com',
    codec: 'PCMU',
    endCall: async (_id, reason, cause) => {
      call.state = 'ending';
      if (call.orphanTimer) clearTimeout(call.orphanTimer);
      ended.push({ reason, cause, atMs: performance.now() - t0 });
    },
    closing: () => false,
    mediaClosedCause: 'media_closed',
    streamingFailedCause: 'streaming_failed',
    counters,
    asked: askedBy,
    timing,
  });
  /** The provider's streaming.failed after each request, until `until` ms. */
  const failConnectsUntil = (untilMs: number) => {
    const seen = { n: 0 };
    const timer = setInterval(() => {
      while (seen.n < asked.length) {
        seen.n++;
        if (performance.now() - t0 < untilMs && call.state !== 'ending' && !restarts.retryLater(call, 'streaming failed')) {
          // No retry left: the ControlActor ends the call as a failed stream.
          call.state = 'ending';
          if (call.orphanTimer) clearTimeout(call.orphanTimer);
          ended.push({ reason: 'no retry', cause: 'streaming_failed', atMs: performance.now() - t0 });
        }
      }
    }, 2);
    return () => clearInterval(timer);
  };
  return { call, restarts, asked, ended, tokens, counters, askedBy, failConnectsUntil };
}

describe('StreamRestarts', () => {
  it('a loss: requests back off 20, 40, 80, 80 ms... until the deadline, then the call ends, and nothing is asked after', async () => {
    const t = setup();
    const stop = t.failConnectsUntil(10_000);
    await t.restarts.restart(t.call, 'lost');
    await sleep(TIMING.deadlineMs + 150);
    stop();
    const gaps = t.asked.slice(1).map((at, i) => at - t.asked[i]!);
    assert.ok(gaps.length >= 4, `requests at ${t.asked.map((a) => a.toFixed(0)).join(', ')}`);
    assert.ok(gaps[0]! >= 18 && gaps[0]! < 60, `first gap ${gaps[0]}`);
    assert.ok(gaps[1]! >= 38 && gaps[1]! < 90, `second gap ${gaps[1]}`);
    for (const gap of gaps.slice(2)) assert.ok(gap >= 78 && gap < 140, `capped gap ${gap}`);
    assert.equal(t.ended.length, 1, JSON.stringify(t.ended));
    assert.ok(t.ended[0]!.atMs <= TIMING.deadlineMs + 60, `ended at ${t.ended[0]!.atMs.toFixed(0)} ms`);
    assert.ok(t.asked.at(-1)! < TIMING.deadlineMs, 'no request that could not land in time');
    assert.equal(t.tokens.issued, t.asked.length, 'a fresh token each time');
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: t.asked.length - 1 });
    assert.equal(t.call.record.stream_restarts, t.asked.length);
  });

  it('a stream that lands ends the episode; the next loss starts a new one with its own deadline; the fourth loss gets nothing', async () => {
    const t = setup();
    for (let loss = 1; loss <= MAX_STREAM_LOSSES; loss++) {
      assert.equal(t.restarts.mayRestart(t.call), true);
      await t.restarts.restart(t.call, 'lost');
      assert.ok(t.call.orphanTimer, 'the episode has its deadline');
      t.restarts.landed(t.call);
      assert.equal(t.call.orphanTimer, null);
      assert.equal(t.call.episodeAttempts, 0);
    }
    assert.equal(t.restarts.mayRestart(t.call), false, 'three losses: no fourth');
    assert.equal(t.counters.streamRestartsLanded, 3);
    assert.equal(t.ended.length, 0);
  });

  it("the platform's 429 costs nothing and is asked again within the deadline; a refusal ends the call at once and revokes the token", async () => {
    let answers = [new TtmaError(ErrorCodes.RATE_LIMITED, 'slow down', 429), null];
    const paced = setup(async () => {
      const next = answers.shift();
      if (next) throw next;
    }, { ...TIMING, deadlineMs: 3_000 });
    await paced.restarts.restart(paced.call, 'lost');
    await sleep(1_400); // asked again after 0.25 to 1.25 s
    assert.equal(paced.asked.length, 2);
    assert.equal(paced.call.streamRestarts, 1, 'the paced request was not counted');
    assert.deepEqual(paced.askedBy, { lost: 1, paced: 1 });
    assert.deepEqual(paced.tokens.revokedTokens, ['token-1'], 'only the refused request\'s token');
    if (paced.call.orphanTimer) clearTimeout(paced.call.orphanTimer);

    answers = [new TtmaError(ErrorCodes.CALL_NOT_OWNED, 'no', 403)];
    const refused = setup(async () => {
      const next = answers.shift();
      if (next) throw next;
    });
    await refused.restarts.restart(refused.call, 'lost');
    assert.deepEqual(refused.ended.map((e) => e.cause), ['media_closed']);
    assert.equal(refused.counters.streamRestartsFailed, 1);
    assert.equal(refused.tokens.revoked, 1);
  });

  it('failures reported while a request asked again is due add none: one request answers them all', async () => {
    const t = setup();
    await t.restarts.restart(t.call, 'lost');
    for (let i = 0; i < 3; i++) assert.equal(t.restarts.retryLater(t.call, 'streaming failed'), true);
    await sleep(TIMING.retryBaseMs + 30);
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: 1 });
    // Due no more: the next failure is answered by the next request, backed off.
    assert.equal(t.restarts.retryLater(t.call, 'streaming failed'), true);
    await sleep(2 * TIMING.retryBaseMs + 30);
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: 2 });
    if (t.call.orphanTimer) clearTimeout(t.call.orphanTimer);
  });
});
