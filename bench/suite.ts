/**
 * `npm run bench`: latency and capacity of the gateway, side by side with the
 * common baseline (bench/baseline/server.ts), in one run on one machine
 * (DESIGN.md section 9, issue 8).
 *
 *   node dist/bench/suite.js [--json] [--quick] [--tiny] [--no-pin] [--profile-dir DIR]
 *
 * For each codec (PCMU, Opus 16 kHz) and each target (ours, baseline): start
 * the target as a child process (pinned to core 0 with taskset; this process,
 * the load generator, pins itself to core 1), then ramp concurrent echo calls
 * step by step until a step fails the pass rule (bench/ramp.ts). The step at
 * 100 calls gives the latency figures and the cost per call. Then the load
 * generator's self-test against a null sink, and the thread transport bench.
 * Progress goes to stderr; with --json one JSON object goes to stdout; the
 * ramps are plotted to bench/out/capacity.svg.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import type { LatencyPercentiles } from '../src/actors/LatencyHistogram.js';
import { createLoopDelay, loopLatenessMs } from '../src/actors/loopDelay.js';
import { freePorts, startNode, stopChild, type Child } from '../src/cli/processes.js';
import { createLogger } from '../src/log.js';
import type { SimCodec } from '../src/sim/codecs.js';
import { MediaClock } from '../src/sim/MediaClock.js';
import { CallControl } from './load/CallControl.js';
import { LoadGenerator, type WindowStats } from './load/LoadGenerator.js';
import { PayloadBank } from './load/PayloadBank.js';
import { hasTaskset, pinProcess } from './pin.js';
import { coreCpu, cpuMs, cpuSplitMs, cpuWithChildrenMs, machineCpu, msPerTick, rssKiB, stealShareBetween } from './procStats.js';
import { admissionFull, allDisturbed, capacityOf, disturbedNote, GENERATOR_MAX_SEND_LAG_MS, generatorBehind, wantsAnotherWindow, ratio, stepFailures, type StepMeasure } from './ramp.js';
import { rampSvg } from './svg.js';

const USAGE = `usage: npm run -s bench -- [--quick | --tiny] [--json] [--only pcmu,opus] [--targets ours,ours-front,baseline]
  [--steps N,N,...] [--ramps-only] [--profile-dir DIR] [--out-dir DIR] [--no-pin] [--keep-logs] [--self-test-calls N]
(docs/bench.md says what each does)`;
const KINDS = ['ours', 'ours-front', 'baseline'] as const;

function parseFlags() {
  try {
    const parsed = parseArgs({ options: FLAG_OPTIONS }).values;
    if (parsed.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    for (const target of (parsed.targets ?? '').split(',').filter(Boolean)) {
      if (!(KINDS as readonly string[]).includes(target)) throw new Error(`unknown target "${target}" (ours, ours-front or baseline)`);
    }
    return parsed;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

const FLAG_OPTIONS = {
  json: { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  tiny: { type: 'boolean', default: false },
  'no-pin': { type: 'boolean', default: false },
  'profile-dir': { type: 'string' },
  'out-dir': { type: 'string' },
  only: { type: 'string' },
  targets: { type: 'string' },
  steps: { type: 'string' },
  'keep-logs': { type: 'boolean', default: false },
  'self-test-calls': { type: 'string' },
  /** One-off looks at a ramp (profiling): no self-test, no transport bench. */
  'ramps-only': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
const flags = parseFlags();

/** Our gateway as shipped (each worker owns its calls' media sockets, DESIGN 4's fourth option), our gateway with the front owning them (opt-in, the default before the tenth session), the baseline. */
type Kind = (typeof KINDS)[number];
const CODECS: Array<{ key: 'pcmu' | 'opus'; codec: SimCodec }> = [
  { key: 'pcmu', codec: 'PCMU' },
  { key: 'opus', codec: 'OPUS' },
];

interface Plan {
  steps: Record<'pcmu' | 'opus', number[]>;
  latencyCalls: number;
  warmupMs: number;
  /**
   * Before a ramp, run this many calls for `targetWarmupMs` and hang them up: the first seconds of a
   * fresh process (JIT, first-call set-up) are not the load's doing (a cold first step cost 22 ms
   * of CPU a call-second against 3.2 warm, and failed steps that passed at 5x the calls).
   */
  targetWarmup: { calls: number; ms: number };
  /** Measure a failing step once more before stopping (full runs; quick must stay under 2 minutes). */
  secondWindow: boolean;
  measureMs: number;
  transportArgs: string[];
  /** Call actors built by bench/callMemory.ts for each codec's own-memory figure. */
  callMemoryCalls: number;
  /** Self-test: calls = max(this, 2 x the PCMU capacity found). */
  selfTestMinCalls: number;
  /** A ramp stops stepping after this long (the whole run must stay under 10 minutes, quick under 2). */
  rampBudgetMs: number;
}

const PLANS: Record<'full' | 'quick' | 'tiny', Plan> = {
  full: {
    steps: {
      // From 10: on a shared VM the first design step (100) can already fail both servers' loop-delay rule.
      pcmu: [10, 25, 50, 100, 200, 300, 400, 500, 600, 700, 800, 1000, 1200, 1400, 1600, 2000],
      opus: [10, 25, 50, 100, 150, 200, 250, 300, 350, 400, 500],
    },
    latencyCalls: 100,
    warmupMs: 2_000,
    targetWarmup: { calls: 50, ms: 4_000 },
    secondWindow: true,
    measureMs: 5_000,
    transportArgs: ['--frames', '100000', '--rounds', '5'],
    callMemoryCalls: 200,
    selfTestMinCalls: 200,
    rampBudgetMs: 100_000,
  },
  quick: {
    steps: { pcmu: [25, 100, 300], opus: [25, 50, 100] },
    latencyCalls: 100,
    warmupMs: 1_000,
    targetWarmup: { calls: 25, ms: 2_000 },
    secondWindow: false,
    measureMs: 2_000,
    transportArgs: ['--frames', '20000', '--rounds', '3'],
    callMemoryCalls: 200,
    selfTestMinCalls: 200,
    rampBudgetMs: 25_000,
  },
  tiny: {
    steps: { pcmu: [2], opus: [2] },
    latencyCalls: 2,
    warmupMs: 200,
    targetWarmup: { calls: 2, ms: 300 },
    secondWindow: false,
    measureMs: 1_000,
    transportArgs: ['--frames', '2000', '--rounds', '1'],
    callMemoryCalls: 10,
    selfTestMinCalls: 4,
    rampBudgetMs: 20_000,
  },
};
const mode = flags.tiny ? 'tiny' : flags.quick ? 'quick' : 'full';
const plan = PLANS[mode];
if (flags.steps) {
  // For one-off looks: the same steps for both codecs, e.g. --steps 100,200.
  const steps = flags.steps.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  plan.steps = { pcmu: steps, opus: steps };
}

const NUMBER = '+15550100000';
const DEPLOYMENT = 'bench';
const TUNNEL_HOST = 'bench-gateway.trycloudflare.com';
/** Calls set up at once while ramping (a burst of a thousand answers is not what we measure). */
const SETUP_BATCH = 50;
/**
 * After a window: workers report their added-latency samples with each health
 * pong, once a second; an echo not back by then counts as lost.
 */
const SETTLE_MS = 1_200;

const TTMA_ENTRY = fileURLToPath(new URL('../src/cli/ttma.js', import.meta.url));
const BASELINE_ENTRY = fileURLToPath(new URL('./baseline/server.js', import.meta.url));
const NULL_SINK_ENTRY = fileURLToPath(new URL('./load/nullSink.js', import.meta.url));
const TRANSPORT_ENTRY = fileURLToPath(new URL('./threadTransport.js', import.meta.url));
const CALL_MEMORY_ENTRY = fileURLToPath(new URL('./callMemory.js', import.meta.url));
const OUT_DIR = flags['out-dir'] ?? fileURLToPath(new URL('../../bench/out/', import.meta.url));

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const r3 = (v: number) => Math.round(v * 1000) / 1000;


const pin = !flags['no-pin'] && availableParallelism() >= 2 && hasTaskset();
/** The gateway (or baseline, or null sink) runs on core 0; this process, the load generator, on core 1. */
const TARGET_WRAP = pin ? ['taskset', '-c', '0'] : [];
/** Whose steal a window reports: the target's core, or the whole machine (null) when not pinned. */
const TARGET_CORE = pin ? 0 : null;

interface LatencyReport {
  toAgent: LatencyPercentiles;
  toPhone: LatencyPercentiles;
  jitterHold: LatencyPercentiles;
  pacerHold: LatencyPercentiles;
  workerLoopDelayP99Ms: number;
  mainLoopDelayP99Ms: number;
  liveCalls: number;
  /** Calls the gateway refused as busy (measured-load admission) since it started; absent from the baseline. */
  refusedBusy?: number;
  /** Each worker's busy share at its last pong (what admission compares with its limit); absent from the baseline. */
  workerBusyShares?: number[];
}

interface Step extends StepMeasure {
  roundTripMs: LatencyPercentiles;
  sendLagMs: LatencyPercentiles;
  egressSpacing: WindowStats['egressSpacing'];
  gateway: LatencyReport;
  /** Calls the target said it carried after the window (fewer than `calls` when some were refused or cut). */
  callsCarried: number;
  cpuMsPerCallSecond: number | null;
  /** Of that CPU, the share spent in the kernel (socket reads and writes, wake-ups), from /proc's stime. */
  kernelShare: number | null;
  rssKiB: number | null;
  failures: string[];
  /** Calls of this target that did not come up or were cut off so far (warm-up included), by why. */
  setupFailureReasons: Record<string, number>;
  /** Why the step's first window failed, when it was measured again (null: it passed the first time). */
  failedFirstWindow: string[] | null;
  /** The generator's send lag p99 (ms) in a first window that was over the bound, when the step was measured again (null: it was not). */
  generatorBehindFirstWindowMs: number | null;
  /** Hypervisor steal on the target's core (the whole machine when not pinned) in each window measured at this step. */
  stealShares: (number | null)[];
  /** Failed, and every window was disturbed by steal (bench/ramp.ts): the verdict is the machine's as much as the target's. */
  disturbed: boolean;
}

interface Ramp {
  steps: Step[];
  capacity: number;
  idleRssKiB: number | null;
  stoppedBecause: string[];
}

interface Secrets {
  dir: string;
  keys: nacl.SignKeyPair;
  publicKeyFile: string;
  agentSecret: string;
  agentSecretFile: string;
}

function makeSecrets(): Secrets {
  const dir = mkdtempSync(join(tmpdir(), 'ttma-bench-'));
  const keys = nacl.sign.keyPair();
  const agentSecret = randomBytes(32).toString('base64url');
  const write = (name: string, value: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${value}\n`, { mode: 0o600 });
    return path;
  };
  return {
    dir,
    keys,
    agentSecret,
    publicKeyFile: write('webhook-public-key', Buffer.from(keys.publicKey).toString('base64')),
    agentSecretFile: write('agent-secret', agentSecret),
  };
}

interface Target {
  child: Child;
  control: CallControl;
  latencyBase: string;
}

/** Starts the target; a start that fails (a port taken between asking and binding) is retried once with fresh ports. */
async function startTarget(kind: Kind, codec: SimCodec, secrets: Secrets): Promise<Target> {
  try {
    return await startTargetOnce(kind, codec, secrets, 1);
  } catch (err) {
    progress(`${kind} ${codec}: start failed (${(err as Error).message}); retrying once`);
    return startTargetOnce(kind, codec, secrets, 2);
  }
}

async function startTargetOnce(kind: Kind, codec: SimCodec, secrets: Secrets, attempt: number): Promise<Target> {
  const [mediaPort, localPort] = (await freePorts(2)) as [number, number];
  const logger = createLogger('bench', 'warn');
  const control = new CallControl({
    signingSecretKey: secrets.keys.secretKey,
    webhookUrl: `http://127.0.0.1:${mediaPort}/v1/webhooks/provider`,
    tunnels: { [TUNNEL_HOST]: `ws://127.0.0.1:${mediaPort}` },
    agentSecret: secrets.agentSecret,
    number: NUMBER,
    logger,
  });
  const platformUrl = await control.start();
  const log = join(secrets.dir, `${kind}-${codec}-${attempt}.log`);
  let child: Child;
  try {
    child = await startChild(kind, codec, secrets, mediaPort, localPort, platformUrl, log);
  } catch (err) {
    await control.close();
    let tail = '';
    try {
      tail = readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 600);
    } catch {
      // no log
    }
    throw new Error(`${(err as Error).message}${tail ? `; log: ${tail}` : ''}`);
  }
  return { child, control, latencyBase: `http://127.0.0.1:${kind === 'baseline' ? mediaPort : localPort}` };
}

async function startChild(
  kind: Kind,
  codec: SimCodec,
  secrets: Secrets,
  mediaPort: number,
  localPort: number,
  platformUrl: string,
  log: string,
): Promise<Child> {
  let child: Child;
  if (kind !== 'baseline') {
    const profile = flags['profile-dir'];
    child = await startNode(
      'gateway',
      TTMA_ENTRY,
      [
        'gateway', '--tunnel-port', String(mediaPort), '--local-port', String(localPort), '--workers', '1',
        '--public-host', TUNNEL_HOST, '--webhook-public-key-file', secrets.publicKeyFile, '--platform-url', platformUrl,
        '--deployment-id', DEPLOYMENT, '--agent-secret-file', secrets.agentSecretFile, '--number', NUMBER,
        '--codec', codec, '--max-calls', '5000',
        // `ours` is the shipped default (each worker owns its media sockets); `ours-front` the front owning them (opt-in).
        '--media-sockets', kind === 'ours-front' ? 'front' : 'worker',
      ],
      log,
      { wrap: TARGET_WRAP, nodeArgs: profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [] },
    );
  } else {
    child = await startNode(
      'baseline',
      BASELINE_ENTRY,
      [
        '--port', String(mediaPort), '--platform-url', platformUrl, '--public-key-file', secrets.publicKeyFile,
        '--agent-secret-file', secrets.agentSecretFile, '--deployment-id', DEPLOYMENT, '--public-host', TUNNEL_HOST, '--codec', codec,
      ],
      log,
      { wrap: TARGET_WRAP },
    );
  }
  return child;
}

/**
 * A target past its capacity can stall for a minute (the baseline's loop, at 100 Opus calls on a busy
 * core, once ran 85 s late): the bench's own requests to it and the hang-ups are bounded, so an
 * overloaded step fails in seconds instead of holding the run.
 */
const TARGET_ANSWER_MS = 10_000;
const HANGUP_BUDGET_MS = 10_000;

class TargetUnresponsive extends Error {}

async function askTarget(url: string, init?: RequestInit): Promise<string> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(TARGET_ANSWER_MS) });
    return await res.text();
  } catch (err) {
    throw new TargetUnresponsive(`target did not answer ${new URL(url).pathname} within ${TARGET_ANSWER_MS / 1000} s (${(err as Error).message})`);
  }
}

async function getLatency(target: Target): Promise<LatencyReport> {
  return JSON.parse(await askTarget(`${target.latencyBase}/debug/latency`)) as LatencyReport;
}

async function resetLatency(target: Target): Promise<void> {
  await askTarget(`${target.latencyBase}/debug/latency/reset`, { method: 'POST' });
}

/** Brings the generator to `total` calls, SETUP_BATCH at a time; returns how many could not be set up. */
async function growTo(gen: LoadGenerator, control: CallControl, total: number): Promise<number> {
  let failed = 0;
  while (gen.calls.length < total) {
    const batch = Math.min(SETUP_BATCH, total - gen.calls.length);
    const results = await Promise.all(Array.from({ length: batch }, () => control.place(gen, gen.calls.length)));
    failed += results.filter((ok) => !ok).length;
  }
  return failed;
}

/** Calls run and hung up before the first measured step; returns set-up failures (they count against the ramp). */
async function warmUpTarget(kind: Kind, codec: SimCodec, gen: LoadGenerator, control: CallControl): Promise<number> {
  const { calls, ms } = plan.targetWarmup;
  progress(`${kind} ${codec}: warming up with ${calls} calls for ${ms / 1000} s (not measured)`);
  const failed = await growTo(gen, control, calls);
  await sleep(ms);
  await Promise.race([Promise.all(gen.calls.map((call) => control.hangUp(call))), sleep(HANGUP_BUDGET_MS)]);
  gen.closeAll();
  await sleep(SETTLE_MS);
  return failed;
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([key, n]) => [`${prefix}${key}`, n]));
}

/** One measured window at the calls already up. */
async function measureStep(target: Target, gen: LoadGenerator, pid: number, calls: number, setupFailures: number): Promise<Step> {
  await resetLatency(target);
  gen.resetWindow(performance.now());
  const cpu0 = cpuSplitMs(pid);
  const core0 = coreCpu(TARGET_CORE);
  const t0 = performance.now();
  await sleep(plan.measureMs);
  const window = gen.window(performance.now());
  const cpu1 = cpuSplitMs(pid);
  const steal = stealShareBetween(core0, coreCpu(TARGET_CORE));
  const used = cpu0 && cpu1 ? { user: cpu1.user - cpu0.user, system: cpu1.system - cpu0.system } : null;
  const seconds = (performance.now() - t0) / 1000;
  const rss = rssKiB(pid);
  // Late echoes still count as returned; workers report their samples with their next pong.
  await sleep(SETTLE_MS);
  const gateway = await getLatency(target);
  // Cost and memory per call are per call carried: refused calls cost nothing.
  const carried = gateway.liveCalls > 0 ? Math.min(calls, gateway.liveCalls) : calls;
  const loss = gen.settledLoss();
  const measure: StepMeasure = {
    calls,
    lossRate: r3(loss.lossRate * 1e5) / 1e5,
    addedP99Ms: Math.max(gateway.toAgent.p99, gateway.toPhone.p99),
    loopDelayP99Ms: Math.max(gateway.mainLoopDelayP99Ms, gateway.workerLoopDelayP99Ms),
    failedCalls: setupFailures + window.failedCalls,
    ...(gateway.refusedBusy !== undefined ? { refusedBusy: gateway.refusedBusy } : {}),
    callsCarried: carried,
    sendLagP99Ms: window.sendLagMs.p99,
  };
  return {
    ...measure,
    roundTripMs: window.roundTripMs,
    sendLagMs: window.sendLagMs,
    egressSpacing: window.egressSpacing,
    gateway,
    callsCarried: carried,
    cpuMsPerCallSecond: used ? r3((used.user + used.system) / (carried * seconds)) : null,
    kernelShare: used && used.user + used.system > 0 ? r3(used.system / (used.user + used.system)) : null,
    rssKiB: rss,
    failures: stepFailures(measure),
    setupFailureReasons: { ...target.control.failures, ...prefixed('closed by the target: ', gen.peerCloses) },
    failedFirstWindow: null,
    generatorBehindFirstWindowMs: null,
    stealShares: [steal === null ? null : r3(steal)],
    disturbed: false,
  };
}

function describeStep(step: Step): string {
  const { gateway } = step;
  return (
    `added p99 ${step.addedP99Ms} ms (to agent ${gateway.toAgent.p99}, to phone ${gateway.toPhone.p99}), ` +
    `loss ${(step.lossRate * 100).toFixed(3)} %, loop p99 ${step.loopDelayP99Ms} ms (main ${gateway.mainLoopDelayP99Ms}, worker ${gateway.workerLoopDelayP99Ms}), ` +
    `round trip p99 ${step.roundTripMs.p99} ms, send lag p99 ${step.sendLagMs.p99} ms` +
    (gateway.workerBusyShares?.length ? `, worker busy ${gateway.workerBusyShares.map((share) => share.toFixed(2)).join('/')}` : '') +
    (step.stealShares.at(-1) != null ? `, steal ${Math.round(step.stealShares.at(-1)! * 1000) / 10} %` : '') +
    (Object.keys(step.setupFailureReasons).length > 0 ? `; calls that did not come up: ${JSON.stringify(step.setupFailureReasons)}` : '') +
    (step.refusedBusy ? ` (refused as busy by measured-load admission since start: ${step.refusedBusy})` : '')
  );
}

async function ramp(kind: Kind, codecKey: 'pcmu' | 'opus', codec: SimCodec, secrets: Secrets, bank: PayloadBank): Promise<Ramp> {
  progress(`${kind} ${codec}: starting`);
  const target = await startTarget(kind, codec, secrets);
  const pid = target.child.process.pid ?? 0;
  const clock = new MediaClock({ slotsPerFrame: 4 });
  const gen = new LoadGenerator({ codec, clock, bank, logger: createLogger('bench', 'warn') });
  const steps: Step[] = [];
  const idleRssKiB = rssKiB(pid);
  let setupFailures = 0;
  let stoppedBecause: string[] = [];
  try {
    setupFailures += await warmUpTarget(kind, codec, gen, target.control);
    const rampStarted = performance.now();
    for (const calls of plan.steps[codecKey]) {
      if (performance.now() - rampStarted > plan.rampBudgetMs && calls > plan.latencyCalls) {
        if (stoppedBecause.length === 0) stoppedBecause = [`time budget of ${plan.rampBudgetMs / 1000} s used up`];
        break;
      }
      setupFailures += await growTo(gen, target.control, calls);
      await sleep(plan.warmupMs);
      let step: Step;
      try {
        step = await measureStep(target, gen, pid, calls, setupFailures);
      } catch (err) {
        if (!(err instanceof TargetUnresponsive)) throw err;
        progress(`${kind} ${codec} ${calls} calls: -> stop: ${err.message}`);
        if (stoppedBecause.length === 0) stoppedBecause = [err.message];
        break;
      }
      // A failing window is measured once more at the same calls: on this shared VM a single window
      // can fail on a hypervisor stall that the next one does not see. Overload fails both. While
      // every window of the step is disturbed by steal, a third is measured (bench/ramp.ts).
      if (step.failures.length > 0 && plan.secondWindow) {
        const first = step.failures;
        const shares = [...step.stealShares];
        while (step.failures.length > 0 && wantsAnotherWindow(shares)) {
          progress(`${kind} ${codec} ${calls} calls: ${describeStep(step)} -> failed, measuring again`);
          try {
            step = await measureStep(target, gen, pid, calls, setupFailures);
          } catch (err) {
            if (!(err instanceof TargetUnresponsive)) throw err;
            step.failures = [...step.failures, err.message];
            break;
          }
          shares.push(...step.stealShares);
        }
        step.failedFirstWindow = first;
        step.stealShares = shares;
        step.disturbed = step.failures.length > 0 && allDisturbed(shares);
      }
      // A stall of the generator's own (a 2-8 ms scavenge on its one core, a late wake-up) can put one
      // window's send lag over the bound at any load, even at 25 calls; a generator that is really
      // behind is behind in the next window too. So a step where it fell behind is measured once more.
      if (generatorBehind(step)) {
        const lagMs = step.sendLagMs.p99;
        progress(`${kind} ${codec} ${calls} calls: ${describeStep(step)} -> load generator behind, measuring again`);
        try {
          const again = await measureStep(target, gen, pid, calls, setupFailures);
          again.failedFirstWindow = step.failedFirstWindow;
          again.stealShares = [...step.stealShares, ...again.stealShares];
          again.generatorBehindFirstWindowMs = lagMs;
          step = again;
        } catch (err) {
          if (!(err instanceof TargetUnresponsive)) throw err;
        }
      }
      const full = step.failures.length === 0 && admissionFull(step) ? [`admission refused ${step.refusedBusy} calls: full at ${step.callsCarried} calls carried`] : [];
      // The generator's own limit says nothing about the target: it ends the ramp in place of the target's verdict.
      const behind = generatorBehind(step)
        ? [`load generator fell behind (send lag p99 ${step.sendLagMs.p99} ms > ${GENERATOR_MAX_SEND_LAG_MS} ms): the target carried at least the step before`]
        : [];
      const failures = behind.length > 0 ? behind : [...step.failures, ...full];
      steps.push(step);
      progress(`${kind} ${codec} ${calls} calls: ${describeStep(step)}${failures.length ? ` -> stop: ${failures.join('; ')}` : ''}`);
      if (failures.length > 0 && stoppedBecause.length === 0) {
        stoppedBecause = step.disturbed ? [...failures, disturbedNote(step.stealShares)] : failures;
      }
      // Past the first failure only to reach the latency step (latency is measured at 100 calls either way).
      if (stoppedBecause.length > 0 && calls >= plan.latencyCalls) break;
    }
  } finally {
    progress(`${kind} ${codec}: hanging up ${gen.calls.length} calls`);
    await Promise.race([Promise.all(gen.calls.map((call) => target.control.hangUp(call))), sleep(HANGUP_BUDGET_MS)]);
    gen.closeAll();
    clock.close();
    await sleep(300);
    await stopChild(target.child);
    await target.control.close();
  }
  if (stoppedBecause.length === 0) stoppedBecause = ['ran out of steps'];
  return { steps, capacity: capacityOf(steps), idleRssKiB, stoppedBecause };
}

/** The step the latency and cost figures come from: the first at or above plan.latencyCalls. */
function latencyStep(r: Ramp): Step | undefined {
  return r.steps.find((s) => s.calls >= plan.latencyCalls);
}

function latencyFigures(step: Step | undefined) {
  if (!step) return null;
  const pick = (p: LatencyPercentiles) => ({ p50: p.p50, p99: p.p99, p999: p.p999, max: p.max, count: p.count });
  return {
    calls: step.calls,
    toAgentMs: pick(step.gateway.toAgent),
    toPhoneMs: pick(step.gateway.toPhone),
    jitterBufferHoldMs: pick(step.gateway.jitterHold),
    // Part of toPhoneMs: the live pacer spacing bunched input (the baseline has no pacer).
    pacerHoldMs: pick(step.gateway.pacerHold),
    egressSpacing: { meanMs: step.egressSpacing.meanMs, p99DeviationMs: step.egressSpacing.p99DeviationMs },
    roundTripFromPlannedSendMs: pick(step.roundTripMs),
    lossRate: step.lossRate,
    loopDelayP99Ms: step.loopDelayP99Ms,
  };
}

/** The load generator alone against a null sink: how many calls it can drive without being the bottleneck. */
async function selfTest(calls: number, gatewayCapacity: number, secrets: Secrets, bank: PayloadBank) {
  progress(`load generator self-test: ${calls} PCMU calls against a null sink`);
  const sink = await startNode('null-sink', NULL_SINK_ENTRY, [], join(secrets.dir, 'null-sink.log'), { wrap: TARGET_WRAP });
  const clock = new MediaClock({ slotsPerFrame: 4 });
  const gen = new LoadGenerator({ codec: 'PCMU', clock, bank, logger: createLogger('bench', 'warn') });
  const loop = createLoopDelay();
  const url = new URL(`ws://127.0.0.1:${String(sink.ready.port)}/v1/media/self-test`);
  try {
    let failed = 0;
    while (gen.calls.length < calls) {
      const batch = Math.min(SETUP_BATCH * 4, calls - gen.calls.length);
      const opened = await Promise.all(
        Array.from({ length: batch }, (_, i) => {
          const id = `self-test-${gen.calls.length + i}`;
          return gen.createCall({ callControlId: id, callSessionId: id, from: NUMBER, to: NUMBER, clientState: null }).open({ url, tunnelHost: null, token: undefined });
        }),
      );
      failed += opened.filter((ok) => !ok).length;
    }
    await sleep(plan.warmupMs);
    gen.resetWindow(performance.now());
    loop.enable();
    const sinkPid = sink.process.pid ?? 0;
    const sink0 = cpuMs(sinkPid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(plan.measureMs);
    const w = gen.window(performance.now());
    const cpu = process.cpuUsage(cpu0);
    const sink1 = cpuMs(sinkPid);
    loop.disable();
    const seconds = (performance.now() - t0) / 1000;
    await sleep(SETTLE_MS);
    w.lossRate = gen.settledLoss().lossRate;
    const result = {
      calls,
      setupFailures: failed,
      lossRate: r3(w.lossRate * 1e5) / 1e5,
      sendLagMs: w.sendLagMs,
      roundTripMs: w.roundTripMs,
      eventLoopDelayP99Ms: loopLatenessMs(loop, 99),
      cpuShareOfOneCore: r3((cpu.user + cpu.system) / 1000 / (seconds * 1000)),
      /** The kernel's part of it (socket reads and writes): what no change to our JavaScript can remove. */
      cpuSystemShareOfOneCore: r3(cpu.system / 1000 / (seconds * 1000)),
      /** Calls one core of this generator would carry at this CPU cost per call (the CPU it got, not what neighbours took). */
      projectedCallsPerCore: 0,
      /**
       * The null sink's CPU per call-second: what a server pays for the sockets alone (uWS, one read
       * and one write a frame, no parsing, no DSP); a floor under ours and the baseline's cost.
       */
      nullSinkCpuMsPerCallSecond: sink0 !== null && sink1 !== null ? r3((sink1 - sink0) / (calls * seconds)) : null,
      /** The PCMU capacity found for the gateway in this run; the generator must reach at least twice that. */
      gatewayCapacity,
      passes: false,
    };
    result.projectedCallsPerCore = result.cpuShareOfOneCore > 0 ? Math.round(calls / result.cpuShareOfOneCore) : 0;
    result.passes = failed === 0 && w.lossRate <= 0.001 && w.sendLagMs.p99 <= GENERATOR_MAX_SEND_LAG_MS && calls >= 2 * gatewayCapacity;
    progress(
      `self-test ${calls} calls: loss ${(w.lossRate * 100).toFixed(3)} %, send lag p99 ${w.sendLagMs.p99} ms, round trip p99 ${w.roundTripMs.p99} ms, ` +
        `CPU ${(result.cpuShareOfOneCore * 100).toFixed(0)} % of a core (${(result.cpuSystemShareOfOneCore * 100).toFixed(0)} % in the kernel; about ${result.projectedCallsPerCore} calls a core) -> ${result.passes ? 'pass' : 'FAIL'}`,
    );
    return result;
  } finally {
    gen.closeAll();
    clock.close();
    await sleep(200);
    await stopChild(sink);
  }
}

async function transport(): Promise<unknown> {
  progress(`thread transport at 1,000 calls' frame rate (${plan.transportArgs.join(' ')})`);
  const out = execFileSync(process.execPath, [TRANSPORT_ENTRY, ...plan.transportArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out) as unknown;
}

/**
 * A call's own memory (bench/callMemory.ts: call actors on one thread, no sockets): steadier than
 * the ramp's whole-process RSS per call, which V8's heap sizing moves by tens of KiB a call.
 */
function callOwnMemory(codec: SimCodec): unknown {
  progress(`a ${codec} call's own memory (${plan.callMemoryCalls} call actors)`);
  const out = execFileSync(process.execPath, [CALL_MEMORY_ENTRY, '--codec', codec, '--calls', String(plan.callMemoryCalls), '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const { kibPerCall } = JSON.parse(out) as { kibPerCall: unknown };
  return kibPerCall;
}

function machine() {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    pinned: pin,
    targetCore: pin ? 0 : null,
    loadGeneratorCore: pin ? 1 : null,
    gatewayWorkers: 1,
    noise: null as null | Record<string, number>,
  };
}

/** The event-loop delay of this process doing nothing for a second: the machine's floor before any load. */
async function idleLoopDelayP99Ms(): Promise<number> {
  const h = createLoopDelay();
  h.enable();
  await sleep(1_000);
  h.disable();
  return loopLatenessMs(h, 99);
}

async function main(): Promise<void> {
  const started = performance.now();
  const cpuAtStart = machineCpu();
  const ownCpuAtStart = cpuWithChildrenMs(process.pid);
  process.env.TTMA_LOG_LEVEL = flags['keep-logs'] ? 'info' : 'warn';
  const machineInfo = machine();
  if (pin) pinProcess(process.pid, 1);
  progress(`${mode} run on ${machineInfo.cpuModel} x${machineInfo.cores}; ${pin ? 'target on core 0, load generator on core 1' : 'not pinned'}`);
  const idleLoopDelay = await idleLoopDelayP99Ms();
  progress(`idle event-loop delay p99 of this process: ${idleLoopDelay} ms`);
  const secrets = makeSecrets();
  const bank = new PayloadBank();
  const only = flags.only ? new Set(flags.only.split(',')) : null;
  const ramps: Record<string, Record<Kind, Ramp>> = {};
  try {
    for (const { key, codec } of CODECS) {
      if (only && !only.has(key)) continue;
      const targets = new Set((flags.targets ?? (mode === 'full' ? 'ours,ours-front,baseline' : 'ours,baseline')).split(','));
      const skipped: Ramp = { steps: [], capacity: 0, idleRssKiB: null, stoppedBecause: ['not run'] };
      ramps[key] = {
        ours: targets.has('ours') ? await ramp('ours', key, codec, secrets, bank) : skipped,
        'ours-front': targets.has('ours-front') ? await ramp('ours-front', key, codec, secrets, bank) : skipped,
        baseline: targets.has('baseline') ? await ramp('baseline', key, codec, secrets, bank) : skipped,
      };
    }
    const pcmuCapacity = ramps.pcmu?.ours.capacity ?? 0;
    const selfTestCalls = flags['self-test-calls'] ? Number(flags['self-test-calls']) : Math.max(plan.selfTestMinCalls, 2 * pcmuCapacity);
    const loadGenerator = flags['ramps-only'] ? null : await selfTest(selfTestCalls, pcmuCapacity, secrets, bank);
    const transportResult = flags['ramps-only'] ? null : await transport();

    const latency: Record<string, unknown> = {};
    const capacity: Record<string, unknown> = {};
    const cost: Record<string, unknown> = {};
    const rss: Record<string, unknown> = {};
    for (const [key, pair] of Object.entries(ramps)) {
      const ours = latencyStep(pair.ours);
      const base = latencyStep(pair.baseline);
      const front = latencyStep(pair['ours-front']);
      latency[key] = { ...latencyFigures(ours), oursFront: latencyFigures(front), baseline: latencyFigures(base) };
      capacity[key] = {
        ours: pair.ours.capacity,
        // The same gateway with the front owning the media sockets (null: not run); its steps are under steps.oursFront.
        oursFront: pair['ours-front'].steps.length > 0 ? pair['ours-front'].capacity : null,
        baseline: pair.baseline.capacity,
        ratio: ratio(pair.ours.capacity, pair.baseline.capacity),
        // CPU cost per call at the latency step, baseline over ours: the capacity ratio a quiet core would show if cost stayed linear.
        costRatio: ours?.cpuMsPerCallSecond && base?.cpuMsPerCallSecond ? ratio(base.cpuMsPerCallSecond, ours.cpuMsPerCallSecond) : null,
        oursStoppedBecause: pair.ours.stoppedBecause,
        oursFrontStoppedBecause: pair['ours-front'].stoppedBecause,
        baselineStoppedBecause: pair.baseline.stoppedBecause,
        steps: {
          ours: pair.ours.steps.map(stepRow),
          oursFront: pair['ours-front'].steps.map(stepRow),
          baseline: pair.baseline.steps.map(stepRow),
        },
      };
      const perCore = (ms: number | null | undefined) => (ms ? Math.round(1000 / ms) : null);
      cost[key] = {
        calls: ours?.calls ?? null,
        ours: ours?.cpuMsPerCallSecond ?? null,
        oursFront: front?.cpuMsPerCallSecond ?? null,
        baseline: base?.cpuMsPerCallSecond ?? null,
        // 1,000 ms of CPU a second over the cost of one call: calls a core would carry if cost stayed linear.
        oursProjectedCallsPerCore: perCore(ours?.cpuMsPerCallSecond),
        // The kernel's share of each target's CPU at that step: socket I/O that no user-space change removes.
        kernelShare: { ours: ours?.kernelShare ?? null, oursFront: front?.kernelShare ?? null, baseline: base?.kernelShare ?? null },
        baselineProjectedCallsPerCore: perCore(base?.cpuMsPerCallSecond),
      };
      const perCall = (r: Ramp, s: Step | undefined) =>
        s && s.rssKiB !== null && r.idleRssKiB !== null ? Math.round((s.rssKiB - r.idleRssKiB) / s.callsCarried) : null;
      rss[key] = {
        calls: ours?.calls ?? null,
        ours: perCall(pair.ours, ours),
        oursFront: perCall(pair['ours-front'], front),
        baseline: perCall(pair.baseline, base),
        oursIdleKiB: pair.ours.idleRssKiB,
        baselineIdleKiB: pair.baseline.idleRssKiB,
        // One call's own heap, typed-array stores and RSS, without the socket (null with --ramps-only).
        oursCallOwn: flags['ramps-only'] ? null : callOwnMemory(key === 'pcmu' ? 'PCMU' : 'OPUS'),
      };
    }
    mkdirSync(OUT_DIR, { recursive: true });
    const svgPath = join(OUT_DIR, 'capacity.svg');
    writeFileSync(svgPath, rampSvg(`Capacity ramps (${mode} run): added latency p99 vs calls`, svgSeries(ramps)));
    const cpuAtEnd = machineCpu();
    const ownCpuAtEnd = cpuWithChildrenMs(process.pid);
    let noise = null;
    if (cpuAtStart && cpuAtEnd && ownCpuAtStart !== null && ownCpuAtEnd !== null) {
      const tick = msPerTick();
      const total = (cpuAtEnd.busy + cpuAtEnd.idle + cpuAtEnd.steal - cpuAtStart.busy - cpuAtStart.idle - cpuAtStart.steal) * tick;
      const busy = (cpuAtEnd.busy - cpuAtStart.busy) * tick;
      // This process and every child it has reaped (targets, null sink, transport bench).
      const ours = ownCpuAtEnd - ownCpuAtStart;
      noise = {
        idleLoopDelayP99Ms: idleLoopDelay,
        // Of all CPU time on the machine during the run: what other people's processes used, and what the hypervisor stole.
        othersCpuShare: r3(Math.max(0, busy - ours) / total),
        benchCpuShare: r3(ours / total),
        stealShare: r3(((cpuAtEnd.steal - cpuAtStart.steal) * tick) / total),
      };
    }
    machineInfo.noise = noise;
    const result = {
      mode,
      latency,
      capacity,
      costPerCallSecondMs: cost,
      rssPerCallKiB: rss,
      transport: transportResult,
      loadGenerator,
      machine: machineInfo,
      plot: svgPath,
      durationS: Math.round((performance.now() - started) / 1000),
    };
    progress(`done in ${result.durationS} s; plot in ${svgPath}`);
    if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    if (flags['keep-logs']) progress(`logs kept in ${secrets.dir}`);
    else rmSync(secrets.dir, { recursive: true, force: true });
  }
}

function stepRow(s: Step) {
  return {
    calls: s.calls,
    addedP99Ms: s.addedP99Ms,
    toAgentP99Ms: s.gateway.toAgent.p99,
    toPhoneP99Ms: s.gateway.toPhone.p99,
    lossRate: s.lossRate,
    loopDelayP99Ms: s.loopDelayP99Ms,
    roundTripP99Ms: s.roundTripMs.p99,
    sendLagP99Ms: s.sendLagMs.p99,
    callsCarried: s.callsCarried,
    rssKiB: s.rssKiB,
    refusedBusy: s.refusedBusy ?? null,
    workerBusyShares: s.gateway.workerBusyShares ?? null,
    cpuMsPerCallSecond: s.cpuMsPerCallSecond,
    kernelShare: s.kernelShare,
    failures: s.failures,
    setupFailureReasons: s.setupFailureReasons,
    failedFirstWindow: s.failedFirstWindow,
    generatorBehindFirstWindowMs: s.generatorBehindFirstWindowMs,
    stealShares: s.stealShares,
    disturbed: s.disturbed,
  };
}

function svgSeries(ramps: Record<string, Record<Kind, Ramp>>) {
  const colors: Record<string, string> = {
    'ours pcmu': '#1f77b4',
    'ours-front pcmu': '#9ecae1',
    'baseline pcmu': '#ff7f0e',
    'ours opus': '#2ca02c',
    'ours-front opus': '#a1d99b',
    'baseline opus': '#d62728',
  };
  return Object.entries(ramps).flatMap(([key, pair]) =>
    (['ours', 'ours-front', 'baseline'] as const).filter((kind) => pair[kind].steps.length > 0).map((kind) => ({
      name: `${kind} ${key}`,
      color: colors[`${kind} ${key}`] ?? 'black',
      points: pair[kind].steps.map((s) => ({ calls: s.calls, addedP99Ms: s.addedP99Ms })),
    })),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
  // Whatever a failure left open (a socket, a timer) must not keep the run alive.
  setTimeout(() => process.exit(1), 2_000).unref();
});
