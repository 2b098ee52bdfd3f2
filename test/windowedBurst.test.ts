/** The windowed burst counter behind RefusalLog and AgentErrorBudget (src/WindowedBurst.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowedBurst, type HeldBack } from '../src/WindowedBurst.js';
import { AgentErrorBudget, type AgentErrorMessage } from '../src/agent/AgentErrorBudget.js';

test('per key, the first `burst` pass; the rest are summarized once when the window rolls over', () => {
  let now = 5_000;
  const summaries: Array<HeldBack<string>> = [];
  const burst = new WindowedBurst<string>({ burst: 2, windowMs: 1_000, now: () => now, summarize: (h) => summaries.push(h) });
  const passed = ['a', 'a', 'a', 'b', 'a', 'b', 'b'].map((key, i) => burst.admit(key, `${key}${i}`));
  assert.deepEqual(passed, [true, true, false, true, false, true, false]);
  now += 1_500;
  assert.equal(burst.admit('a', 'later'), true);
  assert.deepEqual(summaries, [
    { key: 'a', held: 2, detail: 'a0', elapsedMs: 1_500 },
    { key: 'b', held: 1, detail: 'b3', elapsedMs: 1_500 },
  ]);
  burst.stop();
});

test('summaryUsesBurst: the summary is one of the next window\'s burst', () => {
  let now = 0;
  const burst = new WindowedBurst<undefined>({ burst: 3, windowMs: 1_000, now: () => now, summaryUsesBurst: true, summarize: () => {} });
  for (let i = 0; i < 5; i++) burst.admit('k', undefined);
  now = 1_000;
  assert.deepEqual([0, 1, 2].map(() => burst.admit('k', undefined)), [true, true, false]);
  burst.stop();
});

// Regression: a window rolled over by a call left the old window's timer armed;
// when it fired it ended the new window early and let a second burst through.
test('an agent gets at most `perSecond` errors (summary included) in a second, even when a window rolls over before its timer fires', async () => {
  let now = 0;
  const sent: Array<{ at: number; message: AgentErrorMessage }> = [];
  const budget = new AgentErrorBudget((message) => sent.push({ at: now, message }), 10, () => now);
  for (let i = 0; i < 10; i++) budget.error('E', `first ${i}`);
  now = 990;
  budget.error('E', 'held'); // held back; the summary timer is due 10 ms from now
  now = 1_000;
  for (let i = 0; i < 15; i++) budget.error('E', `second ${i}`);
  await new Promise((resolve) => setTimeout(resolve, 60)); // past when the old timer was due
  for (let i = 0; i < 5; i++) budget.error('E', `more ${i}`);
  const inSecond = sent.filter((s) => s.at === 1_000).map((s) => s.message);
  assert.equal(inSecond.length, 10, JSON.stringify(inSecond));
  assert.equal(inSecond[0]!.suppressed, 1, 'the summary of the first second comes first');
  budget.close();
});
