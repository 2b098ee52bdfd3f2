/**
 * Measured-load admission (DESIGN 4), the arithmetic only: which worker has
 * room for one more call, given each worker's last measured busy share and
 * cost per call. Supervisor applies it to its live WorkerHosts.
 */

/** What admission reads from a worker (WorkerHost satisfies it). */
export interface WorkerLoad {
  readonly exited: boolean;
  /** Calls the worker carries now (or has been assigned). */
  readonly calls: number;
  /** Share of the last health interval its event loop was busy. */
  readonly lastBusyShare: number;
  /** Measured busy share per call (0 until measured). */
  readonly busySharePerCall: number;
  /** Calls lastBusyShare fully measured (LoadMeter): calls beyond these are projected. */
  readonly callsMeasured: number;
}

/**
 * A worker's load once the calls admitted since its last measurement are
 * streaming: the measured busy share plus each newer call at the measured
 * cost per call. Calls arrive in bursts (a campaign, a ramp) faster than
 * load is measured (once a second), so the measurement alone would admit a
 * whole burst into a worker that is nearly full.
 */
export function projectedLoad(measured: number, perCall: number, callsNow: number, callsAtMeasure: number): number {
  return measured + Math.max(0, callsNow - callsAtMeasure) * perCall;
}

/**
 * The live worker with room (projected load at or under maxLoad) carrying
 * the fewest calls; undefined when none has room. `unplaced` counts calls
 * admitted but not yet on any worker (worker-owned sockets: the kernel
 * places them when their socket lands); they are spread evenly over the live
 * workers, so a burst is projected before its sockets arrive.
 */
export function pickWithRoom<T extends WorkerLoad>(workers: readonly T[], maxLoad: number, unplaced = 0): T | undefined {
  const extra = unplacedShare(workers, unplaced);
  let best: T | undefined;
  for (const worker of workers) {
    if (worker.exited || isFull(worker, maxLoad, extra)) continue;
    if (!best || worker.calls < best.calls) best = worker;
  }
  return best;
}

/** Every live worker is above maxLoad, and at least one is live: a new call is refused as busy. */
export function allFull(workers: readonly WorkerLoad[], maxLoad: number, unplaced = 0): boolean {
  const extra = unplacedShare(workers, unplaced);
  const live = workers.filter((worker) => !worker.exited);
  return live.length > 0 && live.every((worker) => isFull(worker, maxLoad, extra));
}

function unplacedShare(workers: readonly WorkerLoad[], unplaced: number): number {
  const live = workers.reduce((n, worker) => n + (worker.exited ? 0 : 1), 0);
  return unplaced / Math.max(1, live);
}

/** A limit of a whole core or more turns admission off (the documented setting 1): a projection can pass 1, a share cannot. */
export const ADMISSION_OFF_AT = 1;

function isFull(worker: WorkerLoad, maxLoad: number, extraCalls: number): boolean {
  if (maxLoad >= ADMISSION_OFF_AT) return false;
  return projectedLoad(worker.lastBusyShare, worker.busySharePerCall, worker.calls + extraCalls, worker.callsMeasured) > maxLoad;
}

/** Per-call cost estimates older than this are forgotten (measurements come once a second). */
const PER_CALL_WINDOW_MS = 30_000;
/** Fewer calls than this say more about fixed overhead than about a call's cost. */
const PER_CALL_MIN_CALLS = 5;

/**
 * The cost a new call is expected to add: busy share per call at the
 * measurement of the last PER_CALL_WINDOW_MS with the most calls (the latest
 * of those), at least PER_CALL_MIN_CALLS; kept when none qualifies, 0 until
 * one did. The most calls, because fixed costs and call set-up weigh on a
 * few calls (measured: 10.8 ms of CPU a call-second at 10 PCMU calls, 2.6 at
 * 100): the highest share per call refused 13 of 100 PCMU calls on a worker
 * a third busy.
 */
export class PerCallCost {
  #estimate = 0;
  readonly #samples: { atMs: number; calls: number; share: number }[] = [];

  get estimate(): number {
    return this.#estimate;
  }

  /** Record a measurement (`busyShare` with `calls` running) and return the new estimate. */
  sample(busyShare: number, calls: number, nowMs = Date.now()): number {
    const samples = this.#samples;
    while (samples.length > 0 && nowMs - samples[0]!.atMs > PER_CALL_WINDOW_MS) samples.shift();
    if (calls >= PER_CALL_MIN_CALLS) samples.push({ atMs: nowMs, calls, share: busyShare / calls });
    let most: (typeof samples)[number] | undefined;
    for (const s of samples) if (!most || s.calls >= most.calls) most = s;
    if (most) this.#estimate = most.share;
    return this.#estimate;
  }
}

/**
 * A worker's load as its pongs measure it: the busy share of the last
 * interval, the calls that measurement fully covered, and the cost per call.
 * Only the calls live through the whole interval count as measured, the
 * fewer of the calls at this pong and at the one before: a call that landed
 * during the interval is only partly in the share (in a burst, a pong can
 * count 100 new calls while its share still reads the quiet second before
 * them), so it is projected instead, and it does not teach the cost per call.
 */
export class LoadMeter {
  lastBusyShare = 0;
  callsMeasured = 0;
  #callsAtPrevious = 0;
  readonly #perCall = new PerCallCost();

  get perCall(): number {
    return this.#perCall.estimate;
  }

  record(busyShare: number, calls: number, nowMs = Date.now()): void {
    this.lastBusyShare = busyShare;
    this.callsMeasured = Math.min(this.#callsAtPrevious, calls);
    this.#callsAtPrevious = calls;
    this.#perCall.sample(busyShare, this.callsMeasured, nowMs);
  }
}
