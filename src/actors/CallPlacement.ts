/**
 * Which media worker carries each call, for the ControlActor: a call's actor
 * is opened on a worker at admission (front-owned sockets) or where its media
 * socket lands (worker-owned), moves when a restarted stream lands on another
 * worker, and moves off a worker that was lost (crashed, stuck, or near its
 * heap limit; docs/threads.md, "Supervision").
 *
 * A call outlives one lost worker (MAX_WORKER_LOSSES): if its own audio is
 * what brought the worker down, it must not take the next one down too.
 */
import type { GatewayConfig } from '../config.js';
import { UNPLACED, type LiveCall } from './LiveCall.js';
import { DEFAULT_RESTART_TIMING, type StreamRestarts } from './StreamRestarts.js';
import type { Supervisor } from './Supervisor.js';
import { epochNowMs, type WorkerHost } from './WorkerHost.js';

const MAX_WORKER_LOSSES = 1;

/** What placement needs of the ControlActor. */
export interface CallPlacementContext<Cause extends string> {
  config: Pick<GatewayConfig, 'mediaSockets' | 'agent' | 'bargeIn'>;
  supervisor: Supervisor;
  restarts: StreamRestarts<Cause>;
  /** The live calls. */
  calls(): Iterable<LiveCall>;
  closing(): boolean;
  /** Ends a call whose worker was lost and that cannot move (hung up through the platform). */
  endLost(call: LiveCall, reason: string): void;
  /** The end cause of a call whose worker was lost and that found no new one in time. */
  workerFailedCause: Cause;
  counters: { workerCallsMoved: number };
}

export class CallPlacement<Cause extends string> {
  readonly #c: CallPlacementContext<Cause>;

  constructor(context: CallPlacementContext<Cause>) {
    this.#c = context;
  }

  /** Media sockets owned by the workers' own listeners (`mediaSockets: 'worker'`): calls are placed when their socket lands. */
  get socketsOnWorkers(): boolean {
    return this.#c.config.mediaSockets === 'worker';
  }

  /** Worker-owned sockets: admitted calls whose media socket has not landed on a worker yet (0 otherwise). */
  unplacedCalls(): number {
    if (!this.socketsOnWorkers) return 0;
    let n = 0;
    for (const call of this.#c.calls()) if (call.workerIndex === UNPLACED) n++;
    return n;
  }

  /** At admission: front-owned sockets place the actor now; worker-owned ones wait for the socket (placeWhereLanded). */
  admitted(call: LiveCall, host: WorkerHost): void {
    if (!this.socketsOnWorkers) this.place(call, host);
  }

  /**
   * Worker-owned sockets: the call's stream landed on `host`'s listener. An
   * unplaced call's actor opens there; a call whose restarted stream landed on
   * another worker moves there (the old actor ends, a new one opens with a new
   * agent session and no greeting), so frames and actor share a thread.
   */
  placeWhereLanded(call: LiveCall, host: WorkerHost): void {
    if (call.workerIndex === UNPLACED) {
      this.place(call, host);
      return;
    }
    const from = this.#c.supervisor.host(call.workerIndex);
    if (from) {
      from.calls = Math.max(0, from.calls - 1);
      from.send({ type: 'call.end', slot: call.slot, reason: 'media stream moved to another worker' });
    }
    call.log.warn({ to: host.index }, 'restarted media stream landed on another worker: the call moves there with a new agent session');
    call.resumed = true;
    this.place(call, host);
  }

  /** Open the call's actor on `host`. */
  place(call: LiveCall, host: WorkerHost): void {
    call.workerIndex = host.index;
    call.log = call.baseLog.child({ worker: host.index });
    host.calls++;
    const { slot, callId, from, to, direction } = call;
    const { agent, bargeIn } = this.#c.config;
    host.send({ type: 'call.open', slot, callId, from, to, direction, agent, bargeIn, ...(call.resumed ? { resumed: true } : {}) });
  }

  /**
   * A worker was lost: each of its calls gets a new actor on a live worker,
   * marked resumed (the caller is not greeted again). With worker-owned
   * sockets the socket died with the worker, so a new stream is asked for, as
   * for a lost one; with front-owned sockets the socket stays, and the new
   * actor is told the stream's `start` before its next frame.
   */
  onWorkerLost(workerIndex: number): void {
    const c = this.#c;
    const moving: LiveCall[] = [];
    for (const call of [...c.calls()]) {
      if (call.workerIndex !== workerIndex) continue;
      call.workerIndex = UNPLACED;
      if (this.socketsOnWorkers) call.socket = null; // the lost worker's handle
      const canMove = this.socketsOnWorkers ? c.restarts.mayRestart(call) : true;
      if (c.closing() || call.state === 'ending' || call.workerLosses >= MAX_WORKER_LOSSES || !canMove) {
        c.endLost(call, 'media worker failed');
        continue;
      }
      call.workerLosses++;
      call.resumed = true;
      moving.push(call);
    }
    // The supervisor spawns the replacement right after this event: front-owned calls are placed once it exists.
    if (moving.length > 0) setImmediate(() => this.#moveOffLostWorker(moving, workerIndex));
  }

  #moveOffLostWorker(calls: LiveCall[], lostIndex: number): void {
    const c = this.#c;
    if (this.socketsOnWorkers && !c.closing() && !c.supervisor.hosts().some((host) => !host.exited && host.tunnelPort !== null)) {
      // No worker listens on the tunnel port until the replacement does (the only worker was lost):
      // a stream asked for now would be refused. Ask once it listens; the deadline runs from now.
      for (const call of calls) c.restarts.armOrphanTimer(call, 'no media worker listened again in time', c.workerFailedCause, DEFAULT_RESTART_TIMING.deadlineMs);
      c.supervisor.once('worker.restarted', () => this.#moveOffLostWorker(calls, lostIndex));
      return;
    }
    for (const call of calls) {
      if (call.state === 'ending' || call.workerIndex !== UNPLACED) continue;
      if (this.socketsOnWorkers) {
        // Placed where the new stream lands (placeWhereLanded).
        c.counters.workerCallsMoved++;
        call.log.warn({ lostWorker: lostIndex }, 'media worker lost: the call carries on with a new stream and a new actor');
        void c.restarts.restart(call, 'worker_lost');
        continue;
      }
      const host = c.closing() ? undefined : c.supervisor.pickWorkerForMove();
      if (!host) {
        c.endLost(call, 'media worker failed; no worker has room');
        continue;
      }
      c.counters.workerCallsMoved++;
      this.place(call, host);
      if (call.startFrame) host.appendMedia(call.slot, call.startFrame, epochNowMs());
      call.log.warn({ lostWorker: lostIndex, to: host.index }, 'media worker lost: the call carries on with a new actor on its socket');
    }
  }
}
