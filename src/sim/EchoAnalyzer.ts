/**
 * Echo analysis (best-lag correlation of what a call sent and got back) on a
 * worker thread: an FFT correlation of a few seconds of audio takes 10 ms and
 * more, and done on the main thread at the end of each call it would delay
 * every other call's frames. If the worker cannot load (for instance when run
 * from TypeScript sources through a loader a worker does not inherit), the
 * analysis runs inline instead, after yielding to the event loop.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { bestLagCorrelation } from '../media/correlation.js';

export interface EchoResult {
  lagSamples: number;
  correlation: number;
  /** The inputs, handed back (they travel to the worker and back without copies). */
  sent: Int16Array;
  returned: Int16Array;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.correlationUrl).then(({ bestLagCorrelation }) => {
  parentPort.on('message', (msg) => {
    const best = bestLagCorrelation(msg.sent, msg.returned, msg.maxLag);
    parentPort.postMessage(
      { id: msg.id, lagSamples: best.lagSamples, correlation: best.correlation, sent: msg.sent, returned: msg.returned },
      [msg.sent.buffer, msg.returned.buffer],
    );
  });
  parentPort.postMessage({ ready: true });
});
`;

interface Pending {
  resolve: (result: EchoResult) => void;
  reject: (err: Error) => void;
}

export class EchoAnalyzer {
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | null = null;
  /** Set once the worker has loaded the correlation module: before that, analyse inline. */
  #ready = false;
  #nextId = 1;
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
    const correlationUrl = new URL('../media/correlation.js', import.meta.url).href;
    if (!correlationUrl.endsWith('.js') || import.meta.url.endsWith('.ts')) return; // run from sources: inline
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { correlationUrl } });
      worker.on('message', (msg: { id?: number; ready?: boolean } & Partial<EchoResult>) => {
        if (msg.ready) this.#ready = true;
        if (msg.id === undefined) return;
        const waiter = this.#pending.get(msg.id);
        if (!waiter) return;
        this.#pending.delete(msg.id);
        if (this.#pending.size === 0) worker.unref();
        waiter.resolve(msg as EchoResult);
      });
      worker.on('error', (err) => this.#disable(err));
      worker.on('exit', (code) => this.#disable(new Error(`echo analysis thread exited (code ${code})`)));
      worker.unref();
      this.#worker = worker;
    } catch (err) {
      this.#disable(err as Error);
    }
  }

  /** Best-lag correlation of `returned` against `sent` (lags 0..maxLag). Never rejects. */
  async analyse(sent: Int16Array, returned: Int16Array, maxLag: number): Promise<EchoResult> {
    const worker = this.#worker;
    if (worker && this.#ready && !this.#closed && sent.length > 0 && returned.length > 0) {
      try {
        return await new Promise<EchoResult>((resolve, reject) => {
          const id = this.#nextId++;
          this.#pending.set(id, { resolve, reject });
          worker.ref();
          worker.postMessage({ id, sent, returned, maxLag }, [sent.buffer as ArrayBuffer, returned.buffer as ArrayBuffer]);
        });
      } catch (err) {
        // The inputs went to the dead worker: nothing left to analyse.
        this.#logger.warn({ err: (err as Error).message }, 'echo analysis thread failed');
        return { lagSamples: 0, correlation: 0, sent: new Int16Array(0), returned: new Int16Array(0) };
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    const best = bestLagCorrelation(sent, returned, maxLag);
    return { lagSamples: best.lagSamples, correlation: best.correlation, sent, returned };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    this.#disable(new Error('echo analyzer closed'));
    if (worker) await worker.terminate();
  }

  #disable(err: Error): void {
    if (this.#worker && !this.#closed) this.#logger.warn({ err: err.message }, 'echo analysis thread unavailable, analysing inline');
    this.#worker = null;
    this.#ready = false;
    for (const waiter of this.#pending.values()) waiter.reject(err);
    this.#pending.clear();
  }
}
