/**
 * The gateway's composition root: config -> supervisor (media workers) ->
 * ControlActor -> uWebSockets.js front. Start order puts the workers first so
 * no call is accepted before it can be carried; stop order is the reverse.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ControlActor } from './actors/ControlActor.js';
import { Supervisor } from './actors/Supervisor.js';
import { validateGatewayConfig, type GatewayConfig } from './config.js';
import { DashboardFeed } from './control/DashboardFeed.js';
import { GatewayMetrics } from './control/GatewayMetrics.js';
import { SignallingClient } from './control/SignallingClient.js';
import { WebhookGate } from './control/WebhookGate.js';
import { GatewayFront, type FrontPorts } from './front/GatewayFront.js';
import { uwsBuild } from './front/uws.js';
import { resamplerImplementation } from './media/createResampler.js';
import { createLogger, type Logger } from './log.js';
import { parseEd25519PublicKey } from './wire/webhookSignature.js';

/** The worker clock's period: pacers are checked this often (and after every inbound batch). */
const WORKER_TICK_MS = 5;
const WORKER_MAX_HEAP_MB = 512;
const SHUTDOWN_GRACE_MS = 5_000;

export interface GatewayStatus {
  uws: string;
  resampler: string;
  webhookKey: 'configured' | 'missing';
  liveCalls: number;
  calls: ReturnType<ControlActor['snapshot']>;
  counters: ControlActor['counters'];
  webhooks: Record<string, number>;
  mediaRefused: Record<string, number>;
  mediaClosedForAbuse: Record<string, number>;
  mainLoopDelayMs: { p50: number; p99: number; max: number };
  workers: Array<{ index: number; calls: number; exited: boolean; loopDelayP99Ms: number }>;
  workerRestarts: number;
}

export class Gateway {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly supervisor: Supervisor;
  readonly control: ControlActor;
  readonly webhooks: WebhookGate;
  readonly front: GatewayFront;
  readonly metrics: GatewayMetrics;
  readonly dashboard: DashboardFeed;
  readonly #signalling: SignallingClient;
  #ports: FrontPorts | null = null;
  /** The front's thread must stay responsive: every frame of every call passes through it. */
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  #stopping: Promise<void> | null = null;

  constructor(config: GatewayConfig, log: Logger = createLogger('gateway', config.logLevel)) {
    this.config = validateGatewayConfig(config);
    this.log = log;
    let key = null;
    if (config.webhookPublicKey) {
      key = parseEd25519PublicKey(config.webhookPublicKey);
    } else {
      log.error('no webhook signing key configured: every webhook will be refused with 503 (fail closed, FAQ-05)');
    }
    this.webhooks = new WebhookGate(key);
    this.supervisor = new Supervisor({
      workers: config.workers,
      call: { mailboxFrames: config.mailboxFrames, jitterMinDelayMs: config.jitterMinDelayMs, jitterMaxDelayMs: config.jitterMaxDelayMs },
      tickMs: WORKER_TICK_MS,
      maxHeapMb: WORKER_MAX_HEAP_MB,
      logger: log,
      onMedia: (_index, slot, frame) => this.control.onWorkerMedia(slot, frame),
      onControl: (index, message) => {
        if (message.type === 'pong') this.metrics.onWorkerPong(this.supervisor.host(index)!);
        this.control.onWorkerControl(index, message);
      },
    });
    const signalling = (this.#signalling = new SignallingClient({
      platformUrl: config.platformUrl,
      deploymentId: config.deploymentId,
      agentSecret: config.agentSecret,
    }));
    this.control = new ControlActor(config, signalling, this.supervisor, log);
    // The front is built below; the metrics read it only once started.
    const gateway = this;
    const sources = {
      supervisor: this.supervisor,
      control: this.control,
      webhooks: this.webhooks,
      signalling,
      get front() {
        return gateway.front;
      },
    };
    this.metrics = new GatewayMetrics(sources);
    this.dashboard = new DashboardFeed(sources, this.metrics, config.maxCalls);
    this.front = new GatewayFront({
      host: config.host,
      tunnelPort: config.tunnelPort,
      localPort: config.localPort,
      control: this.control,
      webhooks: this.webhooks,
      log,
      status: () => this.status(),
      metrics: () => this.metrics.text(),
      dashboard: this.dashboard,
      webhookReadTimeoutMs: config.webhookReadTimeoutMs,
      mediaFramesPerSecond: config.mediaFramesPerSecond,
      mediaFrameBurst: config.mediaFrameBurst,
    });
  }

  async start(): Promise<FrontPorts> {
    const [, platformUp] = await Promise.all([this.supervisor.start(), this.#signalling.checkPlatform()]);
    if (!platformUp) this.log.warn({ platformUrl: this.config.platformUrl }, 'platform not reachable at start: calls cannot be answered until it is');
    this.#loopDelay.enable();
    this.metrics.start();
    this.dashboard.start();
    this.#ports = await this.front.start();
    this.log.info({ ...this.#ports, workers: this.config.workers, uws: uwsBuild, resampler: resamplerImplementation }, 'gateway listening on loopback');
    return this.#ports;
  }

  get ports(): FrontPorts {
    if (!this.#ports) throw new Error('gateway not started');
    return this.#ports;
  }

  status(): GatewayStatus {
    return {
      uws: uwsBuild,
      resampler: resamplerImplementation,
      webhookKey: this.webhooks.hasKey ? 'configured' : 'missing',
      liveCalls: this.control.liveCalls,
      calls: this.control.snapshot(),
      counters: this.control.counters,
      webhooks: this.webhooks.counters,
      mediaRefused: this.front.counters.mediaRefused,
      mediaClosedForAbuse: this.front.counters.mediaClosedForAbuse,
      mainLoopDelayMs: {
        p50: this.#loopDelay.percentile(50) / 1e6,
        p99: this.#loopDelay.percentile(99) / 1e6,
        max: this.#loopDelay.max / 1e6,
      },
      workers: this.supervisor.hosts().map((h) => ({ index: h.index, calls: h.calls, exited: h.exited, loopDelayP99Ms: h.lastLoopDelayP99Ms })),
      workerRestarts: this.supervisor.restarts,
    };
  }

  /** Graceful: stop accepting, hang up live calls, close every socket, stop workers. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.front.closeListeners();
      this.#loopDelay.disable();
      this.dashboard.stop();
      this.metrics.stop();
      const { mainLoopDelayMs, workers } = this.status();
      this.log.info({ mainLoopDelayMs, workers }, 'event-loop delay over this run');
      const hungUp = this.control.shutdown();
      await Promise.race([hungUp, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())]);
      this.front.closeAllSockets();
      await this.supervisor.close();
      this.#signalling.close();
      this.log.info('gateway stopped');
    })();
    return this.#stopping;
  }
}
