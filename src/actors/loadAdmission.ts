/**
 * Measured-load admission (DESIGN 4), the arithmetic only: which worker has
 * room for one more call, given each worker's last measured busy share and
 * cost per call. Supervisor applies it to its live WorkerHosts.
 */

/** What admission reads from a worker (WorkerHost satisfies it). */
export interface WorkerLoad {
  /**
   * Said ready and not exited (WorkerHost.up). Not `!exited`: a replacement
   * that is still starting, or never finishes, has no listener nor prompts yet
   * and must not be given calls.
   */
  readonly up: boolean;
  /** The worker's thread ended (WorkerHost.exited); a worker without it is taken as running. */
  readonly exited?: boolean;
  /** Calls the worker carries now (or has been assigned). */
  readonly calls: number;
  /** The busy share expected once `calls` calls stream (LoadMeter.projected). */
  projectedLoad(calls: number): number;
}

/**
 * A load measured at `callsAtMeasure` calls, plus each newer call at the
 * measured cost per call. Calls arrive in bursts (a campaign, a ramp) faster
 * than load is measured (once a second), so the measurement alone would
 * admit a whole burst into a worker that is nearly full.
 */
export function projectedLoad(measured: number, perCall: number, callsNow: number, callsAtMeasure: number): number {
  return measured + Math.max(0, callsNow - callsAtMeasure) * perCall;
}

/**
 * The live worker with room (projected load at or under maxLoad) carrying
 * the fewest calls; undefined when none has room. `unplaced` counts calls
 * admitted but not yet on any worker (worker-owned sockets: the kernel
 * places them when their socket lands); they are spread evenly over the live
 * workers, so a burst is projected before its sockets arrive. `starting`
 * also accepts a worker still starting (a lost worker's replacement): see
 * Supervisor.pickWorkerForMove.
 */
export function pickWithRoom<T extends WorkerLoad>(workers: readonly T[], maxLoad: number, unplaced = 0, starting = false): T | undefined {
  const extra = unplacedShare(workers, unplaced);
  let best: T | undefined;
  for (const worker of workers) {
    const usable = starting ? worker.exited !== true : worker.up;
    if (!usable || isFull(worker, maxLoad, extra)) continue;
    if (!best || worker.calls < best.calls) best = worker;
  }
  return best;
}

/** Every live worker is above maxLoad, and at least one is live: a new call is refused as busy. */
export function allFull(workers: readonly WorkerLoad[], maxLoad: number, unplaced = 0): boolean {
  const extra = unplacedShare(workers, unplaced);
  const live = workers.filter((worker) => worker.up);
  return live.length > 0 && live.every((worker) => isFull(worker, maxLoad, extra));
}

function unplacedShare(workers: readonly WorkerLoad[], unplaced: number): number {
  const live = workers.reduce((n, worker) => n + (worker.up ? 1 : 0), 0);
  return unplaced / Math.max(1, live);
}

/** A limit of a whole core or more turns admission off (the documented setting 1): a projection can pass 1, a share cannot. */
export const ADMISSION_OFF_AT = 1;

function isFull(worker: WorkerLoad, maxLoad: number, extraCalls: number): boolean {
  if (maxLoad >= ADMISSION_OFF_AT) return false;
  return worker.projectedLoad(worker.calls + extraCalls) > maxLoad;
}

/** Per-call cost estimates older than this are forgotten (measurements come once a second). */
const PER_CALL_WINDOW_MS = 30_000;
/** Fewer calls than this say more about fixed overhead than about a call's cost. */
const PER_CALL_MIN_CALLS = 5;
/** Samples within this share of the most calls in the window count toward the estimate. */
const PER_CALL_NEAR_MOST = 0.8;
/** Two pongs whose call counts differ by at most this many calls, or this share of them, are steady. */
const STEADY_SLACK_CALLS = 2;
const STEADY_SLACK_SHARE = 0.02;

/**
 * No burst fell between two pongs: their call counts are within a couple of
 * calls or 2 % (a busy box always has a few calls starting and ending). A
 * burst's interval also holds its set-up work (webhooks, answers, stream
 * starts), so its share says nothing steady about what the calls cost.
 */
export function isSteady(callsBefore: number, callsNow: number): boolean {
  return Math.abs(callsNow - callsBefore) <= Math.max(STEADY_SLACK_CALLS, callsNow * STEADY_SLACK_SHARE);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The cost a new call is expected to add: the median busy share per call of
 * the steady measurements of the last PER_CALL_WINDOW_MS with nearly the most
 * calls (within 80 % of them), at least PER_CALL_MIN_CALLS; kept when none
 * qualifies, 0 until one did. The most calls, because fixed costs weigh on a
 * few calls (measured: 10.8 ms of CPU a call-second at 10 PCMU calls, 2.6 at
 * 100); the median, because one worker's share at a constant 224 calls read
 * anywhere from 0.28 to 0.53 from one second to the next (2026-11-27), and
 * the latest reading alone swung the estimate by half.
 */
export class PerCallCost {
  #estimate = 0;
  readonly #samples: { atMs: number; calls: number; share: number }[] = [];

  get estimate(): number {
    return this.#estimate;
  }

  /** Record a steady measurement (`busyShare` with `calls` running) and return the new estimate. */
  sample(busyShare: number, calls: number, nowMs = Date.now()): number {
    const samples = this.#samples;
    while (samples.length > 0 && nowMs - samples[0]!.atMs > PER_CALL_WINDOW_MS) samples.shift();
    if (calls >= PER_CALL_MIN_CALLS) samples.push({ atMs: nowMs, calls, share: busyShare / calls });
    let most = 0;
    for (const s of samples) most = Math.max(most, s.calls);
    const near = samples.filter((s) => s.calls >= most * PER_CALL_NEAR_MOST).map((s) => s.share);
    if (near.length > 0) this.#estimate = median(near);
    return this.#estimate;
  }
}

/**
 * A worker's load as its pongs measure it, and what it will be once more
 * calls stream. Two anchors, and the projection is the higher of the two:
 * - the last steady measurement (isSteady): in a burst, pongs read set-up
 *   work and calls only partly live (one counted 100 new calls while its
 *   share still read the quiet second before them), so the burst's calls are
 *   projected from the load before it at the steady cost per call;
 * - the latest measurement, whatever it is, so a worker that is in fact
 *   overloaded (set-up or not) takes no more.
 * Before, the projection started from the latest measurement and added every
 * call not live through its whole interval: set-up work and the same calls
 * counted twice, and a 300-call burst onto a worker that then carried 600
 * calls at a busy share of 0.73 was cut at 224 (2026-11-27, docs/threads.md).
 */
export class LoadMeter {
  lastBusyShare = 0;
  #callsAtLast = 0;
  #steadyBusyShare = 0;
  #callsAtSteady = 0;
  readonly #perCall = new PerCallCost();

  get perCall(): number {
    return this.#perCall.estimate;
  }

  record(busyShare: number, calls: number, nowMs = Date.now()): void {
    if (isSteady(this.#callsAtLast, calls)) {
      // The fewer of the two counts: a call that ended in the interval was not measured throughout.
      const measured = Math.min(this.#callsAtLast, calls);
      this.#steadyBusyShare = busyShare;
      this.#callsAtSteady = measured;
      this.#perCall.sample(busyShare, measured, nowMs);
    }
    this.lastBusyShare = busyShare;
    this.#callsAtLast = calls;
  }

  projected(callsNow: number): number {
    const perCall = this.perCall;
    return Math.max(
      projectedLoad(this.#steadyBusyShare, perCall, callsNow, this.#callsAtSteady),
      projectedLoad(this.lastBusyShare, perCall, callsNow, this.#callsAtLast),
    );
  }
}
