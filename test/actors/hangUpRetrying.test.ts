/**
 * Which failed hang-ups are tried again, and when not: the schedule's logic
 * with a scripted request (the whole path, through a real platform and
 * simulator, is in test/e2e/callLifecycle.test.ts).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { hangUpRetrying, mayPass } from '../../src/actors/hangUpRetrying.js';
import { ErrorCodes, TtmaError } from '../../src/errors.js';

const failing = (errors: unknown[]) => {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    hangup: async () => {
      const err = errors[calls++];
      if (err !== undefined) throw err;
    },
  };
};

test('no answer, 5xx and a rate limit may pass; a refusal does not', () => {
  assert.equal(mayPass(new Error('socket hang up')), true);
  assert.equal(mayPass(new TtmaError(ErrorCodes.PLATFORM, 'platform unreachable', 502)), true);
  assert.equal(mayPass(new TtmaError(ErrorCodes.PROVIDER, 'provider hangup failed', 502)), true);
  assert.equal(mayPass(new TtmaError(ErrorCodes.RATE_LIMITED, 'slow down', 429)), true);
  assert.equal(mayPass(new TtmaError(ErrorCodes.CALL_NOT_OWNED, 'not yours', 404)), false);
  assert.equal(mayPass(new TtmaError(ErrorCodes.BAD_REQUEST, 'bad', 400)), false);
});

test('tried again after each wait until it goes through; a refusal is final; nothing past the deadline', async (t) => {
  // The waits do not hold the process open (a gateway that stops must not wait 30 s for one): this test does.
  const keepAlive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(keepAlive));
  const waited: number[] = [];
  const options = (deadline = Number.POSITIVE_INFINITY) => ({ waits: [10, 20, 30], deadline: () => deadline, retrying: (_err: unknown, ms: number) => waited.push(ms) });
  const flaky = failing([new Error('reset'), new TtmaError(ErrorCodes.PROVIDER, '5xx', 502)]);
  await hangUpRetrying(flaky.hangup, options());
  assert.equal(flaky.calls, 3);
  assert.deepEqual(waited, [10, 20]);

  const refused = failing([new TtmaError(ErrorCodes.CALL_NOT_OWNED, 'not yours', 404)]);
  await assert.rejects(hangUpRetrying(refused.hangup, options()), /not yours/);
  assert.equal(refused.calls, 1);

  const down = failing([new Error('a'), new Error('b'), new Error('c'), new Error('d')]);
  await assert.rejects(hangUpRetrying(down.hangup, options()), /d/);
  assert.equal(down.calls, 4, 'the first attempt and one per wait');

  const closing = failing([new Error('a'), new Error('b')]);
  await assert.rejects(hangUpRetrying(closing.hangup, options(performance.now() + 15)), /b/);
  assert.equal(closing.calls, 2, 'the 20 ms wait would end past the deadline');
});
