/**
 * The main thread's handle on one media worker: control messages out and in,
 * media batched per event-loop turn and transferred, health pings.
 */
import type { CallActorSettings } from './CallActor.js';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, TtmaError } from '../errors.js';
import { forEachInBatch, MediaBatchWriter } from './MediaBatch.js';
import type { FromWorker, ToWorker } from './messages.js';
import type { WorkerStatsSnapshot } from './WorkerStats.js';
import type { MediaWorkerData, WorkerTunnelSettings } from './mediaWorker.js';
import { decodeControl, encodeControl, isMedia, type Posted } from './wireCodec.js';
import { LoadMeter } from './loadAdmission.js';
import { releaseStuckWorkerSockets } from './releaseStuckWorker.js';

const WORKER_ENTRY = new URL('./mediaWorker.js', import.meta.url);
const READY_TIMEOUT_MS = 10_000;
/** How long a stuck worker gets to release its sockets through the inspector (it answers in well under 1 ms when it can). */
const RELEASE_TIMEOUT_MS = 2_000;
/**
 * A worker with its own listener exits once its last connection has closed; a
 * connection that never sent a request lasts until uWS's 10 s HTTP idle
 * timeout. Forcing the thread sooner would abort the process (docs/threads.md).
 */
const OWN_SOCKETS_GRACE_MS = 12_000;

export interface WorkerHostOptions {
  index: number;
  /** Per-call media settings for every CallActor on this worker. */
  call: CallActorSettings;
  tickMs: number;
  /** Worker-owned media sockets: the worker listens on the tunnel port itself (null: the front owns them). */
  tunnel: WorkerTunnelSettings | null;
  /** Worker heap limit: a leaking worker is stopped and restarted, not the box. */
  maxHeapMb: number;
  /** Each outbound frame, in arrival order; `frame` is valid only during the call; `atMs`: when its audio came from the agent. */
  onMedia(slot: number, frame: Uint8Array, atMs: number): void;
  onControl(message: FromWorker): void;
}

export interface WorkerHostEvents {
  exit: [code: number, expected: boolean];
  '@control': [message: FromWorker];
}

/** Now in epoch ms at sub-ms resolution: the clock of a frame's `atMs` (appendMedia), comparable across threads. */
export const epochNowMs = (): number => performance.timeOrigin + performance.now();

export class WorkerHost extends EventEmitter<WorkerHostEvents> {
  readonly index: number;
  readonly #options: WorkerHostOptions;
  readonly #worker: Worker;
  readonly #batch = new MediaBatchWriter();
  #flushScheduled = false;
  #closing = false;
  #exited = false;
  /** The worker said ready (its listener and prompts are set up): a restarting worker is not up before it. */
  #started = false;
  /** When the oldest ping the worker has not answered was sent; null when none is outstanding. */
  #unansweredSince: number | null = null;
  #pingSeq = 0;
  lastLoopDelayP99Ms = 0;
  lastLoopDelayMaxMs = 0;
  lastHeapUsedBytes = 0;
  /** What measured-load admission reads, from this worker's pongs (loadAdmission.ts). */
  readonly #load = new LoadMeter();
  /** The worker's latest stats snapshot (null until its first pong). */
  lastStats: WorkerStatsSnapshot | null = null;
  calls = 0;

  /** Share of the last health interval the worker's event loop was busy (0 until its first pong). */
  get lastBusyShare(): number {
    return this.#load.lastBusyShare;
  }

  /** The busy share expected once `calls` calls stream (measured-load admission, LoadMeter). */
  projectedLoad(calls: number): number {
    return this.#load.projected(calls);
  }

  /** The port the worker's own listener got (worker-owned sockets), once ready. */
  tunnelPort: number | null = null;

  constructor(options: WorkerHostOptions) {
    super();
    this.index = options.index;
    this.#options = options;
    const workerData: MediaWorkerData = { workerIndex: options.index, call: options.call, tickMs: options.tickMs, tunnel: options.tunnel };
    this.#worker = new Worker(WORKER_ENTRY, {
      workerData,
      name: `media-${options.index}`,
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    });
    this.#worker.on('message', (posted: Posted) => this.#onMessage(posted));
    this.#worker.on('error', () => {
      // 'exit' follows and carries the restart; the supervisor logs the cause.
    });
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      this.emit('exit', code, this.#closing);
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Started and not exited: what `ttma_worker_up` reports (a replacement is not up while it starts, nor if it never does). */
  get up(): boolean {
    return this.#started && !this.#exited;
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  /** Resolves when the worker says ready. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TtmaError(ErrorCodes.WORKER, `media worker ${this.index} did not start`)), READY_TIMEOUT_MS);
      // The worker says why it gives up (e.g. it cannot listen) before it exits: the refusal carries it.
      let lastError = '';
      const onReady = (message: FromWorker) => {
        if (message.type === 'log' && message.level === 'error') lastError = message.msg;
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        this.tunnelPort = message.tunnelPort ?? null;
        this.off('@control', onReady);
        resolve();
      };
      this.on('@control', onReady);
      this.once('exit', () => {
        clearTimeout(timer);
        reject(new TtmaError(ErrorCodes.WORKER, `media worker ${this.index} exited while starting${lastError ? ` (${lastError})` : ''}`));
      });
    });
  }

  send(message: ToWorker): void {
    if (this.#exited) return;
    // Media appended before this message goes first: a `media.closed` must not overtake the call's last frames.
    if (this.#batch.records > 0) this.#flush();
    this.#worker.postMessage(encodeControl(message));
  }

  /** Copy a frame into this turn's batch; the batch goes out once per turn. `atMs`: its arrival at the front (epoch ms). */
  appendMedia(slot: number, frame: ArrayBuffer, atMs = 0): void {
    if (this.#exited) return;
    this.#batch.append(slot, frame, atMs);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Tests only: post a control message the worker cannot decode, which throws on its thread (a crash). */
  testOnlyPostUndecodable(): void {
    this.#worker.postMessage({ c: Uint8Array.of(0xc1) });
  }

  ping(withCalls = false): void {
    const now = Date.now();
    this.#unansweredSince ??= now;
    this.send({ type: 'ping', id: ++this.#pingSeq, sentAt: now, withCalls });
  }

  /**
   * How long the worker has left a ping unanswered (0: none outstanding). Counted from the ping,
   * not from the last pong: a main thread too busy to ping for a while blames no worker.
   */
  msWithoutPong(nowMs: number): number {
    return this.#unansweredSince === null ? 0 : nowMs - this.#unansweredSince;
  }

  /** Ask the worker to end its calls and exit; force it after a grace period. */
  async close(graceMs = this.#options.tunnel ? OWN_SOCKETS_GRACE_MS : 2_000): Promise<void> {
    if (this.#exited) return;
    this.#closing = true;
    const exited = new Promise<void>((resolve) => this.once('exit', () => resolve()));
    this.send({ type: 'shutdown' });
    // A worker that does not exit in time may be stuck: its sockets are released first (see releaseSockets).
    const timer = setTimeout(() => void this.releaseSockets().finally(() => void this.#worker.terminate()), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Kill the thread at once, as a crash would (used by the supervisor for stuck workers). */
  async kill(): Promise<void> {
    if (this.#exited) return;
    await this.#worker.terminate();
  }

  /**
   * Worker-owned sockets: have the thread release them even if it is stuck
   * (through the inspector, releaseStuckWorker.ts), so that kill() does not
   * abort the process. True when it did; always true when it owns none.
   */
  async releaseSockets(timeoutMs = RELEASE_TIMEOUT_MS): Promise<boolean> {
    if (!this.#options.tunnel) return true;
    if (this.#exited) return true;
    return releaseStuckWorkerSockets(this.#worker.threadId, timeoutMs);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#exited || this.#batch.records === 0) return;
    const buffer = this.#batch.take();
    this.#worker.postMessage({ m: buffer }, [buffer]);
  };

  #onMessage(posted: Posted): void {
    if (isMedia(posted)) {
      forEachInBatch(posted.m, this.#options.onMedia);
      return;
    }
    const message = decodeControl<FromWorker>(posted);
    if (message.type === 'ready') this.#started = true;
    if (message.type === 'pong') {
      this.#unansweredSince = null;
      this.lastLoopDelayP99Ms = message.loopDelayP99Ms;
      this.lastLoopDelayMaxMs = message.loopDelayMaxMs;
      this.lastHeapUsedBytes = message.heapUsedBytes;
      this.#load.record(message.busyShare, message.calls);
      this.lastStats = message.stats;
    }
    this.emit('@control', message);
    this.#options.onControl(message);
  }
}
