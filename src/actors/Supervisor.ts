/**
 * Watches the media workers: a crashed or stuck worker is restarted, the
 * calls it carried are reported lost (the ControlActor ends them cleanly),
 * and calls on other workers are untouched (DESIGN 4).
 */
import type { CallActorSettings } from './CallActor.js';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { FromWorker } from './messages.js';
import { WorkerHost } from './WorkerHost.js';
import { allFull, pickWithRoom } from './loadAdmission.js';
import type { WorkerTunnelSettings } from './mediaWorker.js';

const HEALTH_INTERVAL_MS = 1_000;
const STUCK_AFTER_MS = 5_000;

export interface SupervisorOptions {
  workers: number;
  call: CallActorSettings;
  tickMs: number;
  maxHeapMb: number;
  /**
   * Measured-load admission (DESIGN 4): a worker whose event loop was busy
   * more than this share of the last health interval takes no new call; 1 turns it off.
   */
  maxWorkerLoad: number;
  /** Worker-owned media sockets: each worker listens here (null: the front owns them). */
  tunnel: WorkerTunnelSettings | null;
  logger: Logger;
  onMedia(workerIndex: number, slot: number, frame: Uint8Array, atMs: number): void;
  onControl(workerIndex: number, message: FromWorker): void;
}

export interface SupervisorEvents {
  /** A worker died unexpectedly; its calls are gone. A replacement is starting. */
  'worker.lost': [workerIndex: number, exitCode: number];
  'worker.restarted': [workerIndex: number];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: SupervisorOptions;
  #call: CallActorSettings;
  #tunnel: WorkerTunnelSettings | null;
  readonly #hosts: WorkerHost[] = [];
  /** Stuck workers being released and terminated: not checked again meanwhile. */
  readonly #killing = new Set<WorkerHost>();
  #health: NodeJS.Timeout | null = null;
  #closing = false;
  restarts = 0;
  /** Ask workers for per-call figures with each health ping (set while a dashboard is open). */
  wantCallStats = false;

  constructor(options: SupervisorOptions) {
    super();
    this.#options = options;
    this.#call = options.call;
    this.#tunnel = options.tunnel;
  }

  /** The tunnel port the workers listen on (worker-owned sockets, after start); null when the front owns the sockets. */
  get tunnelPort(): number | null {
    return this.#tunnel ? this.#tunnel.port : null;
  }

  /** Worker-owned sockets: every worker stops accepting connections. */
  closeListeners(): void {
    if (this.#tunnel) for (const host of this.#hosts) host.send({ type: 'listen.close' });
  }

  /** Start the workers; `prompts` (decoded greeting and hold audio) go to every worker, restarted ones too. */
  async start(prompts: Pick<CallActorSettings, 'greeting' | 'hold'> = { greeting: null, hold: null }): Promise<void> {
    this.#call = { ...this.#options.call, ...prompts };
    let first = 0;
    if (this.#tunnel && this.#tunnel.port === 0) {
      // Port 0: the first worker picks a free port, the others (and restarts) share it.
      await this.#spawn(0);
      this.#tunnel = { ...this.#tunnel, port: this.#hosts[0]!.tunnelPort! };
      first = 1;
    }
    const starting: Promise<void>[] = [];
    for (let i = first; i < this.#options.workers; i++) starting.push(this.#spawn(i));
    await Promise.all(starting);
    this.#health = setInterval(() => this.#checkHealth(), HEALTH_INTERVAL_MS);
    this.#health.unref();
  }

  get size(): number {
    return this.#hosts.length;
  }

  host(index: number): WorkerHost | undefined {
    return this.#hosts[index];
  }

  hosts(): readonly WorkerHost[] {
    return this.#hosts;
  }

  /**
   * The live worker with room carrying the fewest calls (loadAdmission.ts);
   * undefined when none has room. With worker-owned sockets the kernel
   * places the call, so this only says whether some worker has room, and
   * `unplaced` (admitted calls whose socket has not landed yet) counts too.
   */
  pickWorker(unplaced = 0): WorkerHost | undefined {
    return pickWithRoom(this.#hosts, this.#options.maxWorkerLoad, unplaced);
  }

  /**
   * Where a lost worker's call moves (front-owned sockets): as pickWorker, but a replacement still
   * starting counts, and with no calls it is usually the one chosen; its messages wait until it is
   * ready. Moving onto a running worker instead is quicker, but the new actor's echo resumes within
   * the simulator's 100 ms gap rule at a shifted lag, and gatewayCall/workerLoss tests then read the
   * call as a broken echo (correlation 0.15 in about one run in three): kept as it was until the
   * simulator's recorder tells a lag shift from a broken echo.
   */
  pickWorkerForMove(): WorkerHost | undefined {
    return pickWithRoom(this.#hosts, this.#options.maxWorkerLoad, 0, true);
  }

  /** Every live worker is above its load limit (and at least one is live): new calls are refused as busy. */
  saturated(unplaced = 0): boolean {
    return allFull(this.#hosts, this.#options.maxWorkerLoad, unplaced);
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#health) clearInterval(this.#health);
    await Promise.all(this.#hosts.map((host) => host.close()));
  }

  #spawn(index: number): Promise<void> {
    const host = new WorkerHost({
      index,
      call: this.#call,
      tickMs: this.#options.tickMs,
      maxHeapMb: this.#options.maxHeapMb,
      tunnel: this.#tunnel,
      onMedia: (slot, frame, atMs) => this.#options.onMedia(index, slot, frame, atMs),
      onControl: (message) => this.#options.onControl(index, message),
    });
    this.#hosts[index] = host;
    host.once('exit', (code, expected) => {
      if (expected || this.#closing) return;
      this.#options.logger.error({ worker: index, exitCode: code }, 'media worker exited unexpectedly; restarting it');
      this.emit('worker.lost', index, code);
      this.restarts++;
      this.#spawn(index).then(
        () => this.emit('worker.restarted', index),
        (err: Error) => this.#options.logger.error({ worker: index, err: err.message }, 'media worker restart failed'),
      );
    });
    return host.ready();
  }

  /**
   * This uWS build aborts the process when a thread exits with its sockets
   * open (docs/threads.md), so a worker that owns media sockets is first made
   * to release them, stuck or not (releaseStuckWorker.ts).
   */
  async #killStuck(host: WorkerHost): Promise<void> {
    if (this.#tunnel) {
      if (await host.releaseSockets()) {
        this.#options.logger.warn({ worker: host.index }, 'the stuck worker released its media sockets (through the inspector); terminating it');
      } else {
        this.#options.logger.fatal({ worker: host.index }, 'the stuck worker could not release its media sockets: the gateway process will abort and be restarted by its service manager');
      }
    }
    await host.kill();
  }

  #checkHealth(): void {
    const now = Date.now();
    const suspects: WorkerHost[] = [];
    for (const host of this.#hosts) {
      if (host.exited) continue;
      if (this.#killing.has(host)) continue;
      if (host.msWithoutPong(now) > STUCK_AFTER_MS) suspects.push(host);
      else host.ping(this.wantCallStats);
    }
    // Timers run before I/O: after this thread was itself held up (a loaded host), a pong may
    // be waiting in the queue. setImmediate runs after the queue is read; judge again then.
    if (suspects.length > 0) setImmediate(() => this.#killStillStuck(suspects));
  }

  #killStillStuck(suspects: WorkerHost[]): void {
    const now = Date.now();
    for (const host of suspects) {
      if (host.exited || this.#closing || this.#killing.has(host) || host.msWithoutPong(now) <= STUCK_AFTER_MS) continue;
      this.#options.logger.error({ worker: host.index, msWithoutPong: host.msWithoutPong(now) }, 'media worker stopped answering health pings; killing it');
      this.#killing.add(host);
      void this.#killStuck(host).finally(() => this.#killing.delete(host));
    }
  }
}
