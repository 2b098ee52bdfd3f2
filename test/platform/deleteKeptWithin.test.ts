/**
 * The dashboard's "delete all recordings" press (deleteKeptWithin): passes
 * that follow each answer's next_from, so a failing recording at the front
 * does not stop the ones after it, failures summed over the passes, and an
 * end when nothing is left, a pass makes no progress, or the time is spent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteKeptWithin, type CustomerDashboardContext } from '../../src/platform/customerDashboard.js';
import type { RecordingsDeleted } from '../../src/wire/platformApi.js';

/** A context whose passes answer from a script, recording the `from` each was asked with. */
function scripted(answers: RecordingsDeleted[], delayMs = 0): { ctx: CustomerDashboardContext; asked: number[] } {
  const asked: number[] = [];
  const ctx = {
    deleteKeptRecordings: async (_id: string, from: number) => {
      asked.push(from);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const next = answers.shift();
      assert.ok(next, 'asked for more passes than scripted');
      return next;
    },
  } as unknown as CustomerDashboardContext;
  return { ctx, asked };
}

describe('the dashboard deleting every recording, pass by pass', () => {
  it('follows next_from past failures and sums them', async () => {
    const { ctx, asked } = scripted([
      { deleted: 0, failed: 3, more: true, recording_now: 1, next_from: 3 },
      { deleted: 2, failed: 1, more: true, recording_now: 1, next_from: 6 },
      { deleted: 3, failed: 0, more: false, recording_now: 1 },
    ]);
    assert.deepEqual(await deleteKeptWithin(ctx, 'dep', 5_000), { deleted: 5, failed: 4, more: false, recording_now: 1 });
    assert.deepEqual(asked, [0, 3, 6]);
  });

  it('stops when a pass does not say where to go on, or would not move forward', async () => {
    const without = scripted([{ deleted: 4, failed: 0, more: true, recording_now: 0 }]);
    assert.deepEqual(await deleteKeptWithin(without.ctx, 'dep', 5_000), { deleted: 4, failed: 0, more: true, recording_now: 0 });
    const stuck = scripted([
      { deleted: 1, failed: 0, more: true, recording_now: 0, next_from: 2 },
      { deleted: 0, failed: 0, more: true, recording_now: 0, next_from: 2 },
    ]);
    assert.deepEqual(await deleteKeptWithin(stuck.ctx, 'dep', 5_000), { deleted: 1, failed: 0, more: true, recording_now: 0 });
    assert.deepEqual(stuck.asked, [0, 2]);
  });

  it('starts no pass once its time is spent, and says there is more', async () => {
    const answers = Array.from({ length: 50 }, (_, k) => ({ deleted: 1, failed: 0, more: true, recording_now: 0, next_from: k + 1 }));
    const { ctx, asked } = scripted(answers, 20);
    const result = await deleteKeptWithin(ctx, 'dep', 100);
    assert.equal(result.more, true);
    assert.ok(asked.length >= 2 && asked.length <= 8, `${asked.length} passes in 100 ms at 20 ms each`);
    assert.equal(result.deleted, asked.length);
  });
});
