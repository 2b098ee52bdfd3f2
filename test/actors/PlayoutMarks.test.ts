import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundQueue } from '../../src/media/OutboundQueue.js';
import { AGENT_MARK_PREFIX, PlayoutMarks, isValidMarkName } from '../../src/actors/PlayoutMarks.js';

function setup() {
  const toProvider: string[] = [];
  const toAgent: string[] = [];
  const marks = new PlayoutMarks((n) => toProvider.push(n), (n) => toAgent.push(n));
  const queue = new OutboundQueue<string>(100);
  return { marks, queue, toProvider, toAgent };
}

test('a mark inside a partial frame follows that frame; the provider echo tells the agent', () => {
  const { marks, queue, toProvider, toAgent } = setup();
  marks.add('mid-frame', 50, queue); // 50 samples are still in the framer
  assert.deepEqual(toProvider, []);
  marks.add('next-frame', 170, queue); // 10 samples into the frame after
  queue.push('frame-1', 0); // the frame holding the first 50 samples is queued...
  marks.framed(160, queue);
  assert.equal(queue.pendingMarks, 1, '...and the mark waits behind it');
  assert.deepEqual(toProvider, []);
  queue.shift();
  marks.sent(queue.passedMarks());
  assert.deepEqual(toProvider, [`${AGENT_MARK_PREFIX}mid-frame`]);
  queue.push('frame-2', 0);
  marks.framed(160, queue);
  assert.equal(queue.pendingMarks, 1, 'the second mark follows the second frame');
  assert.equal(marks.inFlight, 1);
  queue.shift();
  marks.sent(queue.passedMarks());
  assert.deepEqual(toProvider, [`${AGENT_MARK_PREFIX}mid-frame`, `${AGENT_MARK_PREFIX}next-frame`]);
  assert.equal(marks.inFlight, 2);
  marks.echoed(`${AGENT_MARK_PREFIX}next-frame`);
  assert.equal(marks.inFlight, 1);
  assert.equal(marks.echoed('ttma-hangup'), false, 'our own marks are not the agent\'s');
  assert.equal(marks.echoed(`${AGENT_MARK_PREFIX}mid-frame`), true);
  assert.deepEqual(toAgent, ['next-frame', 'mid-frame'], 'told in the order the provider echoes');
  assert.equal(marks.inFlight, 0);
  assert.equal(marks.echoed(`${AGENT_MARK_PREFIX}mid-frame`), true, 'a second echo is swallowed');
  assert.deepEqual(toAgent, ['next-frame', 'mid-frame']);
});

test('marks wait in the queue behind their frames and pass as the frames are sent', () => {
  const { marks, queue, toProvider } = setup();
  queue.push('f1', 0);
  marks.add('after-f1', 0, queue);
  assert.deepEqual(toProvider, []);
  queue.shift();
  marks.sent(queue.passedMarks());
  assert.deepEqual(toProvider, [`${AGENT_MARK_PREFIX}after-f1`]);
});

test('barge-in: echoed and at-provider marks count as played, queued and framer marks as dropped; late echoes are ignored', () => {
  const { marks, queue, toProvider, toAgent } = setup();
  marks.add('heard', 0, queue); // nothing queued: straight to the provider
  marks.echoed(`${AGENT_MARK_PREFIX}heard`);
  marks.add('at-provider', 0, queue);
  queue.push('f1', 0);
  marks.add('queued', 0, queue);
  marks.add('in-framer', 80, queue);
  assert.deepEqual(toProvider, [`${AGENT_MARK_PREFIX}heard`, `${AGENT_MARK_PREFIX}at-provider`]);
  const cleared = queue.clear();
  assert.deepEqual(marks.cleared(cleared.marks), { played: ['heard', 'at-provider'], dropped: ['queued', 'in-framer'] });
  // The provider returns its pending marks on clear: already reported, so the agent hears nothing more.
  marks.echoed(`${AGENT_MARK_PREFIX}at-provider`);
  assert.deepEqual(toAgent, ['heard']);
  assert.equal(marks.inFlight, 0);
  // The next barge-in reports only what played since this one.
  assert.deepEqual(marks.cleared([]), { played: [], dropped: [] });
});

test('mark names: 1 to 64 printable ASCII characters', () => {
  assert.ok(isValidMarkName('turn-3 sentence 2'));
  assert.ok(isValidMarkName('x'.repeat(64)));
  for (const bad of ['', 'x'.repeat(65), 'a\nb', 'caf\u00e9', 42, null, undefined]) assert.equal(isValidMarkName(bad), false, String(bad));
});

test('a lost stream: its marks at the provider count as played and tell the agent; a mark reusing a name is heard again', () => {
  const { marks, queue, toAgent } = setup();
  marks.add('sent-1', 0, queue);
  marks.add('sent-2', 0, queue);
  queue.push('f1', 0);
  marks.add('queued', 0, queue);
  marks.streamLost();
  assert.deepEqual(toAgent, ['sent-1', 'sent-2'], 'their audio was paced out before the stream went');
  assert.equal(marks.inFlight, 0);
  assert.equal(queue.pendingMarks, 1, 'a queued mark still waits for its frame, to go to the new stream');
  marks.echoed(`${AGENT_MARK_PREFIX}sent-1`);
  assert.deepEqual(toAgent, ['sent-1', 'sent-2'], 'an echo of a mark not at the provider tells nobody');
  assert.deepEqual(marks.cleared([]), { played: ['sent-1', 'sent-2'], dropped: [] }, 'reported as played at the next barge-in');
  // On the new stream the agent uses a name again: its echo counts.
  marks.add('sent-1', 0, new OutboundQueue<string>(100));
  marks.echoed(`${AGENT_MARK_PREFIX}sent-1`);
  assert.deepEqual(toAgent, ['sent-1', 'sent-2', 'sent-1']);
});
