/**
 * The simulator's echo analysis: one stream is one best-lag correlation; a
 * call whose stream was lost and restarted is analysed stream by stream,
 * because frames in flight at the loss never come back and the new stream's
 * delay may differ (no single lag fits the whole call).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bestLagCorrelation } from '../../src/media/correlation.js';
import { CallRecorder, type Correlate } from '../../src/sim/CallRecorder.js';
import { SAMPLES_PER_FRAME } from '../../src/sim/constants.js';

const correlate: Correlate = async (sent, returned, maxLag) => ({ ...bestLagCorrelation(sent, returned, maxLag), sent, returned });

/** Frame `k` of a deterministic noise signal: every frame differs, so a wrong lag correlates near 0. */
function frame(k: number): Int16Array {
  const out = new Int16Array(SAMPLES_PER_FRAME);
  let x = (k + 1) * 2654435761;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = ((x >>> 16) & 0x3fff) - 0x2000;
  }
  return out;
}

const SILENCE = new Int16Array(SAMPLES_PER_FRAME);

/**
 * Sends frames [from, to), and like the gateway returns a frame every 20 ms:
 * the echo of the frame sent `delay` frames earlier, or silence before the
 * first echo and in place of the first `lose` echoes (lost in flight).
 */
function stream(recorder: CallRecorder, from: number, to: number, delay: number, lose = 0): void {
  for (let k = from; k < to; k++) {
    recorder.recordSent(k * 20, k * 20, frame(k));
    const echoOf = k - delay;
    recorder.recordReturned(k * 20 + 1, echoOf >= from + lose ? frame(echoOf) : SILENCE);
  }
}

test('one stream: one lag, correlation 1, a round trip per echoed frame', async () => {
  const recorder = new CallRecorder(1e6, 10);
  stream(recorder, 0, 100, 2);
  const analysis = await recorder.analyse(4000, correlate);
  assert.equal(analysis.echo.lagSamples, 2 * SAMPLES_PER_FRAME);
  assert.equal(analysis.echo.correlation, 1);
  assert.equal(analysis.roundTripSamplesMs.length, 98);
});

test('a restarted stream with another delay: each stream is analysed on its own, and both echo', async () => {
  const recorder = new CallRecorder(1e6, 10);
  stream(recorder, 0, 100, 2);
  // Two frames in flight were lost with the first stream; the new one echoes with a delay of 5.
  recorder.newStream();
  stream(recorder, 100, 250, 5, 3);
  const analysis = await recorder.analyse(4000, correlate);
  // Every returned sample of the second stream is compared, its 8 silent frames before the first echo too: about sqrt(142 / 150).
  assert.ok(analysis.echo.correlation >= 0.96, `both streams echo (the lost frames' slots hold silence): ${analysis.echo.correlation}`);
  assert.equal(analysis.echo.lagSamples, 2 * SAMPLES_PER_FRAME, "the first stream's lag");
  // Every returned frame is timed against the frame it echoes: the first stream's past its delay, all of the second's
  // (whose echo may start as far back as the search range before the last audio that came back).
  assert.equal(analysis.roundTripSamplesMs.length, 98 + 150);
  // Without the segments the whole call has no single lag: the same audio analysed as one stream.
  const whole = bestLagCorrelation(analysis.sentPcm, analysis.returnedPcm, 4000);
  assert.ok(whole.correlation < 0.9, `one lag for both streams: ${whole.correlation}`);
});

test('a restarted stream that does not echo pulls the call down; a stream too short to judge is left out', async () => {
  const recorder = new CallRecorder(1e6, 10);
  stream(recorder, 0, 100, 2);
  recorder.newStream();
  for (let k = 100; k < 200; k++) {
    recorder.recordSent(k * 20, k * 20, frame(k));
    recorder.recordReturned(k * 20 + 1, frame(k + 1000)); // not our audio
  }
  assert.ok((await recorder.analyse(4000, correlate)).echo.correlation < 0.5);

  const short = new CallRecorder(1e6, 10);
  stream(short, 0, 10, 2); // 0.2 s before the loss
  short.newStream();
  stream(short, 10, 110, 3);
  const analysis = await short.analyse(4000, correlate);
  // The second stream's 3 silent frames before its first echo are compared too.
  assert.ok(analysis.echo.correlation >= 0.98, `${analysis.echo.correlation}`);
  assert.equal(analysis.echo.lagSamples, 3 * SAMPLES_PER_FRAME, 'the first stream long enough to judge');
});

test('a gap of 100 ms in the returned audio on one stream (a lost media worker) starts a segment; a shorter one does not', async () => {
  const recorder = new CallRecorder(1e6, 10);
  stream(recorder, 0, 100, 2);
  // The same stream: 15 frames sent while nothing came back, then echoes with a delay of 4.
  for (let k = 100; k < 115; k++) recorder.recordSent(k * 20, k * 20, frame(k));
  for (let k = 115; k < 250; k++) {
    recorder.recordSent(k * 20, k * 20, frame(k));
    recorder.recordReturned(k * 20 + 1, frame(k - 4));
  }
  const analysis = await recorder.analyse(4000, correlate);
  assert.ok(analysis.echo.correlation >= 0.98, `both sides of the gap echo: ${analysis.echo.correlation}`);
  const whole = bestLagCorrelation(analysis.sentPcm, analysis.returnedPcm, 4000);
  assert.ok(whole.correlation < 0.9, `one lag across the gap: ${whole.correlation}`);

  // Returned frames 80 ms apart for a while (a slow pacer): one segment, one lag.
  const slow = new CallRecorder(1e6, 10);
  for (let k = 0; k < 100; k++) {
    slow.recordSent(k * 20, k * 20, frame(k));
    slow.recordReturned(k * 20 + (k >= 50 && k < 55 ? 80 : 1), k >= 2 ? frame(k - 2) : SILENCE);
  }
  assert.equal((await slow.analyse(4000, correlate)).echo.correlation, 1);
});

test("a gap while the simulator itself stood still (its sends stopped too) is no segment: the lag is the same", async () => {
  const recorder = new CallRecorder(1e6, 10);
  stream(recorder, 0, 100, 2);
  // Starved for 490 ms: the 25 frames owed go in one burst, then the echoes queued in the socket are read.
  for (let k = 100; k < 125; k++) recorder.recordSent(k * 20, 2490, frame(k));
  for (let k = 98; k < 123; k++) recorder.recordReturned(2490.5 + (k - 98) * 0.1, frame(k));
  for (let k = 125; k < 250; k++) {
    recorder.recordSent(k * 20, k * 20, frame(k));
    recorder.recordReturned(k * 20 + 1, frame(k - 2));
  }
  const analysis = await recorder.analyse(4000, correlate);
  assert.equal(analysis.echo.correlation, 1, 'one stream, one lag: the echo is whole');
  assert.equal(analysis.echo.lagSamples, 2 * SAMPLES_PER_FRAME);
  assert.ok(analysis.sendLagMs.max >= 490, 'the stall shows where it belongs: in the send lag');
});

/** Returned frames: arrival time (ms) and audio. */
type Returns = Array<[number, Int16Array]>;

/**
 * What the recorder saw, in time order: frame k sent at k * 20 ms (on time),
 * and each returned frame at its arrival time. The returned frames come from
 * `returns` (arrival ms, audio), sorted here.
 */
function play(recorder: CallRecorder, frames: number, returns: Returns): void {
  const back = [...returns].sort((a, b) => a[0] - b[0]);
  let j = 0;
  for (let k = 0; k < frames; k++) {
    for (; j < back.length && back[j]![0] < k * 20; j++) recorder.recordReturned(back[j]![0], back[j]![1]);
    recorder.recordSent(k * 20, k * 20, frame(k));
  }
  for (; j < back.length; j++) recorder.recordReturned(back[j]![0], back[j]![1]);
}

/**
 * The gateway's echo of frames [from, to): frame f comes back `delay` frames
 * after it was sent, except while the gateway stood still (each `held`
 * stretch, [from, until) in ms): what was due then leaves when it wakes, and
 * its backlog goes at most one frame per 5 ms (the live pacer's catch-up
 * rate). `audio` picks what comes back for frame f (its echo by default).
 */
function echo(from: number, to: number, delay: number, held: Array<[number, number]> = [], audio: (f: number) => Int16Array = frame): Returns {
  const out: Returns = [];
  let previous = -Infinity;
  for (let f = from; f < to; f++) {
    const due = (f + delay) * 20 + 1;
    const base = held.find(([start, until]) => due >= start && due < until)?.[1] ?? due;
    previous = Math.max(base, previous + 5);
    out.push([previous, audio(f)]);
  }
  return out;
}

test('a gateway that stalls without losing anything (its echo held back, then a burst) still echoes: the segment is analysed from before the gap', async () => {
  // 800 ms of nothing back while the simulator sent on time (another process starved), then the whole backlog.
  const recorder = new CallRecorder(1e6, 10);
  play(recorder, 300, echo(0, 298, 2, [[2000, 2800]]));
  const analysis = await recorder.analyse(4000, correlate);
  assert.equal(analysis.echo.correlation, 1, 'the echo was whole');
  assert.equal(analysis.echo.lagSamples, 0, "the first segment's lag");
  // Every returned frame is an echo: each is timed against the frame it echoes, the held ones late by up to the stall.
  assert.equal(analysis.roundTripSamplesMs.length, 298);
  assert.ok(Math.max(...analysis.roundTripSamplesMs) >= 780, `the stall is in the round trips: ${Math.max(...analysis.roundTripSamplesMs)}`);
  assert.ok(Math.min(...analysis.roundTripSamplesMs) >= 40, 'none earlier than the echo delay');
});

test('a gateway already behind by more than the search range when it stalls again: searched from its returned position', async () => {
  // Held 700 ms, then again 50 ms into working off its backlog: at the second gap it is 27 frames (540 ms) behind.
  const recorder = new CallRecorder(1e6, 10);
  play(recorder, 300, echo(0, 298, 2, [
    [300, 1000],
    [1050, 1800],
  ]));
  const analysis = await recorder.analyse(4000, correlate);
  assert.equal(analysis.echo.correlation, 1, 'the echo was whole');
  // All but the 13 frames before the first gap, too short a segment to judge.
  assert.equal(analysis.roundTripSamplesMs.length, 298 - 13);
});

test('a media worker lost mid-call (socket kept): its in-flight frames are gone, the ones sent meanwhile come back late at a new lag', async () => {
  // Frames 98-100 were on the dead worker; 101 on waited 600 ms for the new one, which echoes with 3 frames' delay.
  const recorder = new CallRecorder(1e6, 10);
  play(recorder, 300, [...echo(0, 98, 2), ...echo(101, 297, 3, [[0, 2600]])]);
  const analysis = await recorder.analyse(4000, correlate);
  assert.ok(analysis.echo.correlation >= 0.98, `both sides of the move echo: ${analysis.echo.correlation}`);
  assert.equal(analysis.roundTripSamplesMs.length, 98 + 196, 'every returned frame timed against its own');
  // No single lag fits the call: the frames lost in flight shifted the returned stream.
  const whole = bestLagCorrelation(analysis.sentPcm, analysis.returnedPcm, 4000);
  assert.ok(whole.correlation < 0.9, `one lag for the call: ${whole.correlation}`);
});

test('a stream that lost everything in flight and during its gap resumes at a new lag: analysed from where it began', async () => {
  // Nothing comes back for 500 ms; what the gateway had, and everything sent then, is gone; echoes resume 4 frames late.
  const recorder = new CallRecorder(1e6, 10);
  play(recorder, 300, [...echo(0, 98, 2), ...echo(122, 296, 4)]);
  const analysis = await recorder.analyse(4000, correlate);
  assert.equal(analysis.echo.correlation, 1);
  assert.equal(analysis.roundTripSamplesMs.length, 98 + 174);
  assert.ok(Math.max(...analysis.roundTripSamplesMs) <= 81, `each frame timed against the frame it echoes: ${Math.max(...analysis.roundTripSamplesMs)}`);
});

test('after a gap, audio that is not an echo still scores low from either start: silence, noise, another call, our audio too old', async () => {
  const noise = (f: number): Int16Array => frame(f + 50_000);
  const cases: Record<string, (f: number) => Int16Array> = {
    silence: () => SILENCE,
    noise,
    // Another call: the same kind of audio, not ours.
    'another call': (f) => frame(f + 1000),
    // Our own audio, but from further back than any start's search reaches.
    'our audio 2 s old': (f) => frame(Math.max(0, f - 100)),
  };
  for (const [name, audio] of Object.entries(cases)) {
    const recorder = new CallRecorder(1e6, 10);
    play(recorder, 300, [...echo(0, 98, 2), ...echo(98, 298, 2, [[2000, 2800]], audio)]);
    const analysis = await recorder.analyse(4000, correlate);
    assert.ok(analysis.echo.correlation < 0.2, `${name}: ${analysis.echo.correlation}`);
    assert.ok(analysis.roundTripSamplesMs.length <= 98, `${name}: no round trip where there is no echo`);
  }
});
