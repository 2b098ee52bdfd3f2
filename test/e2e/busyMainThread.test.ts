/**
 * A gateway whose main thread is itself held up for longer than the stuck-worker deadline (5 s
 * without a pong), as on a loaded host: its workers answered every ping they were sent, so none
 * is killed. Before, the supervisor counted from the last pong, and its health timer ran before
 * the pong waiting in the queue was read: the worker was killed (under load, the demo's workers
 * "stopped answering health pings", and a worker killed with its sockets could abort the process).
 * That a worker which does stop answering is still killed: test/e2e/workerSockets.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startStack, waitFor } from '../helpers/stack.js';

const STUCK_AFTER_MS = 5_000;

test('a main thread held up past the stuck-worker deadline kills no worker', { timeout: 60_000 }, async () => {
  const stack = await startStack({ workers: 1 });
  try {
    const host = stack.gateway.supervisor.host(0)!;
    await waitFor('the worker answered a health ping', () => host.lastStats !== null, 10_000);
    // Held up inside a timer callback, as the health timer is: it is due as soon as this ends.
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        const until = Date.now() + STUCK_AFTER_MS + 2_000;
        while (Date.now() < until) {
          // Busy: this thread runs nothing else meanwhile.
        }
        resolve();
      }, 1_100),
    );
    // A few health checks run after it (real time: the checks are on a 1 s interval).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(stack.gateway.supervisor.restarts, 0, 'no worker restarted');
    assert.equal(host.exited, false, 'the worker lives');
  } finally {
    await stack.stop();
  }
});
