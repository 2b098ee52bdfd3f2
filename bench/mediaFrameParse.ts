/**
 * What reading one provider media frame costs in the call actor: the slow
 * path (TextDecoder, JSON.parse, Buffer's base64 write) against the in-place
 * scan (src/wire/mediaFrameScan.ts), side by side in one process. Rounds
 * alternate the order; the figure is the median ns per frame over --rounds.
 *
 *   node dist/bench/mediaFrameParse.js [--json] [--rounds 9] [--frames 200000]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { newMediaFrameScan, scanMediaFrame } from '../src/wire/mediaFrameScan.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, rounds: { type: 'string', default: '9' }, frames: { type: 'string', default: '200000' } } });
const ROUNDS = Number(values.rounds);
const FRAMES = Number(values.frames);
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0) || !(Number.isInteger(FRAMES) && FRAMES > 0)) {
  console.error(`bench/mediaFrameParse: --rounds and --frames must be positive integers, got ${values.rounds} and ${values.frames}`);
  process.exit(2);
}
/** Distinct frames cycled through (different payload bytes and counters). */
const DISTINCT = 64;

/** The simulator's frame (src/sim/MediaStreamClient.ts sendMedia) with `payloadBytes` of payload. */
function frames(payloadBytes: number): Uint8Array[] {
  return Array.from({ length: DISTINCT }, (_, n) => {
    const payload = Buffer.from(Array.from({ length: payloadBytes }, (_, k) => (k * 31 + n * 7) & 0xff)).toString('base64');
    const text = `{"event":"media","sequence_number":"${n + 3}","stream_id":"0f3c1d2e-5a6b-4c7d-8e9f-a0b1c2d3e4f5","media":{"track":"inbound","chunk":"${n + 1}","timestamp":"${n * 20}","payload":"${payload}"}}`;
    return new Uint8Array(Buffer.from(text));
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const scratch = Buffer.allocUnsafe(4096);
const scan = newMediaFrameScan();

function slow(input: Uint8Array[], count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const frame = JSON.parse(decoder.decode(input[i % DISTINCT]!)) as { event: string; media: { payload: string; chunk: string } };
    if (frame.event !== 'media') throw new Error('not media');
    sum += scratch.write(frame.media.payload, 'base64') + Number(frame.media.chunk);
  }
  return sum;
}

function fast(input: Uint8Array[], count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const bytes = input[i % DISTINCT]!;
    if (!scanMediaFrame(bytes, scan, scratch)) throw new Error('not scanned');
    sum += scan.payloadBytes + scan.chunk;
  }
  return sum;
}

function timeNs(run: () => number): number {
  const start = performance.now();
  const check = run();
  const ns = ((performance.now() - start) * 1e6) / FRAMES;
  if (!(check > 0)) throw new Error('no work done');
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cases = { pcmu: frames(160), opus: frames(80) };
const results: Record<string, { slowNs: number; fastNs: number; speedup: number }> = {};
for (const [name, input] of Object.entries(cases)) {
  // Same answers first: the bench times two readings of the same frames.
  if (slow(input, DISTINCT) !== fast(input, DISTINCT)) throw new Error(`${name}: the two paths disagree`);
  slow(input, 50_000);
  fast(input, 50_000);
  const rows = { slow: [] as number[], fast: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['slow', 'fast'] as const) : (['fast', 'slow'] as const);
    for (const which of order) rows[which].push(timeNs(() => (which === 'slow' ? slow : fast)(input, FRAMES)));
    process.stderr.write(`\r${name}: round ${r + 1}/${ROUNDS}`);
  }
  process.stderr.write('\n');
  const slowNs = median(rows.slow);
  const fastNs = median(rows.fast);
  results[name] = { slowNs: Math.round(slowNs), fastNs: Math.round(fastNs), speedup: Math.round((slowNs / fastNs) * 100) / 100 };
}
const summary = { rounds: ROUNDS, frames: FRAMES, node: process.version, perFrame: results };
if (values.json) console.log(JSON.stringify(summary));
else for (const [name, r] of Object.entries(results)) console.log(`${name}: JSON.parse path ${r.slowNs} ns, scan ${r.fastNs} ns a frame (${r.speedup}x)`);
