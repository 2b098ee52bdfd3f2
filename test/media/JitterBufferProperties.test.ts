/**
 * Invariants of the jitter buffer over seeded random networks (reorder,
 * duplicates, loss, late bursts) and lone stray frames (stale copies far
 * behind, garbled counters far ahead), eager and clocked: audio comes out in
 * order and never twice, frames are whole and finite, memory is bounded, no
 * stray restarts the stream, and every push is counted exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer } from '../../src/media/JitterBuffer.js';
import { prng } from '../helpers/prng.js';

const N = 160;
const RUNS = 200;
const FRAMES = 600;

type Event = [seq: number, atMs: number];

/** A network that loses 5%, duplicates 5% (up to 100 ms later), delays 1% by 300 ms, and jitters by up to `jitterMs`. */
function network(rand: () => number, jitterMs: number): Event[] {
  const events: Event[] = [];
  for (let seq = 1; seq <= FRAMES; seq++) {
    if (rand() < 0.05) continue;
    const at = 1000 + seq * 20 + rand() * jitterMs + (rand() < 0.01 ? 300 : 0);
    events.push([seq, at]);
    if (rand() < 0.05) events.push([seq, at + rand() * 100]);
  }
  return events.sort((a, b) => a[1] - b[1]);
}

/** About 1% strays, never two in a row: a copy of a frame long played, or a counter far ahead, negative, or huge. */
function withStrays(rand: () => number, events: Event[]): { events: Event[]; strays: number } {
  const out: Event[] = [];
  let strays = 0;
  for (let i = 0; i < events.length; i++) {
    const [seq, at] = events[i]!;
    out.push([seq, at]);
    if (i > 0 && i < events.length - 1 && rand() < 0.01) {
      const kind = Math.floor(rand() * 4);
      const stray = kind === 0 ? seq - 200 - Math.floor(rand() * 300) : kind === 1 ? seq + 20 + Math.floor(rand() * 1000) : kind === 2 ? -1 - Math.floor(rand() * 1e6) : 999_999_999_999_999;
      out.push([stray, at]);
      strays++;
      i++;
      if (i < events.length) out.push(events[i]!); // the next frame is a real one
    }
  }
  return { events: out, strays };
}

test('invariants over 200 seeded runs, eager and clocked, with lone strays', () => {
  const rand = prng(1);
  const fail = (message: string): never => assert.fail(message);
  let totalStrays = 0;
  for (let run = 0; run < RUNS; run++) {
    const eager = rand() < 0.5;
    const minDelayMs = rand() < 0.5 ? 0 : 20;
    const jb = new JitterBuffer({ samplesPerFrame: N, minDelayMs, maxDelayMs: 200, eager });
    const { events, strays } = withStrays(rand, network(rand, rand() * 80));
    totalStrays += strays;
    const played: number[] = [];
    let lastAudio = -Infinity;
    const take = (now: number): void => {
      for (let f = jb.pop(now); f; f = jb.pop(now)) {
        if (f.pcm.length !== N) fail(`run ${run}: a frame of ${f.pcm.length} samples`);
        for (const v of f.pcm) {
          if (!Number.isInteger(v)) {
            fail(`run ${run}: sample ${v}`);
            break;
          }
        }
        if (f.kind === 'audio') {
          if (f.seq! <= lastAudio) fail(`run ${run} (eager ${eager}): audio ${f.seq} after ${lastAudio}`);
          lastAudio = f.seq!;
          played.push(f.seq!);
        }
        if (jb.buffered > jb.capacityFrames) fail(`run ${run}: ${jb.buffered} held, capacity ${jb.capacityFrames}`);
      }
    };
    // Drain after each arrival and on a 5 ms clock, for 500 ms past the last arrival.
    let next = 0;
    const end = events.at(-1)![1] + 500;
    for (let t = 1000; next < events.length || t < end; ) {
      const due = next < events.length ? events[next]![1] : Infinity;
      if (due <= t) {
        const [seq, at] = events[next++]!;
        jb.push(seq, at, new Int16Array(N).fill(((seq % 1000) + 1000) % 1000));
        take(at);
      } else {
        take(t);
        t += 5;
      }
    }
    const s = jb.stats;
    if (new Set(played).size !== played.length) fail(`run ${run}: a frame played twice`);
    const accounted = played.length + s.dropped + s.duplicates + s.late + s.buffered;
    if (accounted !== s.received) {
      fail(`run ${run} (eager ${eager}): received ${s.received} != audio ${played.length} + dropped ${s.dropped} + duplicates ${s.duplicates} + late ${s.late} + buffered ${s.buffered}`);
    }
    if (s.received !== events.length) fail(`run ${run}: received ${s.received} of ${events.length} pushes`);
    if (s.resets !== 0) fail(`run ${run}: ${s.resets} restarts from lone strays`);
    if (s.lost < 0) fail(`run ${run}: lost ${s.lost}`);
    if (!(s.delayMs <= 200 + 20) && eager) fail(`run ${run}: eager delay ${s.delayMs}`);
  }
  assert.ok(totalStrays > 500, `strays exercised: ${totalStrays}`);
});
