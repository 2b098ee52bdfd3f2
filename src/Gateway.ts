/**
 * The gateway's composition root: config -> supervisor (media workers) ->
 * ControlActor -> uWebSockets.js front. Start order puts the workers first so
 * no call is accepted before it can be carried; stop order is the reverse.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { loadCallPrompts } from './audio/callPrompts.js';
import { ControlActor, type AddedLatency } from './actors/ControlActor.js';
import { loopLatenessMs } from './actors/loopDelay.js';
import { Supervisor } from './actors/Supervisor.js';
import { validateGatewayConfig, type GatewayConfig } from './config.js';
import { ControlChannel } from './control/ControlChannel.js';
import { DashboardFeed } from './control/DashboardFeed.js';
import { GatewayMetrics } from './control/GatewayMetrics.js';
import { SignallingClient } from './control/SignallingClient.js';
import { WebhookGate } from './control/WebhookGate.js';
import { GatewayFront, type FrontPorts } from './front/GatewayFront.js';
import { LocalOperatorAuth } from './front/LocalOperatorAuth.js';
import { readiness, type Readiness } from './front/readiness.js';
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
  /** The outbound control connection to the platform, and the cap state it last reported. */
  control: {
    state: string;
    /** The platform's hello arrived on the open connection (it checked the deployment id and agent secret). */
    authenticated: boolean;
    since: string | null;
    lastError: string | null;
    /** The last failure was the platform refusing the gateway's identity. */
    identityRefused: boolean;
    /** What that refusal means in the operator's words (src/control/identityRefusal.ts), null when none. */
    refusal: ControlChannel['refusal'];
    /** The deployment the platform's last hello named when it was not this gateway's (the connection was refused). */
    deploymentMismatch: string | null;
    failures: number;
    pendingReports: number;
    counters: ControlChannel['counters'];
    cap: ReturnType<ControlActor['capState']>;
  };
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
  readonly channel: ControlChannel;
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
    this.webhooks = new WebhookGate(key, { startedAtMs: Date.now() });
    this.supervisor = new Supervisor({
      workers: config.workers,
      call: { mailboxFrames: config.mailboxFrames, jitterMinDelayMs: config.jitterMinDelayMs, jitterMaxDelayMs: config.jitterMaxDelayMs, greeting: null, hold: null },
      tickMs: WORKER_TICK_MS,
      maxHeapMb: WORKER_MAX_HEAP_MB,
      maxWorkerLoad: config.maxWorkerLoad,
      tunnel:
        config.mediaSockets === 'worker'
          ? {
              host: config.host,
              port: config.tunnelPort,
              webhookReadTimeoutMs: config.webhookReadTimeoutMs,
              mediaFramesPerSecond: config.mediaFramesPerSecond,
              mediaFrameBurst: config.mediaFrameBurst,
            }
          : null,
      logger: log,
      onMedia: (_index, slot, frame, atMs) => this.control.onWorkerMedia(slot, frame, atMs),
      onControl: (index, message) => {
        if (message.type === 'pong') this.metrics.onWorkerPong(this.supervisor.host(index)!);
        else if (message.type === 'webhook') {
          // Read by a worker's own listener; verified and acted on here, answered there.
          const answer = this.front.answerWebhook(message.signature, message.timestamp, Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength));
          this.supervisor.host(index)?.send({ type: 'webhook.answer', id: message.id, ...answer });
          return;
        } else if (message.type === 'front.count') return this.front.count(message.counter, message.key);
        this.control.onWorkerControl(index, message);
      },
    });
    // The local operator routes (`ttma call`, `ttma calls`): a challenge-response over keys derived from the agent secret.
    const localAuth = new LocalOperatorAuth(config.agentSecret);
    const signalling = (this.#signalling = new SignallingClient({
      platformUrl: config.platformUrl,
      deploymentId: config.deploymentId,
      agentSecret: config.agentSecret,
    }));
    this.channel = new ControlChannel({
      platformUrl: config.platformUrl,
      deploymentId: config.deploymentId,
      agentSecret: config.agentSecret,
      log,
      onMessage: (message) => {
        if (message.type === 'provider.event') {
          this.front.answerRelayedWebhook(message.signature, message.timestamp, Buffer.from(message.body_base64, 'base64'));
        } else {
          this.control.onPlatformMessage(message);
        }
      },
      ...config.controlChannel,
    });
    this.control = new ControlActor(config, signalling, this.supervisor, log, (callId, ms) => this.channel.reportUsage(callId, ms));
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
      platformConnected: () => this.#platformConnected(),
    };
    this.metrics = new GatewayMetrics(sources);
    this.dashboard = new DashboardFeed(sources, this.metrics, config.maxCalls);
    this.front = new GatewayFront({
      host: config.host,
      tunnelPort: config.tunnelPort,
      localPort: config.localPort,
      tunnelListener: config.mediaSockets === 'front',
      control: this.control,
      webhooks: this.webhooks,
      log,
      status: () => this.status(),
      readiness: () => this.readiness(),
      localAuth,
      latency: () => this.addedLatency(),
      resetLatency: () => {
        this.control.resetAddedLatency();
        this.#loopDelay.reset();
      },
      metrics: () => this.metrics.text(),
      dashboard: this.dashboard,
      webhookReadTimeoutMs: config.webhookReadTimeoutMs,
      mediaFramesPerSecond: config.mediaFramesPerSecond,
      mediaFrameBurst: config.mediaFrameBurst,
    });
  }

  async start(): Promise<FrontPorts> {
    // Prompt files are decoded once, here, before any worker starts: a bad file stops the start with its reason.
    const prompts = await loadCallPrompts(this.config, this.log);
    const [, platformUp] = await Promise.all([this.supervisor.start(prompts), this.#signalling.checkPlatform()]);
    if (!platformUp) this.log.warn({ platformUrl: this.config.platformUrl }, 'platform not reachable at start: calls cannot be answered until it is');
    this.#loopDelay.enable();
    this.metrics.start();
    this.dashboard.start();
    const ports = await this.front.start();
    // Worker-owned sockets: the workers listen on the tunnel port, the front only on the local one.
    this.#ports = this.config.mediaSockets === 'worker' ? { ...ports, tunnelPort: this.supervisor.tunnelPort! } : ports;
    // Outbound only: cap notices arrive over it, usage reports leave over it.
    this.channel.start();
    this.log.info({ ...this.#ports, workers: this.config.workers, mediaSockets: this.config.mediaSockets, uws: uwsBuild, resampler: resamplerImplementation }, 'gateway listening on loopback');
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
      control: {
        state: this.channel.state,
        authenticated: this.channel.authenticated,
        since: this.channel.since,
        lastError: this.channel.lastError,
        identityRefused: this.channel.identityRefused,
        refusal: this.channel.refusal,
        deploymentMismatch: this.channel.deploymentMismatch,
        failures: this.channel.failures,
        pendingReports: this.channel.pendingReports,
        counters: this.channel.counters,
        cap: this.control.capState(),
      },
    };
  }

  /** GET /readyz: platform connected, a media worker up, a webhook key, not draining (src/front/readiness.ts). */
  readiness(): Readiness {
    return readiness({
      platformConnected: this.#platformConnected(),
      deploymentUnknown: this.channel.refusal?.kind === 'unknown',
      platformOtherDeployment: this.channel.deploymentMismatch !== null,
      workersUp: this.supervisor.hosts().filter((host) => host.up).length,
      webhookKey: this.webhooks.hasKey,
      draining: this.#stopping !== null,
    });
  }

  /** The control connection is open and the platform's hello arrived on it (sent only after it checked our identity). */
  #platformConnected(): boolean {
    return this.channel.state === 'open' && this.channel.authenticated;
  }

  /**
   * Added latency per direction and the front's event-loop delay since the
   * last reset, the calls live now and the calls refused as busy by
   * measured-load admission since start (bench/).
   */
  addedLatency(): AddedLatency & { mainLoopDelayP99Ms: number; liveCalls: number; refusedBusy: number; workerBusyShares: number[] } {
    return {
      ...this.control.addedLatency(),
      mainLoopDelayP99Ms: loopLatenessMs(this.#loopDelay, 99),
      liveCalls: this.control.liveCalls,
      refusedBusy: this.control.capRefused['worker_load'] ?? 0,
      // What admission compares with maxWorkerLoad: each live worker's busy share at its last pong.
      workerBusyShares: this.supervisor.hosts().filter((host) => !host.exited).map((host) => host.lastBusyShare),
    };
  }

  /** Graceful: stop accepting, hang up live calls (or hand them over, `onStop`), close every socket, stop workers. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // The local listener stays open until the calls are gone: /readyz answers 503 "draining" meanwhile.
      this.front.closeListeners({ keepLocal: true });
      this.supervisor.closeListeners();
      this.#loopDelay.disable();
      this.dashboard.stop();
      this.metrics.stop();
      const { mainLoopDelayMs, workers } = this.status();
      this.log.info({ mainLoopDelayMs, workers }, 'event-loop delay over this run');
      if (this.config.onStop === 'handover') {
        // The calls stay up at the provider; the next process takes them over (ControlActor.adoptLiveCalls).
        this.control.handOver();
      } else {
        const hungUp = this.control.shutdown(SHUTDOWN_GRACE_MS);
        await Promise.race([hungUp, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())]);
      }
      this.front.closeListeners();
      this.front.closeAllSockets();
      await this.supervisor.close();
      // After the calls ended, so their usage reports had the chance to leave.
      this.channel.stop();
      this.#signalling.close();
      this.log.info('gateway stopped');
    })();
    return this.#stopping;
  }
}
