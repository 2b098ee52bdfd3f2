import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer, type JitterFrame, type JitterBufferOptions } from '../../src/media/JitterBuffer.js';
import type { FrameConcealer } from '../../src/media/Concealer.js';
import { SpeechLikeSignal } from '../../src/media/testSignal.js';
import { prng } from '../helpers/prng.js';

const N = 160; // 20 ms at 8 kHz


function frameOf(value: number): Int16Array {
  return new Int16Array(N).fill(value);
}

interface Arrival {
  seq: number;
  at: number;
  pcm: Int16Array;
}

interface Played extends JitterFrame {
  at: number;
}

/**
 * The caller CallActor will be: push each frame when it arrives and drain pop()
 * right after, plus a 20 ms timer (at `phase`) that drains too. Runs until
 * `endMs`; `onTime` sees every event time (for stats snapshots).
 */
function drive(
  jb: JitterBuffer,
  arrivals: Arrival[],
  endMs: number,
  phase = 7,
  onTime?: (now: number) => void,
  tickMs = 20,
): Played[] {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const out: Played[] = [];
  let next = 0;
  for (let tick = phase; tick <= endMs; ) {
    let now: number;
    const arrival = sorted[next];
    if (arrival !== undefined && arrival.at <= tick) {
      now = arrival.at;
      jb.push(arrival.seq, now, arrival.pcm);
      next++;
    } else {
      now = tick;
      tick += tickMs;
    }
    onTime?.(now);
    for (let f = jb.pop(now); f !== undefined; f = jb.pop(now)) out.push({ ...f, at: now });
  }
  return out;
}

/** Speech-like frames, and a network that delays each by uniform [0, jitterMs) and loses `loss` of them. */
function network(frames: number, jitterMs: number, loss: number, seed: number): { original: Int16Array[]; arrivals: Arrival[] } {
  const speech = new SpeechLikeSignal(8000, 3);
  const rand = prng(seed);
  const original: Int16Array[] = [];
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < frames; seq++) {
    const pcm = speech.next(N);
    original.push(pcm);
    const lost = rand() < loss;
    const delay = rand() * jitterMs;
    if (!lost) arrivals.push({ seq, at: 1000 + seq * 20 + delay, pcm: new Int16Array(pcm) });
  }
  return { original, arrivals };
}

test('zero jitter (loopback): pop at the arrival time returns the frame itself, the target stays at the floor', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N });
  for (let i = 0; i < 500; i++) {
    const at = 5000 + i * 20;
    const seq = 42 + i;
    if (i > 0) assert.equal(jb.pop(at), undefined, 'a tick just before the frame arrives waits for it');
    const pcm = frameOf(i);
    jb.push(seq, at, pcm);
    const f = jb.pop(at);
    assert.ok(f !== undefined, `frame ${i} at its own arrival time`);
    assert.equal(f.pcm, pcm, 'the pushed array itself: no copy, no delay');
    assert.equal(f.kind, 'audio');
    assert.equal(f.seq, seq);
    assert.equal(jb.pop(at), undefined);
    assert.equal(jb.pop(at + 10), undefined, 'a tick between frames gets nothing');
  }
  const s = jb.stats;
  assert.equal(s.targetDelayMs, 0);
  assert.equal(s.delayMs, 0);
  assert.equal(s.jitterMs, 0);
  assert.deepEqual(
    [s.late, s.lost, s.concealed, s.duplicates, s.dropped, s.resets, s.received, s.played, s.buffered],
    [0, 0, 0, 0, 0, 0, 500, 500, 0],
  );
});

test('near-zero jitter (+-2 ms) with a 20 ms timer as well: every frame audio, the target stays at the floor', () => {
  const rand = prng(11);
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < 1500; seq++) arrivals.push({ seq, at: 100 + seq * 20 + (rand() - 0.5) * 4, pcm: frameOf(seq) });
  const jb = new JitterBuffer({ samplesPerFrame: N });
  let maxTarget = 0;
  const out = drive(jb, arrivals, 100 + 1500 * 20, 13, () => {
    maxTarget = Math.max(maxTarget, jb.stats.targetDelayMs);
  });
  assert.equal(maxTarget, 0);
  assert.equal(out.length, 1500);
  assert.ok(out.every((f, i) => f.kind === 'audio' && f.seq === i && f.pcm[0] === i));
  // Added delay, popping every 0.25 ms: at most the 4 ms spread of the jitter (a frame ahead of the first one's pace waits).
  const jb2 = new JitterBuffer({ samplesPerFrame: N });
  const out2 = drive(jb2, arrivals, 100 + 1500 * 20, 0, undefined, 0.25);
  assert.ok(out2.every((f, i) => f.kind === 'audio' && f.seq === i));
  const worst = Math.max(...out2.map((f) => f.at - arrivals[f.seq!]!.at));
  assert.ok(worst <= 4.25, `worst added delay ${worst} ms`);
});

test('a floor of 40 ms: each frame comes out exactly 40 ms after it arrived', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 40 });
  for (let i = 0; i < 100; i++) {
    jb.push(i, i * 20, frameOf(i));
    if (i < 2) continue;
    assert.equal(jb.pop((i - 2) * 20 + 39.9), undefined);
    assert.equal(jb.pop((i - 2) * 20 + 40)?.seq, i - 2);
  }
  assert.equal(jb.stats.targetDelayMs, 40);
  assert.equal(jb.stats.delayMs, 40);
});

test('shuffled input comes out in order', () => {
  // Everything arrives before the first pop, in a random order: the earliest frame opens the stream.
  const jb = new JitterBuffer({ samplesPerFrame: N });
  const order = [3, 1, 4, 0, 6, 2, 5];
  order.forEach((seq, i) => jb.push(100 + seq, i, frameOf(seq)));
  const out: (number | undefined)[] = [];
  for (let t = 0; t < 200; t++) for (let f = jb.pop(t); f !== undefined; f = jb.pop(t)) if (f.kind === 'audio') out.push(f.seq);
  assert.deepEqual(out, [100, 101, 102, 103, 104, 105, 106]);

  // A stream reordered by up to 60 ms of jitter, with a 100 ms floor: all in order, all audio.
  const rand = prng(3);
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < 500; seq++) arrivals.push({ seq, at: seq * 20 + rand() * 60, pcm: frameOf(seq) });
  const reordered = [...arrivals].sort((a, b) => a.at - b.at).filter((a, i, all) => i > 0 && a.seq < all[i - 1]!.seq).length;
  assert.ok(reordered > 50, `the network reorders (${reordered} frames overtaken)`);
  const jb2 = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 100 });
  const played = drive(jb2, arrivals, 500 * 20);
  assert.ok(played.length >= 490);
  assert.ok(played.every((f, i) => f.kind === 'audio' && f.seq === i && f.pcm[0] === i));
});

test('duplicates are discarded and counted, buffered or already played', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 40 });
  jb.push(0, 0, frameOf(0));
  jb.push(1, 20, frameOf(1));
  jb.push(1, 21, frameOf(99));
  assert.equal(jb.stats.duplicates, 1);
  assert.equal(jb.pop(40)?.pcm[0], 0);
  assert.equal(jb.pop(60)?.pcm[0], 1, 'the first copy plays');
  jb.push(0, 61, frameOf(98));
  jb.push(1, 62, frameOf(97));
  const s = jb.stats;
  assert.equal(s.duplicates, 3);
  assert.equal(s.late, 0);
  assert.equal(s.received, 5);
  assert.equal(s.buffered, 0);
});

test('late and lost: a frame after its slot is late (not lost); one that never comes is lost', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N });
  const kinds: string[] = [];
  const pop = (t: number): void => {
    for (let f = jb.pop(t); f !== undefined; f = jb.pop(t)) kinds.push(`${f.seq}:${f.kind}`);
  };
  for (let i = 0; i < 5; i++) {
    jb.push(i, i * 20, frameOf(1000));
    pop(i * 20);
  }
  pop(100); // frame 5 is due; within the grace it is waited for
  assert.equal(kinds.length, 5);
  pop(100 + jb.graceMs);
  assert.equal(kinds.at(-1), '5:concealed');
  assert.equal(jb.stats.lost, 1);
  jb.push(6, 120, frameOf(1000));
  pop(120);
  jb.push(5, 130, frameOf(1000)); // 30 ms late: its slot has passed
  let s = jb.stats;
  assert.equal(s.late, 1);
  assert.equal(s.lost, 0, 'a late frame is not lost');
  assert.equal(s.concealed, 1);
  assert.ok(s.targetDelayMs >= 20, `a late frame early in the call raises the target at once (${s.targetDelayMs})`);
  // Frame 7 never comes. The target is now above the headroom: a frame is inserted in front of 7 first.
  jb.push(8, 160, frameOf(1000));
  pop(160);
  pop(170);
  pop(190);
  jb.push(9, 180, frameOf(1000));
  pop(200);
  pop(220);
  s = jb.stats;
  assert.equal(s.lost, 1, 'frame 7 is lost');
  assert.ok(kinds.includes('undefined:concealed'), `growth inserts a frame: ${kinds.join(' ')}`);
  assert.ok(kinds.includes('7:concealed'));
  assert.ok(kinds.includes('8:audio') && kinds.includes('9:audio'));
  // A very late frame (long passed, within the history) is late; a copy of it then is a duplicate.
  jb.push(2, 230, frameOf(1000));
  assert.equal(jb.stats.duplicates, 1, 'frame 2 was played: a copy');
  jb.push(7, 240, frameOf(1000));
  jb.push(7, 241, frameOf(1000));
  s = jb.stats;
  assert.equal(s.late, 2);
  assert.equal(s.lost, 0);
  assert.equal(s.duplicates, 2);
});

test('jitter is RFC 3550 interarrival jitter (J += (|D| - J) / 16) over arrival order', () => {
  // Hand-worked: transits 0, 10, 0, 0 give D = 10, -10, 0.
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 100 });
  jb.push(0, 1000, frameOf(0));
  jb.push(1, 1030, frameOf(0));
  jb.push(2, 1040, frameOf(0));
  jb.push(3, 1060, frameOf(0));
  const j1 = 10 / 16;
  const j2 = j1 + (10 - j1) / 16;
  const j3 = j2 - j2 / 16;
  assert.equal(jb.stats.jitterMs, j3);

  // A reordered, jittered stream: same as the formula computed here, packet by packet in arrival order.
  const rand = prng(5);
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < 2000; seq++) arrivals.push({ seq, at: seq * 20 + rand() * 50, pcm: frameOf(0) });
  arrivals.sort((a, b) => a.at - b.at);
  let expected = 0;
  for (let i = 1; i < arrivals.length; i++) {
    const a = arrivals[i]!;
    const b = arrivals[i - 1]!;
    const d = a.at - b.at - (a.seq - b.seq) * 20;
    expected += (Math.abs(d) - expected) / 16;
  }
  const jb2 = new JitterBuffer({ samplesPerFrame: N });
  drive(jb2, arrivals, 2000 * 20);
  assert.ok(Math.abs(jb2.stats.jitterMs - expected) < 1e-9, `${jb2.stats.jitterMs} vs ${expected}`);
});

test('40 ms uniform jitter, 3000 frames: late loss under 1% after 2 s, target inside floor..ceiling', (t) => {
  for (const seed of [1, 2, 3]) {
    const { arrivals } = network(3000, 40, 0, seed);
    const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 0, maxDelayMs: 200 });
    let at2s: number | undefined;
    let minTarget = Infinity;
    let maxTarget = -Infinity;
    const delays: number[] = [];
    const out = drive(jb, arrivals, 1000 + 3000 * 20, 7, (now) => {
      const s = jb.stats;
      if (now >= 3000) {
        at2s ??= s.late;
        minTarget = Math.min(minTarget, s.targetDelayMs);
        maxTarget = Math.max(maxTarget, s.targetDelayMs);
        delays.push(s.delayMs);
      }
    });
    const s = jb.stats;
    const lateRate = (s.late - at2s!) / 2900;
    const meanDelay = delays.reduce((a, b) => a + b, 0) / delays.length;
    t.diagnostic(
      `seed ${seed}: late after 2 s ${s.late - at2s!}/2900 (${(lateRate * 100).toFixed(2)}%), all late ${s.late}, target ${minTarget}..${maxTarget} ms, ` +
        `mean delay ${meanDelay.toFixed(1)} ms, inserted ${s.concealed - s.lost - s.late}, dropped ${s.dropped}`,
    );
    assert.ok(lateRate < 0.01, `late loss ${lateRate}`);
    assert.ok(minTarget >= 0 && maxTarget <= 200);
    assert.equal(s.targetDelayMs, 40, 'two frames cover 40 ms of jitter');
    assert.ok(meanDelay >= 30 && meanDelay < 60, `mean delay ${meanDelay}`);
    assert.ok(out.filter((f) => f.kind === 'audio').length >= 2990);
  }
});

test('jitter beyond the ceiling: the target is clamped to maxDelay and memory stays bounded', () => {
  const rand = prng(9);
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < 1000; seq++) arrivals.push({ seq, at: seq * 20 + rand() * 300, pcm: frameOf(seq) });
  const jb = new JitterBuffer({ samplesPerFrame: N, maxDelayMs: 100 });
  let maxBuffered = 0;
  let maxTarget = 0;
  drive(jb, arrivals, 1000 * 20 + 400, 7, () => {
    maxBuffered = Math.max(maxBuffered, jb.stats.buffered);
    maxTarget = Math.max(maxTarget, jb.stats.targetDelayMs);
  });
  assert.equal(maxTarget, 100);
  assert.ok(maxBuffered <= jb.capacityFrames, `${maxBuffered} held, capacity ${jb.capacityFrames}`);
  assert.ok(jb.stats.late > 0);
});

test('5% loss and 40 ms jitter: the Concealer beats zero-fill on SNR against the original speech', (t) => {
  const zeroFill: FrameConcealer = { good: (pcm) => pcm, conceal: () => new Int16Array(N), reset: () => {} };
  const snr = (original: Int16Array[], out: Played[]): number => {
    const bySeq = new Map<number, Int16Array>();
    for (const f of out) if (f.seq !== undefined) bySeq.set(f.seq, f.pcm);
    let signal = 0;
    let error = 0;
    original.forEach((ref, seq) => {
      const got = bySeq.get(seq);
      for (let i = 0; i < N; i++) {
        signal += ref[i]! * ref[i]!;
        error += (ref[i]! - (got?.[i] ?? 0)) ** 2;
      }
    });
    return 10 * Math.log10(signal / error);
  };
  for (const seed of [1, 3]) {
    const { original, arrivals } = network(3000, 40, 0.05, seed);
    const run = (concealer?: FrameConcealer): { db: number; stats: JitterBuffer['stats'] } => {
      const options: JitterBufferOptions = concealer === undefined ? { samplesPerFrame: N } : { samplesPerFrame: N, concealer };
      const jb = new JitterBuffer(options);
      const out = drive(jb, arrivals.map((a) => ({ ...a, pcm: new Int16Array(a.pcm) })), 1000 + 3000 * 20 - 1);
      return { db: snr(original, out), stats: jb.stats };
    };
    const plc = run();
    const zero = run(zeroFill);
    t.diagnostic(
      `seed ${seed}: SNR with Concealer ${plc.db.toFixed(2)} dB, zero-fill ${zero.db.toFixed(2)} dB ` +
        `(lost ${plc.stats.lost}, late ${plc.stats.late}, concealed ${plc.stats.concealed}, target ${plc.stats.targetDelayMs} ms)`,
    );
    assert.ok(plc.db > zero.db + 1.5, `Concealer ${plc.db} dB vs zero-fill ${zero.db} dB`);
    assert.ok(plc.stats.lost > 100 && plc.stats.lost < 200);
  }
});

test('a long loss fades to silence, and audio comes back when frames do', () => {
  const speech = new SpeechLikeSignal(8000, 2);
  speech.next(8000 * 0.5); // into voiced speech
  const jb = new JitterBuffer({ samplesPerFrame: N });
  const kinds: string[] = [];
  for (let i = 0; i < 10; i++) {
    jb.push(i, i * 20, speech.next(N));
    kinds.push(jb.pop(i * 20)!.kind);
  }
  const rms: number[] = [];
  for (let i = 10; i < 20; i++) {
    const f = jb.pop(i * 20 + 10)!;
    kinds.push(f.kind);
    rms.push(Math.sqrt(f.pcm.reduce((a, v) => a + v * v, 0) / N));
  }
  assert.deepEqual(kinds.slice(10), ['concealed', 'concealed', 'concealed', 'silence', 'silence', 'silence', 'silence', 'silence', 'silence', 'silence']);
  assert.ok(rms[0]! > 300 && rms[1]! < rms[0]! && rms[2]! < rms[1]!, `fading: ${rms.map(Math.round).join(' ')}`);
  assert.equal(jb.stats.lost, 10);
  jb.push(20, 400, speech.next(N));
  const back = jb.pop(400)!;
  assert.equal(back.kind, 'audio');
  assert.equal(back.seq, 20);
});

test('bounded memory: frames far in the future restart the stream (once two agree) instead of growing the buffer', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, maxDelayMs: 200 });
  assert.equal(jb.capacityFrames, 14);
  jb.push(0, 0, frameOf(0));
  for (let seq = 1; seq < jb.capacityFrames; seq++) jb.push(seq, 1, frameOf(seq));
  assert.equal(jb.stats.buffered, 14);
  jb.push(jb.capacityFrames, 2, frameOf(1)); // next + capacity: too far ahead
  let s = jb.stats;
  assert.deepEqual([s.resets, s.buffered, s.dropped], [0, 14, 1], 'alone, it is held aside and counted dropped');
  jb.push(jb.capacityFrames + 1, 3, frameOf(1)); // a second one next to it: the counter moved
  s = jb.stats;
  assert.equal(s.resets, 1);
  assert.equal(s.buffered, 2, 'both frames of the new stream are kept');
  assert.equal(s.dropped, 14, 'the old stream is dropped; the first new frame no longer counts');
  assert.equal(jb.pop(3)?.seq, 14, 'the new stream plays at once (floor 0)');
  assert.equal(jb.pop(22)?.seq, 15, 'and on, one frame later');
  // A provider restart far ahead: a new stream.
  jb.push(1_000_000, 50, frameOf(2));
  jb.push(1_000_001, 70, frameOf(2));
  assert.equal(jb.pop(70)?.seq, 1_000_000);
  assert.equal(jb.pop(70)?.seq, 1_000_001);
  // Frames each far from the last: every one a stray, none buffered.
  for (let seq = 1_000_020; seq < 1_000_300; seq += 20) jb.push(seq, 80, frameOf(0));
  s = jb.stats;
  assert.ok(s.buffered <= jb.capacityFrames);
  assert.equal(s.resets, 2);
  for (let t = 80; t < 2000; t += 20) while (jb.pop(t) !== undefined);
  // A counter that went back to 1: a new stream once the second frame agrees.
  jb.push(1, 2000, frameOf(3));
  jb.push(2, 2020, frameOf(3));
  assert.equal(jb.stats.buffered, 2);
  assert.equal(jb.pop(2020)?.seq, 1);
  assert.equal(jb.stats.resets, 3);
});

test('the delay shrinks after the jitter goes: one frame at a time, never below the target', (t) => {
  // 60 ms of jitter for 10 s, then none for 60 s.
  const rand = prng(21);
  const arrivals: Arrival[] = [];
  const quiet = frameOf(5); // quiet frames, so drops need no forced skip
  for (let seq = 0; seq < 3500; seq++) arrivals.push({ seq, at: seq * 20 + (seq < 500 ? rand() * 60 : 0), pcm: quiet });
  const jb = new JitterBuffer({ samplesPerFrame: N });
  const trace: string[] = [];
  drive(jb, arrivals, 3500 * 20, 7, (now) => {
    if (now % 10000 < 0.001 || Math.abs((now % 10000) - 10000) < 0.001) {
      const s = jb.stats;
      trace.push(`${Math.round(now / 1000)}s: target ${s.targetDelayMs} delay ${s.delayMs.toFixed(0)} dropped ${s.dropped}`);
    }
  });
  t.diagnostic(trace.join('; '));
  const s = jb.stats;
  assert.equal(s.targetDelayMs, 0);
  assert.ok(s.delayMs >= 0 && s.delayMs < 20, `delay ${s.delayMs}`);
  assert.ok(s.dropped >= 2);
});

test('a late first frame: the excess delay it anchored goes by skipping (forced when nothing is quiet)', () => {
  // The first four frames come 80 ms late in a burst (a slow start); then a steady, loud stream.
  const jb = new JitterBuffer({ samplesPerFrame: N });
  const loud = Int16Array.from({ length: N }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * i) / 40)));
  const arrivals: Arrival[] = [];
  for (let seq = 0; seq < 1000; seq++) arrivals.push({ seq, at: seq < 4 ? 80 + seq : seq * 20, pcm: new Int16Array(loud) });
  let early = 0;
  drive(jb, arrivals, 1000 * 20, 7, (now) => {
    if (now === 1000) early = jb.stats.delayMs;
  });
  const s = jb.stats;
  assert.equal(early, 80);
  assert.ok(s.delayMs < 20, `delay ${s.delayMs}`);
  assert.equal(s.dropped, 4);
  assert.equal(s.concealed, 0);
});

test('reset forgets the stream but keeps the counters', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N });
  jb.push(5, 0, frameOf(1));
  jb.push(5, 0, frameOf(1));
  jb.reset();
  assert.equal(jb.pop(1000), undefined);
  jb.push(900, 1000, frameOf(2));
  assert.equal(jb.pop(1000)?.seq, 900);
  assert.equal(jb.stats.duplicates, 1);
  assert.equal(jb.stats.received, 3);
});

test('options and frames are checked', () => {
  assert.throws(() => new JitterBuffer({ samplesPerFrame: 0 }), RangeError);
  assert.throws(() => new JitterBuffer({ samplesPerFrame: N, minDelayMs: 50, maxDelayMs: 40 }), RangeError);
  assert.throws(() => new JitterBuffer({ samplesPerFrame: N, maxLateLossRate: 0 }), RangeError);
  const jb = new JitterBuffer({ samplesPerFrame: N });
  assert.throws(() => jb.push(1.5, 0, frameOf(0)), RangeError);
  assert.throws(() => jb.push(1, 0, new Int16Array(80)), RangeError);
});

// ---- Eager release (the call path: the consumer is an agent, not a sound card) ----

test('eager: an in-sequence frame is released at once, even before its playout time', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 60, eager: true });
  jb.push(0, 1000, frameOf(1));
  assert.equal(jb.pop(1000)?.kind, 'audio', 'a clocked buffer would hold this one for 60 ms');
  jb.push(1, 1020, frameOf(2));
  const second = jb.pop(1020);
  assert.equal(second?.seq, 1);
  assert.equal(jb.pop(1020), undefined, 'nothing more to release');
  const clocked = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 60 });
  clocked.push(0, 1000, frameOf(1));
  assert.equal(clocked.pop(1000), undefined);
});

test('eager: a gap with a later frame held is concealed at its time plus grace, then the held frames follow', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 20, eager: true });
  const speech = new SpeechLikeSignal(8000, 2);
  const frames = Array.from({ length: 10 }, () => speech.next(N));
  for (let seq = 0; seq < 5; seq++) {
    jb.push(seq, 1000 + seq * 20, frames[seq]!);
    assert.equal(jb.pop(1000 + seq * 20)?.seq, seq);
  }
  // Frame 5 is lost; 6 arrives on time.
  jb.push(6, 1120, frames[6]!);
  assert.equal(jb.pop(1120), undefined, 'frame 5 is still waited for (target 20 ms)');
  const filled = jb.pop(1000 + 5 * 20 + 20 + jb.graceMs);
  assert.equal(filled?.kind, 'concealed');
  assert.equal(filled?.seq, 5);
  assert.equal(jb.pop(1145)?.seq, 6, 'the held frame follows at once');
  assert.equal(jb.stats.lost, 1);
});

test('eager: two frames trading places in a paced stream cost nothing at the 20 ms floor (the early one does not shorten the wait)', () => {
  // Arrival order 1 2 4 3 5 ..., one every 20 ms: 4 comes 20 ms early, 3 20 ms late.
  const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs: 20, maxDelayMs: 200, eager: true });
  const order = [1, 2, 4, 3, 5, 6, 7, 8, 10, 9, 11, 12];
  const kinds: string[] = [];
  let t = 1000;
  for (const seq of order) {
    jb.push(seq, t, frameOf(seq));
    for (let tick = t; tick < t + 20; tick += 5) for (let f = jb.pop(tick); f; f = jb.pop(tick)) kinds.push(`${f.seq}:${f.kind}`);
    t += 20;
  }
  assert.deepEqual(kinds, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((seq) => `${seq}:audio`));
  assert.deepEqual([jb.stats.late, jb.stats.lost, jb.stats.concealed], [0, 0, 0]);
});

test('eager: a stream that pauses is not padded at once; after stallMs it is concealed and fades to silence', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, eager: true, stallMs: 300 });
  const speech = new SpeechLikeSignal(8000, 4);
  for (let seq = 0; seq < 20; seq++) {
    jb.push(seq, seq * 20, speech.next(N));
    assert.ok(jb.pop(seq * 20));
  }
  assert.equal(jb.pop(20 * 20 + 250), undefined, 'a pause shorter than stallMs is waited out');
  const kinds: string[] = [];
  for (let t = 20 * 20 + 300; t < 20 * 20 + 500; t += 20) {
    for (let f = jb.pop(t); f; f = jb.pop(t)) kinds.push(f.kind);
  }
  assert.ok(kinds.length >= 10, `concealment once stalled (${kinds.length} frames)`);
  assert.equal(kinds[0], 'concealed');
  assert.equal(kinds.at(-1), 'silence', 'a long loss ends in silence');
});

test('eager: after jitter goes the wait for a gap follows the target down, and no audio is dropped', () => {
  const jb = new JitterBuffer({ samplesPerFrame: N, eager: true, maxDelayMs: 200 });
  const rand = prng(11);
  let played = 0;
  let received = 0;
  // Two seconds of 0..80 ms jitter, then ten seconds clean: the target rises, then falls.
  for (let seq = 0; seq < 600; seq++) {
    const jitter = seq < 100 ? rand() * 80 : 0;
    const at = seq * 20 + jitter;
    jb.push(seq, at, frameOf(seq % 100));
    received++;
    for (let f = jb.pop(at); f; f = jb.pop(at)) if (f.kind === 'audio') played++;
  }
  for (let f = jb.pop(600 * 20 + 1000); f && jb.stats.buffered > 0; f = jb.pop(600 * 20 + 1000)) if (f.kind === 'audio') played++;
  assert.equal(jb.stats.dropped, 0, 'eager mode never skips a received frame');
  assert.equal(played + jb.stats.late, received);
  // The wait is the target (the histogram remembers the jitter for tens of seconds).
  assert.ok(jb.stats.delayMs < jb.stats.targetDelayMs + 20, `delay ${jb.stats.delayMs} ms, target ${jb.stats.targetDelayMs} ms`);
});
