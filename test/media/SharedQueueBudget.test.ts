/**
 * The bound many outbound queues share (a media worker's queued agent audio):
 * the rule on its own, then real OutboundQueues sharing one, and the worker's
 * sizing rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_AUDIO_HEAP_SHARE, agentAudioBudgetBytes, agentAudioBudgetFor, QUEUED_FRAME_OVERHEAD_BYTES } from '../../src/actors/agentAudioBudget.js';
import { OutboundQueue } from '../../src/media/OutboundQueue.js';
import { SharedQueueBudget } from '../../src/media/SharedQueueBudget.js';

const TEXT = { max: Number.POSITIVE_INFINITY, of: (f: string) => f.length };
const frame = (bytes: number, tag = 'x') => tag.padEnd(bytes, '.');

test('the rule: within the bound anything goes; past it, only within the fair share (the bound over the queues holding anything)', () => {
  const b = new SharedQueueBudget(1_000);
  assert.equal(b.admits(0, 1_000), true);
  b.take(0, 900);
  assert.equal(b.holders, 1);
  assert.equal(b.admits(900, 100), true, 'exactly at the bound');
  assert.equal(b.admits(900, 101), false, 'the only holder is past its share (the whole bound)');
  // A second queue with nothing queued: its share is half the bound, so it may pass the bound for a while.
  assert.equal(b.fairShare(0), 500);
  assert.equal(b.admits(0, 400), true);
  b.take(0, 400);
  assert.equal(b.holders, 2);
  assert.equal(b.over, true);
  assert.equal(b.admits(400, 100), true, 'within its share of 500');
  assert.equal(b.admits(400, 101), false);
  // Only the queue past its share sheds, and only what takes the total back to the bound.
  assert.equal(b.excess(400), 0);
  assert.equal(b.excess(900), 300);
  b.give(600, 300);
  assert.equal(b.over, false);
  assert.equal(b.excess(600), 0, 'within the bound nobody sheds');
  b.give(0, 600);
  b.give(0, 400);
  assert.equal(b.heldBytes, 0);
  assert.equal(b.holders, 0);
  assert.throws(() => new SharedQueueBudget(0), RangeError);
  assert.throws(() => new SharedQueueBudget(1.5), RangeError);
  assert.throws(() => new SharedQueueBudget(10, -1), RangeError);
});

test('queues sharing a bound: a queue pushing past its share drops its own oldest, one within its share never loses a frame', () => {
  const b = new SharedQueueBudget(1_000, 0);
  const big = new OutboundQueue<string>(10_000, TEXT, b);
  const small = new OutboundQueue<string>(10_000, TEXT, b);
  for (let i = 0; i < 10; i++) {
    big.push(frame(100, `b${i}`), i);
    if (i === 3) big.mark('after-b3');
  }
  assert.equal(b.heldBytes, 1_000);
  assert.deepEqual(big.push(frame(100, 'b:'), 10), []);
  assert.equal(big.budgetDrops, 1, 'alone and at the bound: its own oldest goes');
  assert.equal(big.overflowDrops, 1, "counted with the queue's other drops too");
  // The small queue's frames are within its share (500): taken, though the total passes the bound.
  for (let i = 0; i < 3; i++) small.push(frame(100, `s${i}`), i);
  assert.equal(small.budgetDrops, 0);
  assert.equal(b.heldBytes, 1_300);
  assert.equal(b.over, true);
  // The big one, past its share, sheds what takes the total back to the bound: its oldest three frames.
  assert.deepEqual(big.shed(), ['after-b3'], 'marks behind dropped frames pass');
  assert.equal(big.budgetDrops, 4);
  assert.equal(b.heldBytes, 1_000);
  assert.deepEqual(small.shed(), [], 'within its share: nothing');
  assert.equal(small.length, 3);
  // At the bound, the big queue pays for its own new frames; the small one grows to its share.
  big.push(frame(100, 'b;'), 11);
  assert.equal(big.budgetDrops, 5);
  small.push(frame(100, 's3'), 3);
  small.push(frame(100, 's4'), 4);
  assert.equal(small.budgetDrops, 0);
  assert.equal(small.length, 5, 'exactly its share');
  small.push(frame(100, 's5'), 5);
  assert.equal(small.budgetDrops, 1, 'past its share it loses its own oldest like anyone');
  assert.equal(small.shift()!.slice(0, 2), 's1');
  assert.equal(big.shift()!.slice(0, 2), 'b5');
  assert.equal(b.drops, big.budgetDrops + small.budgetDrops);
  // Frames sent, a barge-in's clear and an ended call's queue all give their bytes back.
  big.clear();
  small.clear();
  assert.equal(b.heldBytes, 0);
  assert.equal(b.holders, 0);
});

test('the greeting ahead of a queue is outside the shared bound and never cut for it', () => {
  const b = new SharedQueueBudget(300, 0);
  const q = new OutboundQueue<string>(10_000, TEXT, b);
  for (let i = 0; i < 5; i++) q.pushReserved(frame(100, `g${i}`));
  assert.equal(b.heldBytes, 0);
  for (let i = 0; i < 3; i++) q.push(frame(100, `a${i}`), i);
  q.push(frame(100, 'a3'), 3);
  assert.equal(q.budgetDrops, 1, 'behind the greeting the new frame is the one dropped');
  const other = new OutboundQueue<string>(10_000, TEXT, b);
  other.push(frame(100, 'o'), 0);
  assert.equal(b.over, true);
  assert.deepEqual(q.shed(), [], 'nothing is cut while the greeting is ahead');
  const out: string[] = [];
  for (let f = q.shift(); f !== undefined; f = q.shift()) out.push(f.slice(0, 2));
  assert.deepEqual(out, ['g0', 'g1', 'g2', 'g3', 'g4', 'a0', 'a1', 'a2']);
  assert.equal(b.heldBytes, 100);
});

test('each frame is charged its text plus the per-frame bytes; a budget needs a weight', () => {
  const b = new SharedQueueBudget(10_000, 64);
  const q = new OutboundQueue<string>(100, TEXT, b);
  q.push(frame(257), 0);
  assert.equal(q.chargedBytes, 257 + 64);
  assert.equal(b.heldBytes, 257 + 64);
  q.shift();
  assert.equal(b.heldBytes, 0);
  assert.throws(() => new OutboundQueue<string>(100, undefined, b), RangeError);
});

test("a worker's bound is a quarter of its heap limit: 128 MiB of 512", () => {
  assert.equal(AGENT_AUDIO_HEAP_SHARE, 0.25);
  assert.equal(agentAudioBudgetBytes(512), 128 * 1024 * 1024);
  const budget = agentAudioBudgetFor(64);
  assert.equal(budget.maxBytes, 16 * 1024 * 1024);
  assert.equal(budget.perFrameBytes, QUEUED_FRAME_OVERHEAD_BYTES);
  // Without a resourceLimits figure (the main thread), V8's own limit for this heap.
  assert.ok(agentAudioBudgetFor(undefined).maxBytes > 16 * 1024 * 1024);
});
