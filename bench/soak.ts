/**
 * Soak: does a gateway that carries calls for hours keep its memory flat?
 * The demo's three processes (simulator, platform, gateway with the echo
 * agent) carry `--calls` concurrent inbound calls of `--call-seconds` each,
 * every one replaced as it ends, for `--minutes`.
 *
 * At the end of each window the gateway's live heap is measured on every
 * thread through its inspector (bench/inspectorHeap.ts: a full collection,
 * then the heap in use): a heap read at a random moment carries whatever
 * garbage waits for the next collection, and would show a leak that is not
 * there. A leak is live heap that rises with the calls carried: the slope of
 * the live heaps against calls completed, after a warm-up (bounded caches
 * such as the recent-calls list fill during it), is the figure, in bytes kept
 * per call (Theil-Sen, so that a one-off step does not read as a leak; the
 * least-squares slope is reported beside it). Every second the gateway's /metrics (resident memory, live
 * calls) and the platform's resident memory (/proc) are read too; each
 * window's lowest is reported. When the load stops the gateway must drain to
 * no live call.
 *
 *   node dist/bench/soak.js [--minutes 20 | --seconds N] [--calls 100] [--call-seconds 10] [--workers 1] [--codec pcmu] [--quick] [--json]
 *
 * Exit 1 when a call failed, a call was left live after the load, a process
 * did not stop cleanly, or (past the warm-up) live heap grew by more than
 * LEAK_BYTES_PER_CALL a call.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DEMO_NUMBER, startDemoStack, stopDemoStack, type SimApi } from '../src/cli/demoStack.js';
import { freePorts } from '../src/cli/processes.js';
import { MAX_CAP_MINUTES } from '../src/platform/DeploymentRegistry.js';
import { InspectorHeap } from './inspectorHeap.js';
import { rssKiB } from './procStats.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    seconds: { type: 'string' },
    calls: { type: 'string' },
    'call-seconds': { type: 'string' },
    workers: { type: 'string', default: '1' },
    codec: { type: 'string', default: 'pcmu' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
  },
});

function positiveInt(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw new Error(`--${name} must be a whole number from 1 to ${max}, not ${raw}`);
  return n;
}

const QUICK = values.quick;
if (values.minutes !== undefined && values.seconds !== undefined) throw new Error('--minutes or --seconds, not both');
/** How long the load runs, ms (`--seconds`: shorter than a minute, for the shape test). */
const DURATION_MS = values.seconds !== undefined ? positiveInt('seconds', values.seconds, 60, 86_400) * 1000 : positiveInt('minutes', values.minutes, QUICK ? 1 : 20, 24 * 60) * 60_000;
const CALLS = positiveInt('calls', values.calls, QUICK ? 20 : 100, 2000);
const CALL_SECONDS = positiveInt('call-seconds', values['call-seconds'], QUICK ? 3 : 10, 3600);
const WORKERS = positiveInt('workers', values.workers, 1, 64);
const CODEC = values.codec.toUpperCase();
/** Minutes the run reserves at the platform: each call one per started minute (a cap unit). */
const MINUTES_RESERVED = Math.ceil(CALL_SECONDS / 60) * Math.ceil((CALLS * (DURATION_MS / 1000)) / CALL_SECONDS);
/** The live heap is measured at the end of each window (a full collection on every thread). */
const WINDOW_MS = QUICK ? 5_000 : 30_000;
/**
 * Left out of the slope: what the gateway keeps by design until a bound is
 * reached. The webhook replay cache keeps each event id and signature until
 * its signature is stale, about the 300 s tolerance (WebhookGate), the
 * recent-calls list the last 1,000 calls (RecentCalls). A run shorter than
 * this plus three windows (`--quick`) reports the trend without a verdict.
 */
const WARMUP_MS = 330_000;
const WARMUP_CALLS = 1_100;
/** Live heap rising faster than this a call is reported as a leak (a call's own state is some 60 KiB while it lives). */
const LEAK_BYTES_PER_CALL = 512;
/** The simulator is asked about each live call this often. */
const POLL_MS = 500;

interface Sample {
  gatewayRss: number;
  platformRss: number | null;
  live: number;
}

interface Window {
  /** Calls completed by the window's end, and when it ended (ms since the load began). */
  completed: number;
  atMs: number;
  /** Live heap after a full collection, main thread and the media workers together. */
  mainHeap: number;
  workerHeap: number;
  /** The platform's live heap: it keeps each call's record by design (the embedded store, up to 50,000). */
  platformHeap: number;
  /** The window's lowest resident memory. */
  gatewayRss: number;
  platformRss: number | null;
}

const progress = (line: string) => process.stderr.write(`soak: ${line}\n`);
const MiB = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

/** The metrics the soak reads, summed over their labels. */
function readMetrics(text: string): Record<string, number> {
  const wanted = ['process_resident_memory_bytes', 'ttma_calls_live'];
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const name = /^([a-z_]+)[{ ]/.exec(line)?.[1];
    if (!name || !wanted.includes(name)) continue;
    out[name] = (out[name] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/**
 * Theil-Sen slope of y against x: the median of the slopes between every two points. A one-off
 * step (a hash table doubling its backing store once it holds more) moves it far less than it
 * moves a least-squares line, while a steady leak moves both. Null with fewer than three points.
 */
function robustSlope(points: Array<[number, number]>): number | null {
  if (points.length < 3) return null;
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j]![0] - points[i]![0];
      if (dx !== 0) slopes.push((points[j]![1] - points[i]![1]) / dx);
    }
  }
  if (slopes.length === 0) return null;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

/** Least-squares slope of y against x; null with fewer than three points or no spread in x. */
function slope(points: Array<[number, number]>): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return null;
  return points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

interface SimCallView {
  endedBy: string | null;
  framesReturned: number;
  echo: { correlation: number } | null;
}

const counts = { placed: 0, completed: 0, failed: 0, failures: [] as string[] };

/** One line of calls: place a call, wait for its end and its report, count it, place the next, until the deadline. */
async function callSlot(sim: SimApi, slot: number, deadline: number): Promise<void> {
  await sleep(Math.round((slot / CALLS) * CALL_SECONDS * 1000));
  while (Date.now() < deadline) {
    try {
      await oneCall(sim);
    } catch (err) {
      // The simulator did not answer (overloaded, gone): a failed call, and the line goes on.
      counts.failed++;
      if (counts.failures.length < 10) counts.failures.push(`simulator: ${(err as Error).message}`);
      await sleep(POLL_MS);
    }
  }
}

async function oneCall(sim: SimApi): Promise<void> {
  {
    const seed = ++counts.placed;
    const placed = await sim.request<{ call_control_id: string }>('POST', '/sim/calls/inbound', {
      from: `+1555${String(3_000_000 + (seed % 1_000_000)).padStart(7, '0')}`,
      to: DEMO_NUMBER,
      seconds: CALL_SECONDS,
      seed,
      codec: CODEC,
    });
    const id = encodeURIComponent(placed.call_control_id);
    const giveUp = Date.now() + CALL_SECONDS * 1000 + 30_000;
    let view: SimCallView | null = null;
    while (Date.now() < giveUp) {
      await sleep(POLL_MS);
      const answer = await sim.request<SimCallView>('GET', `/sim/calls/${id}`);
      if (answer.endedBy && answer.echo) {
        view = answer;
        break;
      }
    }
    if (view && view.endedBy === 'caller' && view.framesReturned > 0) counts.completed++;
    else {
      counts.failed++;
      if (counts.failures.length < 10) counts.failures.push(`${placed.call_control_id}: ${view ? `ended by ${view.endedBy}, ${view.framesReturned} frames back` : 'no end seen'}`);
    }
  }
}

async function main(): Promise<number> {
  if (MINUTES_RESERVED > MAX_CAP_MINUTES) {
    throw new Error(
      `this run would reserve about ${MINUTES_RESERVED} minutes at the platform, past the largest daily cap (${MAX_CAP_MINUTES}): ` +
        'run for less time, or with fewer or longer calls (each call reserves a minute per started minute)',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'ttma-soak-'));
  progress(`${CALLS} concurrent ${CODEC} calls of ${CALL_SECONDS} s for ${DURATION_MS / 60_000} min, ${WORKERS} media worker(s); logs in ${dir}`);
  // Each call asks the platform a few times (answer, its stream), CALLS / CALL_SECONDS calls a second.
  const [inspectPort, platformInspectPort] = (await freePorts(2)) as [number, number];
  const stack = await startDemoStack({
    dir,
    workers: WORKERS,
    codec: CODEC,
    rateLimit: Math.max(50, Math.ceil((CALLS / CALL_SECONDS) * 8)),
    gatewayNodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
    platformNodeArgs: [`--inspect=127.0.0.1:${platformInspectPort}`],
    // A call reserves a minute: 100 calls of 10 s are 600 minutes a minute, the default daily cap in one.
    caps: { dayMinutes: MAX_CAP_MINUTES, monthMinutes: MAX_CAP_MINUTES },
  });
  let ok = false;
  let heap: InspectorHeap | null = null;
  let platformHeap: InspectorHeap | null = null;
  try {
    heap = await InspectorHeap.connect(inspectPort);
    platformHeap = await InspectorHeap.connect(platformInspectPort);
    const inspector = heap;
    const platformInspector = platformHeap;
    const liveHeap = async () => {
      const measured = await inspector.measure();
      return { main: measured.main, workers: Object.values(measured.workers).reduce((a, b) => a + b, 0), workerCount: Object.keys(measured.workers).length };
    };
    const baseline = await liveHeap();
    const platformBaseline = (await platformInspector.measure()).main;
    progress(`live heap before any call: main ${MiB(baseline.main)} MiB, ${baseline.workerCount} worker(s) ${MiB(baseline.workers)} MiB`);
    if (baseline.workerCount !== WORKERS) throw new Error(`the inspector reached ${baseline.workerCount} media workers, not ${WORKERS}`);
    const platformPid = stack.children.find((c) => c.name === 'platform')?.process.pid ?? null;
    const metricsUrl = `http://127.0.0.1:${stack.ports.local}/metrics`;
    const sample = async (): Promise<Sample> => {
      const m = readMetrics(await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })).text());
      const platformKiB = platformPid === null ? null : rssKiB(platformPid);
      return {
        gatewayRss: m['process_resident_memory_bytes'] ?? NaN,
        platformRss: platformKiB === null ? null : platformKiB * 1024,
        live: m['ttma_calls_live'] ?? NaN,
      };
    };

    const started = Date.now();
    const deadline = started + DURATION_MS;
    const slots = Promise.all(Array.from({ length: CALLS }, (_, i) => callSlot(stack.sim, i, deadline)));
    let slotsDone = false;
    const markDone = () => {
      slotsDone = true;
    };
    slots.then(markDone, markDone);
    const windows: Window[] = [];
    let current: Sample[] = [];
    let windowEnd = started + WINDOW_MS;
    while (!slotsDone) {
      await sleep(1_000);
      current.push(await sample());
      if (Date.now() >= windowEnd) {
        const floor = (pick: (s: Sample) => number) => Math.min(...current.map(pick));
        const completed = counts.completed;
        const live = await liveHeap();
        const w: Window = {
          completed,
          atMs: Date.now() - started,
          mainHeap: live.main,
          workerHeap: live.workers,
          platformHeap: (await platformInspector.measure()).main,
          gatewayRss: floor((s) => s.gatewayRss),
          platformRss: platformPid === null ? null : floor((s) => s.platformRss ?? NaN),
        };
        windows.push(w);
        const last = current.at(-1)!;
        progress(
          `${Math.round((Date.now() - started) / 1000)} s | live ${last.live} | completed ${counts.completed}, failed ${counts.failed} | ` +
            `gateway live heap: main ${MiB(w.mainHeap)} MiB, workers ${MiB(w.workerHeap)} MiB; platform ${MiB(w.platformHeap)} MiB | lowest RSS: gateway ${MiB(w.gatewayRss)} MiB` +
            (w.platformRss === null ? '' : `, platform RSS ${MiB(w.platformRss)} MiB`),
        );
        current = [];
        windowEnd += WINDOW_MS;
      }
    }
    await slots;
    // The load is over: every call must drain from the gateway.
    let after = await sample();
    for (let i = 0; i < 20 && after.live > 0; i++) {
      await sleep(500);
      after = await sample();
    }

    const measured = windows.filter((w) => w.atMs >= WARMUP_MS && w.completed >= WARMUP_CALLS);
    const leakChecked = measured.length >= 3;
    // Short of the warm-up (--quick), the trend over what there is, for show only.
    const trended = leakChecked ? measured : windows.slice(1);
    const trend = (pick: (w: Window) => number | null) => {
      const points = trended.filter((w) => pick(w) !== null).map((w) => [w.completed, pick(w)!] as [number, number]);
      const perCall = robustSlope(points);
      const line = slope(points);
      return {
        firstMiB: points.length > 0 ? MiB(points[0]![1]) : null,
        lastMiB: points.length > 0 ? MiB(points.at(-1)![1]) : null,
        /** The verdict's figure (Theil-Sen). */
        bytesPerCall: perCall === null ? null : Math.round(perCall),
        leastSquaresBytesPerCall: line === null ? null : Math.round(line),
      };
    };
    const drained = await liveHeap();
    const gateway = {
      baselineHeapMiB: { main: MiB(baseline.main), workers: MiB(baseline.workers) },
      drainedHeapMiB: { main: MiB(drained.main), workers: MiB(drained.workers) },
      mainHeap: trend((w) => w.mainHeap),
      workerHeap: trend((w) => w.workerHeap),
      rss: trend((w) => w.gatewayRss),
    };
    // Not a leak test: the platform keeps every call's record (up to callRetentionMax); this is what one costs.
    const platform = { baselineHeapMiB: MiB(platformBaseline), liveHeap: trend((w) => w.platformHeap), rss: trend((w) => w.platformRss) };
    const heapLeak = leakChecked && [gateway.mainHeap.bytesPerCall, gateway.workerHeap.bytesPerCall].some((b) => b !== null && b > LEAK_BYTES_PER_CALL);
    // A full run must be long enough to say; --quick is a smoke run of the machinery.
    ok = counts.failed === 0 && after.live === 0 && !heapLeak && (leakChecked || QUICK);
    const summary = {
      ok,
      minutes: DURATION_MS / 60_000,
      concurrentCalls: CALLS,
      callSeconds: CALL_SECONDS,
      codec: CODEC,
      workers: WORKERS,
      calls: { completed: counts.completed, failed: counts.failed, ...(counts.failures.length > 0 ? { failures: counts.failures } : {}) },
      liveAfterLoad: after.live,
      windows: { count: windows.length, measured: measured.length, seconds: WINDOW_MS / 1000 },
      warmup: { seconds: WARMUP_MS / 1000, calls: WARMUP_CALLS },
      leakChecked,
      gateway,
      platform,
      leakThresholdBytesPerCall: LEAK_BYTES_PER_CALL,
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    if (!ok) {
      const why = [
        counts.failed > 0 ? `${counts.failed} calls failed` : null,
        after.live > 0 ? `${after.live} calls still live after the load` : null,
        heapLeak ? `live heap grew more than ${LEAK_BYTES_PER_CALL} bytes a call` : null,
        !leakChecked && !QUICK ? `too short to tell: fewer than 3 windows after the warm-up (${WARMUP_MS / 1000} s and ${WARMUP_CALLS} calls)` : null,
      ].filter(Boolean);
      progress(`FAIL: ${why.join('; ')}`);
    }
  } finally {
    heap?.close();
    platformHeap?.close();
    const codes = await stopDemoStack(stack.children);
    if (Object.values(codes).some((c) => c !== 0)) {
      ok = false;
      progress(`a process did not stop cleanly: ${JSON.stringify(codes)}`);
    }
    if (ok && !values['keep-logs']) rmSync(dir, { recursive: true, force: true });
    else progress(`logs kept in ${dir}`);
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
