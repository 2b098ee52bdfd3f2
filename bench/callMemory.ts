/**
 * Where a call's memory goes (DESIGN.md 9: under 256 KiB a call). Builds N
 * call actors with the echo agent and the gateway's default settings on this
 * thread, as a media worker hosts them, feeds each 10 s of 20 ms frames (a
 * simulated clock: no sockets, no timers), then reports per call: the heap,
 * the typed arrays' stores outside it, and the process's RSS (which also holds
 * what V8 does not see, such as libopus's state). With `--parts`, the largest
 * parts of a heap snapshot by constructor instead of the RSS (parsing the
 * snapshots moves the RSS).
 * The bench suite's `rssPerCallKiB` adds what this leaves out: the media
 * socket (uWS) and the worker's share of V8's heap sizing.
 *
 *   node dist/bench/callMemory.js [--calls 200] [--codec PCMU|OPUS] [--parts] [--json]
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { DEFAULT_BARGE_IN } from '../src/agent/agentConfig.js';
import { EchoAgent } from '../src/agent/EchoAgent.js';
import { CallActor } from '../src/actors/CallActor.js';
import { defaultGatewayConfig } from '../src/config.js';
import { PayloadBank } from './load/PayloadBank.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    codec: { type: 'string', default: 'PCMU' },
    json: { type: 'boolean', default: false },
    parts: { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
if (!Number.isInteger(CALLS) || CALLS < 1) throw new Error(`--calls must be a positive whole number, not ${values.calls}`);
const CODEC_NAME = values.codec!.toUpperCase();
if (CODEC_NAME !== 'PCMU' && CODEC_NAME !== 'OPUS') throw new Error(`--codec must be PCMU or OPUS, not ${values.codec}`);
const CODEC: 'PCMU' | 'OPUS' = CODEC_NAME;
const RATE = CODEC === 'OPUS' ? 16_000 : 8_000;
const FRAMES = 500;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function memory() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, outside: m.external, rss: m.rss };
}

/** Self size by constructor in a heap snapshot (the `native` and `code` kinds under their own names). */
function snapshotByConstructor(): Map<string, number> {
  const file = join(tmpdir(), `ttma-call-memory-${process.pid}.heapsnapshot`);
  writeHeapSnapshot(file);
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  rmSync(file, { force: true });
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const sums = new Map<string, number>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = type === 'object' || type === 'native' ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : `(${type})`;
    sums.set(name, (sums.get(name) ?? 0) + snapshot.nodes[i + sizeAt]!);
  }
  return sums;
}

async function main(): Promise<void> {
  const config = defaultGatewayConfig();
  const settings = {
    mailboxFrames: config.mailboxFrames,
    jitterMinDelayMs: config.jitterMinDelayMs,
    jitterMaxDelayMs: config.jitterMaxDelayMs,
    greeting: null,
    hold: null,
  };
  // The load generator's caller audio (one voice, 10 s): the simulator's own encoders, base64'd once.
  const texts = new PayloadBank(1, FRAMES / 50).voice(CODEC, 0).payloads;
  const encoder = new TextEncoder();
  let clock = 1_000;
  const hooks = {
    emitMedia: () => undefined,
    requestClose: () => undefined,
    agentAction: () => undefined,
    log: () => undefined,
    now: () => clock,
  };
  // The codec's code and the module state are loaded before the first reading.
  const warm = new CallActor(0, { callId: 'warm', from: '+15550100001', to: '+15550100000', direction: 'incoming' }, new EchoAgent(), hooks, settings, DEFAULT_BARGE_IN);
  await warm.openAgent();
  warm.end('warm', clock);
  // The snapshot first: parsing it grows the heap, which must not count against the calls.
  const snapshotBefore = values.parts ? snapshotByConstructor() : null;
  const before = memory();
  const actors: CallActor[] = [];
  for (let i = 0; i < CALLS; i++) {
    const callId = `call-${i}`;
    const actor = new CallActor(i + 1, { callId, from: '+15550100001', to: '+15550100000', direction: 'incoming' }, new EchoAgent(), hooks, settings, DEFAULT_BARGE_IN);
    await actor.openAgent();
    const start = { event: 'start', start: { call_control_id: callId, media_format: { encoding: CODEC, sample_rate: RATE, channels: 1 } } };
    actor.enqueue(encoder.encode(JSON.stringify(start)), clock);
    actor.drain();
    actors.push(actor);
  }
  for (let k = 0; k < FRAMES; k++) {
    clock += 20;
    const frame = encoder.encode(
      `{"event":"media","media":{"track":"inbound","chunk":"${k + 1}","timestamp":"${k * 20}","payload":"${texts[k]!}"}}`,
    );
    for (const actor of actors) {
      actor.enqueue(frame, clock);
      actor.drain();
      actor.pump(clock);
    }
  }
  const after = memory();
  const kib = (bytes: number) => Math.round((bytes / CALLS / 1024) * 10) / 10;
  const snapshotAfter = snapshotBefore ? snapshotByConstructor() : new Map<string, number>();
  const parts = [...snapshotAfter]
    .map(([name, size]) => ({ name, kibPerCall: kib(size - (snapshotBefore?.get(name) ?? 0)) }))
    .filter((p) => p.kibPerCall >= 0.2)
    .sort((a, b) => b.kibPerCall - a.kibPerCall)
    .slice(0, 20);
  const result = {
    codec: CODEC,
    calls: CALLS,
    framesPerCall: FRAMES,
    kibPerCall: { heap: kib(after.heap - before.heap), outsideHeap: kib(after.outside - before.outside), rss: snapshotBefore ? null : kib(after.rss - before.rss) },
    largestParts: parts,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const rss = result.kibPerCall.rss === null ? '' : `, RSS ${result.kibPerCall.rss}`;
    process.stdout.write(`${CODEC}, ${CALLS} calls after ${FRAMES} frames each, KiB a call: heap ${result.kibPerCall.heap}, outside the heap ${result.kibPerCall.outsideHeap}${rss}\n`);
    for (const p of parts) process.stdout.write(`  ${String(p.kibPerCall).padStart(6)}  ${p.name}\n`);
  }
  for (const actor of actors) actor.end('done', clock);
}

await main();
