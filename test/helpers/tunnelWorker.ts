/**
 * One media worker that owns its sockets (listening on a free loopback port),
 * as the child processes of the worker-exit tests start it: a thread that
 * exits with a uWS socket open aborts the process, so those tests run apart.
 */
import type { FromWorker } from '../../src/actors/messages.js';
import { WorkerHost } from '../../src/actors/WorkerHost.js';

export function tunnelWorkerHost(maxHeapMb: number, onControl: (message: FromWorker) => void = () => {}): WorkerHost {
  return new WorkerHost({
    index: 0,
    call: { mailboxFrames: 50, jitterMinDelayMs: 20, jitterMaxDelayMs: 200, greeting: null, hold: null },
    tickMs: 5,
    maxHeapMb,
    tunnel: { host: '127.0.0.1', port: 0, webhookReadTimeoutMs: 5_000, mediaFramesPerSecond: 100, mediaFrameBurst: 20 },
    onMedia: () => {},
    onControl,
  });
}
