/**
 * Media worker entry: hosts many CallActors on one thread, driven by one
 * shared clock (a timer per call does not scale, DESIGN 4).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, resourceLimits as workerLimits, workerData } from 'node:worker_threads';
import { createAgent } from '../agent/createAgent.js';
import { ECHO_SAMPLE_RATE } from '../agent/EchoAgent.js';
import { CallActor, type CallActorHooks, type CallActorSettings } from './CallActor.js';
import { LatencyHistogram } from './LatencyHistogram.js';
import { forEachInBatch, MediaBatchWriter } from './MediaBatch.js';
import { assertNever, type FromWorker, type ToWorker } from './messages.js';
import { warmUpMediaPath } from './warmUp.js';
import { PromptAudio } from '../media/PromptAudio.js';
import { LOOP_DELAY_RESOLUTION_MS, WorkerStats } from './WorkerStats.js';
import { decodeControl, encodeControl, isMedia, type Posted } from './wireCodec.js';
import { WorkerTunnel } from '../front/WorkerTunnel.js';
import { RELEASE_HOOK, RELEASED } from './releaseStuckWorker.js';
import { heapOverGuard, HEAP_GUARD_EVERY_MS } from './heapGuard.js';
import { agentAudioBudgetFor } from './agentAudioBudget.js';
import { TtmaError } from '../errors.js';

/** Narrowband and wideband calls, and the realtime agent's 24 kHz. */
const PROMPT_WARM_RATES = [8000, 16000, 24000];

/** Worker-owned media sockets (DESIGN 4, fourth option): this worker listens on the tunnel port itself. */
export interface WorkerTunnelSettings {
  host: string;
  /** 0 for the first worker (a free port); the port it got for the others. */
  port: number;
  webhookReadTimeoutMs: number;
  mediaFramesPerSecond: number;
  mediaFrameBurst: number;
}

export interface MediaWorkerData {
  workerIndex: number;
  call: CallActorSettings;
  tickMs: number;
  tunnel: WorkerTunnelSettings | null;
}

const port = parentPort;
if (!port) throw new Error('mediaWorker must run in a worker thread');
const config = workerData as MediaWorkerData;

const actors = new Map<number, CallActor>();
/** Agent audio queued toward the phone, all calls together: a share of this thread's heap limit (agentAudioBudget.ts). */
const agentAudio = agentAudioBudgetFor(workerLimits.maxOldGenerationSizeMb);
const stats = new WorkerStats(agentAudio);
const outBatch = new MediaBatchWriter();
/** Event-loop delay since the last pong (metrics, dashboard: a figure per second). */
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();
/**
 * The same since the last `latency.reset` (a bench window): its p99 is the
 * window's p99. A second's p99 from 100 samples is that second's worst one,
 * and the worst of those over a window is its maximum, not its p99.
 */
const windowLoopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
windowLoopDelay.enable();
/** Added latency toward the agent, and the jitter buffer's hold, since the last pong (DESIGN 9). */
const inbound = new LatencyHistogram();
const hold = new LatencyHistogram();
/** How long the live pacer's spacing held frames toward the phone (part of the outbound latency). */
const paced = new LatencyHistogram();
/** Added latency toward the phone, when this worker sends on the socket itself (otherwise main measures it). */
const toPhone = new LatencyHistogram();

/** Same clock on every thread: epoch milliseconds with sub-ms resolution (the origin read once: its getter costs 20 ns a call). */
const timeOrigin = performance.timeOrigin;
const now = (): number => timeOrigin + performance.now();
/**
 * Caller audio that reaches this thread more than this long after the front
 * read it is dropped unplayed: the worker is behind (a queue between the
 * threads is unbounded), and playing a backlog in full keeps every call on
 * the worker that late. 400 ms is ITU-T G.114's limit of acceptable one-way
 * delay; the normal hand-over takes well under a millisecond.
 */
const MAX_BACKLOG_MS = 400;

/** Event-loop utilization at the last pong: each pong reports the share busy since the one before. */
let lastUtilization = performance.eventLoopUtilization();

function busyShareSinceLastPong(): number {
  const current = performance.eventLoopUtilization();
  const share = performance.eventLoopUtilization(current, lastUtilization).utilization;
  lastUtilization = current;
  return Number.isFinite(share) ? share : 0;
}

function post(message: FromWorker): void {
  // Cloned, not transferred: msgpackr may hand back a view of its own buffer.
  port!.postMessage(encodeControl(message));
}

function flushMedia(): void {
  if (outBatch.records === 0) return;
  const buffer = outBatch.take();
  port!.postMessage({ m: buffer }, [buffer]);
}

// Agent audio and events arrive on their own sockets, outside a drain: what
// they emit goes out at the end of that turn, batched like the rest.
let flushQueued = false;
function flushSoon(): void {
  if (flushQueued) return;
  flushQueued = true;
  queueMicrotask(() => {
    flushQueued = false;
    flushMedia();
  });
}

// Worker-owned sockets: caller frames go straight to the call's actor, its frames straight out.
const tunnel = config.tunnel
  ? new WorkerTunnel({
      post,
      webhookReadTimeoutMs: config.tunnel.webhookReadTimeoutMs,
      mediaFramesPerSecond: config.tunnel.mediaFramesPerSecond,
      mediaFrameBurst: config.tunnel.mediaFrameBurst,
      onFrame: (slot, frame) => {
        const actor = actors.get(slot);
        if (!actor) return;
        const view = new Uint8Array(frame);
        const arrivedAt = now();
        if (!actor.handleNow(view, arrivedAt)) {
          // It must wait: copied, as uWS reuses the message's memory once this handler returns
          // (a pooled Buffer: a fresh ArrayBuffer per frame costs about 2 us).
          const copy = Buffer.allocUnsafe(view.length);
          copy.set(view);
          actor.enqueue(copy, arrivedAt);
          actor.drain();
        }
        actor.pump(now());
      },
    })
  : null;

// A stuck worker cannot run this itself: the supervisor calls it through the inspector
// before terminating the thread, which would otherwise abort the process (releaseStuckWorker.ts).
if (tunnel) {
  Object.defineProperty(globalThis, RELEASE_HOOK, {
    value: () => {
      tunnel.closeAll(null);
      return RELEASED;
    },
  });
}

const hooks: CallActorHooks = {
  emitMedia: tunnel
    ? (slot, text, agentAtMs) => {
        if (tunnel.send(slot, text) && agentAtMs !== undefined && agentAtMs > 0) toPhone.record(now() - agentAtMs);
      }
    : (slot, text, agentAtMs) => {
        outBatch.appendText(slot, text, agentAtMs);
        flushSoon();
      },
  recordInbound: (addedMs, holdMs) => {
    inbound.record(addedMs);
    hold.record(holdMs);
  },
  recordPaced: (holdMs) => paced.record(holdMs),
  requestClose: (slot, code, reason) => post({ type: 'media.close', slot, code, reason }),
  streamStarted: (slot, streamId) => post({ type: 'media.started', slot, streamId }),
  agentAction: (slot, action) => post({ type: 'agent.action', slot, action }),
  log: (slot, level, msg, fields) => post({ type: 'log', level, slot, msg, ...(fields ? { fields } : {}) }),
  now,
  agentReconnectsStopped: () => {
    stats.agentReconnectsStopped++;
  },
  addedLatency: stats.recordLatencyMs,
};

function endCall(slot: number, reason: string): void {
  const actor = actors.get(slot);
  if (!actor) return;
  actors.delete(slot);
  const summary = actor.end(reason, now());
  stats.callEnded(summary);
  post({ type: 'call.ended', slot, summary });
}

function onControl(message: ToWorker): void {
  switch (message.type) {
    case 'call.open': {
      const call = { callId: message.callId, from: message.from, to: message.to, direction: message.direction, ...(message.resumed ? { resumed: true } : {}) };
      const settings = message.resumed ? { ...config.call, greeting: null } : config.call;
      const actor = new CallActor(message.slot, call, createAgent(message.agent, { hold: config.call.hold }), hooks, settings, message.bargeIn, agentAudio);
      actors.set(message.slot, actor);
      actor.openAgent().then(
        () => {
          actor.drain();
          actor.pump(now());
          flushMedia();
        },
        (err: Error) => {
          // An actor ended meanwhile (its call moved, or ended) closed its agent, which fails the open: nothing to close.
          if (actors.get(message.slot) !== actor) return;
          // The code (TTMA_ERR_AGENT_PROTOCOL / _CONNECT) is what docs/agent-protocols.md tells an agent's author to look for.
          const code = err instanceof TtmaError ? ` (${err.code})` : '';
          post({ type: 'log', level: 'error', slot: message.slot, msg: `agent failed to open${code}: ${err.message}` });
          post({ type: 'media.close', slot: message.slot, code: 1011, reason: 'agent unavailable' });
        },
      );
      return;
    }
    case 'call.end':
      return endCall(message.slot, message.reason);
    case 'agent.result':
      return actors.get(message.slot)?.agentResult(message.result);
    case 'media.open':
      return;
    case 'media.closed':
      if (message.restream && actors.get(message.slot)?.streamLost()) {
        post({ type: 'media.lost', slot: message.slot });
        return;
      }
      return endCall(message.slot, 'media closed');
    case 'ping':
      post({
        type: 'pong',
        id: message.id,
        sentAt: message.sentAt,
        calls: actors.size,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        windowLoopDelayP99Ms: windowLoopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        busyShare: busyShareSinceLastPong(),
        heapUsedBytes: process.memoryUsage().heapUsed,
        inbound: inbound.toSparse(),
        hold: hold.toSparse(),
        paced: paced.toSparse(),
        ...(tunnel ? { toPhone: toPhone.toSparse() } : {}),
        stats: stats.snapshot(actors.values(), now(), message.withCalls),
      });
      resetLatency();
      return;
    case 'latency.reset':
      windowLoopDelay.reset();
      return resetLatency();
    case 'webhook.answer':
      return tunnel?.answerWebhook(message.id, { status: message.status, json: message.json });
    case 'media.verdict':
      return tunnel?.answerMedia(message.id, message.verdict);
    case 'media.end':
      return tunnel?.end(message.slot, message.code, message.reason);
    case 'listen.close':
      return tunnel?.closeListener();
    case 'shutdown':
      for (const slot of [...actors.keys()]) endCall(slot, 'shutdown');
      flushMedia();
      tunnel?.closeAll(1001, 'gateway shutting down');
      clearTimeout(clock);
      loopDelay.disable();
      windowLoopDelay.disable();
      port!.close();
      return;
    default:
      assertNever(message);
  }
}

function resetLatency(): void {
  loopDelay.reset();
  inbound.reset();
  hold.reset();
  paced.reset();
  toPhone.reset();
}

function onMediaBatch(batch: ArrayBuffer): void {
  const t = now();
  const touched = new Set<CallActor>();
  forEachInBatch(batch, (slot, frame, frontAtMs) => {
    const actor = actors.get(slot);
    if (!actor) return;
    // Latency counts from the front's arrival time (0: a sender that did not stamp it).
    actor.enqueue(frame, frontAtMs > 0 ? frontAtMs : t, frontAtMs > 0 && t - frontAtMs > MAX_BACKLOG_MS);
    touched.add(actor);
  });
  for (const actor of touched) {
    actor.drain();
    actor.pump(now());
  }
  flushMedia();
}

port.on('message', (posted: Posted) => {
  if (isMedia(posted)) onMediaBatch(posted.m);
  else onControl(decodeControl<ToWorker>(posted));
});

// One clock for every call on this worker: re-armed against the monotonic
// clock; if the loop falls behind, each pacer re-anchors (skip, never burst).
let clock: NodeJS.Timeout;
function tick(): void {
  const t = now();
  for (const actor of actors.values()) actor.pump(t);
  flushMedia();
  clock = setTimeout(tick, config.tickMs);
}
clock = setTimeout(tick, config.tickMs);

warmUpMediaPath(ECHO_SAMPLE_RATE);
// Prompt audio at the usual call and agent rates, converted before the first call rather than during it.
for (const prompt of [config.call.greeting, config.call.hold]) {
  if (prompt !== null) for (const rate of PROMPT_WARM_RATES) PromptAudio.of(prompt).framesAt(rate);
}
// The first pong's load counts from here: start-up work is not load that should turn calls away.
lastUtilization = performance.eventLoopUtilization();
if (tunnel && config.tunnel) {
  // A thread that exits with a uWS socket open aborts the process (this uWS build): release them first.
  const exitReleasingSockets = (why: string): void => {
    post({ type: 'log', level: 'error', msg: why });
    tunnel.closeAll(null);
    clearTimeout(clock);
    setImmediate(() => process.exit(1));
  };
  process.on('uncaughtException', (err) => exitReleasingSockets(`media worker crashed: ${err.stack ?? err.message}`));
  // V8 ends a thread at its heap limit without running any JavaScript, sockets open: leave first.
  const heapGuard = setInterval(() => {
    const why = heapOverGuard(getHeapStatistics().used_heap_size, workerLimits.maxOldGenerationSizeMb);
    if (why === null) return;
    clearInterval(heapGuard);
    exitReleasingSockets(why);
  }, HEAP_GUARD_EVERY_MS);
  heapGuard.unref();
  const { host, port } = config.tunnel;
  tunnel.listen(host, port).then(
    (tunnelPort) => post({ type: 'ready', workerIndex: config.workerIndex, tunnelPort }),
    (err: Error) => {
      post({ type: 'log', level: 'error', msg: `media worker cannot listen: ${err.message}` });
      clearTimeout(clock);
      setImmediate(() => process.exit(1));
    },
  );
} else {
  post({ type: 'ready', workerIndex: config.workerIndex });
}
