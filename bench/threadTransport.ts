/**
 * How media frames cross from the front's thread to a media worker (DESIGN 4).
 * Sends the frames of `--calls` calls (50 frames/s each) for a fixed number
 * of frames through each option, side by side in one run, and reports the
 * sending thread's CPU cost per frame (what the front pays) and the time for
 * the worker to receive them all. Prints one JSON object.
 *
 *   node dist/bench/threadTransport.js [--frames 200000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { MediaBatchWriter } from '../src/actors/MediaBatch.js';

const { values } = parseArgs({ options: { frames: { type: 'string' }, rounds: { type: 'string' }, batch: { type: 'string' } } });
const FRAMES = Number(values.frames ?? 200_000);
const ROUNDS = Number(values.rounds ?? 5);
/** Frames a batch carries: 1,000 calls' frames arrive over 20 ms; a loop turn sees a few dozen. */
const BATCH = Number(values.batch ?? 32);

// A real PCMU media frame as the provider sends it (~270 bytes of JSON).
const FRAME = new TextEncoder().encode(
  JSON.stringify({ event: 'media', sequence_number: '1234', stream_id: 's-1', media: { track: 'inbound', chunk: '1234', timestamp: '24680', payload: Buffer.alloc(160, 0x7f).toString('base64') } }),
);

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
let frames = 0, target = 0, batched = false;
parentPort.on('message', (m) => {
  if (m && m.target !== undefined) { frames = 0; target = m.target; batched = m.batched; return; }
  if (batched) {
    const view = new DataView(m); const used = view.getUint32(0, true); let off = 4;
    while (off + 16 <= used) { const len = view.getUint32(off + 4, true); off += 16 + ((len + 3) & ~3); frames++; }
  } else frames++;
  if (frames >= target) parentPort.postMessage('done');
});`;

type Mode = 'cloned' | 'transferred' | 'batched';

async function run(worker: Worker, mode: Mode): Promise<{ sendNsPerFrame: number; deliverMs: number }> {
  worker.postMessage({ target: FRAMES, batched: mode === 'batched' });
  const done = new Promise<void>((resolve) => worker.once('message', () => resolve()));
  const start = performance.now();
  if (mode === 'batched') {
    const writer = new MediaBatchWriter();
    for (let i = 0; i < FRAMES; i++) {
      writer.append(i % 1000, FRAME);
      if (writer.records === BATCH || i === FRAMES - 1) {
        const buffer = writer.take();
        worker.postMessage(buffer, [buffer]);
      }
    }
  } else {
    for (let i = 0; i < FRAMES; i++) {
      // The front must copy a uWS message anyway; both options pay that copy.
      const copy = FRAME.slice();
      if (mode === 'cloned') worker.postMessage(copy);
      else worker.postMessage(copy.buffer, [copy.buffer]);
    }
  }
  // The send loop's wall time is what the front's thread pays per frame.
  const sendMs = performance.now() - start;
  await done;
  return { sendNsPerFrame: (sendMs * 1e6) / FRAMES, deliverMs: performance.now() - start };
}

async function main(): Promise<void> {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const modes: Mode[] = ['cloned', 'transferred', 'batched'];
  const results: Record<Mode, number[]> = { cloned: [], transferred: [], batched: [] };
  const deliver: Record<Mode, number[]> = { cloned: [], transferred: [], batched: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of modes) {
      const r = await run(worker, mode);
      results[mode].push(r.sendNsPerFrame);
      deliver[mode].push(r.deliverMs);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${mode}: ${(r.sendNsPerFrame / 1000).toFixed(2)} us/frame\n`);
    }
  }
  await worker.terminate();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const summary = Object.fromEntries(
    modes.map((m) => [m, { usPerFrameMedian: +(median(results[m]) / 1000).toFixed(3), deliverMsMedian: +median(deliver[m]).toFixed(1) }]),
  );
  const cloned = median(results.cloned);
  const framesPerSecondAt1000Calls = 50_000;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'thread-transport',
      frames: FRAMES,
      rounds: ROUNDS,
      batch: BATCH,
      frameBytes: FRAME.byteLength,
      results: summary,
      ratios: { clonedOverBatched: +(cloned / median(results.batched)).toFixed(2), clonedOverTransferred: +(cloned / median(results.transferred)).toFixed(2) },
      coreShareAt1000Calls: Object.fromEntries(modes.map((m) => [m, +((median(results[m]) * framesPerSecondAt1000Calls) / 1e9).toFixed(3)])),
    })}\n`,
  );
}

void main();
