/**
 * What the metrics cost a media worker: one BucketCounts.record per paced
 * frame, and encoding the health pong with the per-call list (sent only
 * while a dashboard is open) or without it.
 *
 *   npm run build && node dist/bench/workerStats.js [--calls 500]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { BucketCounts } from '../src/actors/BucketCounts.js';
import { LatencyHistogram } from '../src/actors/LatencyHistogram.js';
import type { CallLiveStats, FromWorker } from '../src/actors/messages.js';
import { encodeControl } from '../src/actors/wireCodec.js';
import { ADDED_LATENCY_BUCKETS_S, CALL_JITTER_BUCKETS_S, zeroTotals } from '../src/actors/WorkerStats.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '500' } } });
const callCount = Number(values.calls);
const ROUNDS = 200;
const RECORDS = 5_000_000;

const latency = new BucketCounts(ADDED_LATENCY_BUCKETS_S);
let t = performance.now();
for (let i = 0; i < RECORDS; i++) latency.record((i % 200) / 1000);
const recordNs = ((performance.now() - t) * 1e6) / RECORDS;

const calls: CallLiveStats[] = [];
for (let i = 0; i < callCount; i++) {
  calls.push({
    callId: `v3:${'x'.repeat(46)}${String(i).padStart(4, '0')}`,
    codec: 'PCMU',
    agent: 'echo',
    durationMs: 123_456,
    framesIn: 6_000,
    framesOut: 6_000,
    lost: 3,
    concealed: 5,
    late: 1,
    malformed: 0,
    mailboxDrops: 0,
    jitterMs: 2.88,
    latencyMs: 22.2,
  });
}

function pong(withCalls: boolean): FromWorker {
  const stats = { totals: zeroTotals(), addedLatency: latency.snapshot(), callJitter: new BucketCounts(CALL_JITTER_BUCKETS_S).snapshot(), calls: withCalls ? calls : [], agentAudio: { heldBytes: 0, maxBytes: 0, drops: 0 }, agentReconnectsStopped: 0 };
  const empty = new LatencyHistogram().toSparse();
  return { type: 'pong', id: 1, sentAt: Date.now(), calls: callCount, loopDelayP99Ms: 10, windowLoopDelayP99Ms: 10, loopDelayMaxMs: 12, busyShare: 0.5, heapUsedBytes: 1, inbound: empty, hold: empty, paced: empty, stats };
}

for (const withCalls of [false, true]) {
  const message = pong(withCalls);
  for (let i = 0; i < 20; i++) encodeControl(message);
  t = performance.now();
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) bytes = encodeControl(message).c.byteLength;
  const ms = (performance.now() - t) / ROUNDS;
  console.log(`pong ${withCalls ? `with ${callCount} calls` : 'totals only'}: ${ms.toFixed(3)} ms to encode, ${bytes} bytes`);
}
console.log(`BucketCounts.record: ${recordNs.toFixed(1)} ns`);
