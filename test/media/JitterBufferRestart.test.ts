/**
 * When the frame counter means a new stream, and when it does not. One frame
 * far outside the stream (a stale copy, a garbled counter) is discarded and
 * counted; a counter that really moved (a provider restart without a new
 * `start`) is confirmed by the next frame and restarts the stream once, with
 * nothing of the new stream lost. Call-path settings (CallActor: eager,
 * min 20 ms, max 200 ms, PCMU payloads), and the clocked mode too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer } from '../../src/media/JitterBuffer.js';
import { PayloadPlayout } from '../../src/media/PayloadPlayout.js';
import { createPhoneCodec } from '../../src/media/codecs.js';

type Event = [seq: number, atMs: number];

interface Outcome {
  /** Sequence numbers played as audio, in order. */
  played: number[];
  synthetic: number;
  stats: JitterBuffer['stats'];
}

function replay(events: Event[], eager = true): Outcome {
  const codec = createPhoneCodec({ encoding: 'PCMU', sample_rate: 8000 });
  const jb = new JitterBuffer<Uint8Array>({ samplesPerFrame: 160, minDelayMs: 20, maxDelayMs: 200, concealer: new PayloadPlayout(codec) as never, eager });
  const out: Outcome = { played: [], synthetic: 0, stats: jb.stats };
  const drain = (now: number): void => {
    for (let f = jb.pop(now); f; f = jb.pop(now)) f.kind === 'audio' ? out.played.push(f.seq!) : out.synthetic++;
  };
  for (const [seq, at] of events) {
    jb.push(seq, at, new Uint8Array(160).fill(seq & 0x7f));
    drain(at);
  }
  const last = events.at(-1)![1];
  for (let t = last; t <= last + 1000; t += 5) drain(t); // a 5 ms clock after the last frame (clocked: conceals past the end)
  out.stats = jb.stats;
  return out;
}

/** Frames `from`..`to`, one every 20 ms from `atMs`. */
function stream(from: number, to: number, atMs: number): Event[] {
  const events: Event[] = [];
  for (let seq = from; seq <= to; seq++) events.push([seq, atMs + (seq - from) * 20]);
  return events;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('(B) the counter goes back to 1 after 60 frames, no new start: one restart, all 160 frames played', () => {
  for (const eager of [true, false]) {
    const o = replay([...stream(1, 60, 1000), ...stream(1, 100, 1000 + 60 * 20)], eager);
    assert.deepEqual(o.played, [...range(1, 60), ...range(1, 100)], `eager ${eager}`);
    assert.deepEqual([o.stats.resets, o.stats.duplicates, o.stats.late, o.stats.dropped], [1, 0, 0, 0], `eager ${eager}`);
    if (eager) assert.deepEqual([o.stats.lost, o.synthetic], [0, 0]); // a clocked buffer goes on concealing after the last frame
  }
});

test('(B2) the counter goes back to 1 after 200 frames (beyond the remembered history): one restart, nothing lost', () => {
  const o = replay([...stream(1, 200, 1000), ...stream(1, 100, 1000 + 200 * 20)]);
  assert.deepEqual(o.played, [...range(1, 200), ...range(1, 100)]);
  assert.deepEqual([o.stats.resets, o.stats.late, o.stats.dropped], [1, 0, 0]);
});

test('a new stream whose first two frames come swapped still restarts once and plays in order', () => {
  const events = stream(1, 60, 1000);
  const t = 1000 + 60 * 20;
  events.push([2, t + 20], [1, t + 21], ...stream(3, 50, t + 40));
  const o = replay(events);
  assert.deepEqual(o.played, [...range(1, 60), ...range(1, 50)]);
  assert.equal(o.stats.resets, 1);
  assert.equal(o.synthetic, 0);
});

test('(C) one stale copy of chunk 1 after frame 300 is counted late and dropped: no restart, nothing out of order', () => {
  for (const eager of [true, false]) {
    const events = stream(1, 350, 1000);
    events.splice(300, 0, [1, 1000 + 299 * 20 + 1]);
    const o = replay(events, eager);
    assert.deepEqual(o.played, range(1, 350), `eager ${eager}`);
    assert.deepEqual([o.stats.resets, o.stats.late, o.stats.dropped, o.stats.received], [0, 1, 0, 351], `eager ${eager}`);
  }
});

test('(D) one frame with chunk 999999999999999 mid-stream is dropped: no restart, never played', () => {
  for (const eager of [true, false]) {
    const events = stream(1, 100, 1000);
    events.splice(50, 0, [999_999_999_999_999, 1000 + 49 * 20 + 1]);
    const o = replay(events, eager);
    assert.deepEqual(o.played, range(1, 100), `eager ${eager}`);
    assert.deepEqual([o.stats.resets, o.stats.dropped, o.stats.late, o.stats.received], [0, 1, 0, 101], `eager ${eager}`);
  }
});

test('a stray far behind, then one far ahead: both dropped, neither confirms the other', () => {
  const events = stream(1, 100, 1000);
  events.splice(80, 0, [3, 1000 + 79 * 20 + 1], [5_000, 1000 + 79 * 20 + 2]);
  const o = replay(events);
  assert.deepEqual(o.played, range(1, 100));
  assert.deepEqual([o.stats.resets, o.stats.duplicates, o.stats.dropped], [0, 1, 1], 'a copy of played frame 3 is a duplicate');
});

test('a copy of a played frame far behind is a duplicate; a concealed frame arriving far behind is late, not a stray', () => {
  // Frame 30 is lost (31 held: concealed), then arrives 400 ms later, 20 frames behind: a late arrival of this stream.
  const events = stream(1, 100, 1000).filter(([seq]) => seq !== 30);
  events.splice(49, 0, [30, 1000 + 49 * 20 + 1], [31, 1000 + 49 * 20 + 2]);
  const o = replay(events);
  assert.deepEqual(o.played, range(1, 100).filter((seq) => seq !== 30));
  assert.deepEqual([o.stats.resets, o.stats.late, o.stats.lost, o.stats.duplicates], [0, 1, 0, 1]);
});

test('the first frames arriving long after the stream opened on later ones are late, not a new stream', () => {
  // Frames 1-3 held up 500 ms; the stream opens on 4 and plays on.
  const events = stream(4, 60, 1060);
  events.splice(25, 0, [1, 1000 + 25 * 20 + 1], [2, 1000 + 25 * 20 + 2], [3, 1000 + 25 * 20 + 3]);
  const o = replay(events);
  assert.deepEqual(o.played, range(4, 60));
  assert.deepEqual([o.stats.resets, o.stats.late], [0, 3]);
});
