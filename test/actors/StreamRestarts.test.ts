/**
 * StreamRestarts' schedule, with its timing shortened: a loss is an episode
 * whose requests back off (base, 2 x base, then the cap) until its deadline;
 * the platform's 429 costs nothing; a refusal ends the call; a landed stream
 * ends the episode; the number of episodes is bounded. The signalling client
 * here records requests and answers as told (the e2e tests use the real one).
 * Its clock is stepped by the test: a busy box's late timers once failed the
 * backoff's bounds, and the schedule is exact in the clock's own steps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TtmaError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { MAX_STREAM_LOSSES, StreamRestarts, type RestartClock, type RestartableCall } from '../../src/actors/StreamRestarts.js';

const TIMING = { deadlineMs: 400, retryBaseMs: 20, retryMaxMs: 80 };

/** A RestartClock the test steps: `advance` runs each timer due, in order, at its own time. */
class SteppedClock implements RestartClock {
  ms = 0;
  #timers: Array<{ at: number; seq: number; fn: () => void }> = [];
  #seq = 0;

  now(): number {
    return this.ms;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.ms + ms, seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => void (this.#timers = this.#timers.filter((t) => t !== timer));
  }

  /** Moves time on by `ms`, letting each timer's async work (a request and its answer) settle before the next. */
  async advance(ms: number): Promise<void> {
    const until = this.ms + ms;
    for (;;) {
      await new Promise(setImmediate);
      const next = this.#timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.ms = next.at;
      next.fn();
    }
    this.ms = until;
  }
}

function setup(answer: () => Promise<void> = async () => undefined, timing = TIMING) {
  const asked: number[] = [];
  const ended: Array<{ reason: string; cause: string; atMs: number }> = [];
  const tokens = { issued: 0, revoked: 0, revokedTokens: [] as string[] };
  const counters = { streamRestarts: 0, streamRestartsLanded: 0, streamRestartsFailed: 0 };
  const askedBy: Record<string, number> = {};
  const clock = new SteppedClock();
  /** Until this clock time, the provider reports streaming.failed for each request (`failConnectsUntil`). */
  let failUntilMs = -1;
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
        asked.push(clock.ms);
        await answer();
        if (clock.ms < failUntilMs && call.state !== 'ending') failConnect();
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
      call.orphanTimer?.();
      ended.push({ reason, cause, atMs: clock.ms });
    },
    closing: () => false,
    mediaClosedCause: 'media_closed',
    streamingFailedCause: 'streaming_failed',
    counters,
    asked: askedBy,
    timing,
    clock,
  });
  /** The provider's streaming.failed for a request, as the ControlActor hands it on. */
  const failConnect = () => {
    if (!restarts.retryLater(call, 'streaming failed')) {
      // No retry left: the ControlActor ends the call as a failed stream.
      call.state = 'ending';
      call.orphanTimer?.();
      ended.push({ reason: 'no retry', cause: 'streaming_failed', atMs: clock.ms });
    }
  };
  const failConnectsUntil = (untilMs: number) => void (failUntilMs = untilMs);
  return { call, restarts, asked, ended, tokens, counters, askedBy, failConnectsUntil, clock };
}

describe('StreamRestarts', () => {
  it('a loss: requests back off 20, 40, 80, 80 ms... until the deadline, then the call ends, and nothing is asked after', async () => {
    const t = setup();
    t.failConnectsUntil(10_000);
    await t.restarts.restart(t.call, 'lost');
    await t.clock.advance(TIMING.deadlineMs + 150);
    // The provider answers each request with streaming.failed at once: the gaps are the backoff itself.
    // The next after 380 would be due at 460, past the 400 ms deadline: not asked.
    assert.deepEqual(t.asked, [0, 20, 60, 140, 220, 300, 380]);
    assert.deepEqual(t.ended, [{ reason: 'no retry', cause: 'streaming_failed', atMs: 380 }]);
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
    await paced.clock.advance(249);
    assert.equal(paced.asked.length, 1, 'not asked again before 0.25 s');
    await paced.clock.advance(1_001);
    assert.equal(paced.asked.length, 2, 'asked again within 1.25 s');
    assert.ok(paced.asked[1]! >= 250 && paced.asked[1]! <= 1_250, `asked again at ${paced.asked[1]} ms`);
    assert.equal(paced.call.streamRestarts, 1, 'the paced request was not counted');
    assert.deepEqual(paced.askedBy, { lost: 1, paced: 1 });
    assert.deepEqual(paced.tokens.revokedTokens, ['token-1'], 'only the refused request\'s token');

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
    await t.clock.advance(TIMING.retryBaseMs);
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: 1 });
    // Due no more: the next failure is answered by the next request, backed off.
    assert.equal(t.restarts.retryLater(t.call, 'streaming failed'), true);
    await t.clock.advance(2 * TIMING.retryBaseMs - 1);
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: 1 }, 'backed off: not yet');
    await t.clock.advance(1);
    assert.deepEqual(t.askedBy, { lost: 1, not_connected: 2 });
    assert.deepEqual(t.asked, [0, 20, 60]);
  });
});
