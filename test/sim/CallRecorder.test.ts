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
  assert.ok(analysis.echo.correlation >= 0.98, `both streams echo (the lost frames' slots hold silence): ${analysis.echo.correlation}`);
  assert.equal(analysis.echo.lagSamples, 2 * SAMPLES_PER_FRAME, "the first stream's lag");
  // Every returned frame past each stream's own delay is timed against the frame it echoes.
  assert.equal(analysis.roundTripSamplesMs.length, 98 + 145);
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
  assert.equal(analysis.echo.correlation, 1);
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
