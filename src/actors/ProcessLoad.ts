/**
 * The whole gateway process's CPU as a share of the cores it may run on,
 * measured on the main thread once a health interval. A worker's own
 * event-loop utilisation misses what the other threads take from the same
 * cores: with the front owning the media sockets, the main thread's socket
 * work competes with the workers, and on one core 150 Opus calls overloaded
 * it while the worker read well under its limit (docs/threads.md).
 */
import { availableParallelism } from 'node:os';
import { PerCallCost } from './loadAdmission.js';

export class ProcessLoad {
  /** CPU time of all threads over the last interval, as a share of wall time times the cores (0 until measured). */
  lastBusyShare = 0;
  /** Calls running at that measurement. */
  callsAtLastMeasure = 0;
  busySharePerCall = 0;
  readonly #perCall = new PerCallCost();
  /** sched_getaffinity's count on Linux (libuv), so a `taskset` pin is respected. */
  readonly #cores = availableParallelism();
  #cpu = process.cpuUsage();
  #atMs = performance.now();

  /** Start a fresh interval, forgetting start-up work. */
  reset(): void {
    this.#cpu = process.cpuUsage();
    this.#atMs = performance.now();
  }

  measure(calls: number): void {
    const nowMs = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const wallUs = (nowMs - this.#atMs) * 1000;
    this.reset();
    if (wallUs <= 0) return;
    this.lastBusyShare = (cpu.user + cpu.system) / (wallUs * this.#cores);
    this.callsAtLastMeasure = calls;
    this.busySharePerCall = this.#perCall.sample(this.lastBusyShare, calls);
  }
}
