/**
 * The platform's HTTP API: the signalling proxy gateways talk to, the
 * provider's webhooks, and a small admin surface (DESIGN 3 steps 3 and 6,
 * FAQ-09, FAQ-12, FAQ-13, FAQ-14).
 *
 * Every gateway request is authenticated, rate limited and checked against
 * the deployment's own allowlists before the provider is asked anything; the
 * provider key stays inside ProviderClient. Every refusal is answered
 * `{"error":{"code","message"}}` with its status, and logged without secrets.
 */
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { AnswerCallBody, DialCallBody, DialCallResult, LiveCallView, PlatformErrorBody, StreamingStartBody } from '../wire/platformApi.js';
import { HEADER_DEPLOYMENT, RECORDINGS_DELETED_PER_PASS } from '../wire/platformApi.js';
import { WEBHOOK_TOLERANCE_SEC } from '../wire/telnyx.js';
import { parseEd25519PublicKey } from '../wire/webhookSignature.js';
import { randomUUID } from 'node:crypto';
import { checkAnswerStreamUrl, checkCodec, checkDestination, checkDialStreamUrl, checkDigits, checkStreamToken } from './allowlists.js';
import { CapActions, capLimits, type CapNotice } from './CapActions.js';
import { CapEnforcer } from './CapEnforcer.js';
import { ControlHub } from './ControlHub.js';
import { CallRegistry, type CallRecord, type LockOutcome } from './CallRegistry.js';
import { checkDialPolicy, DeploymentRegistry, E164_PATTERN, type Deployment, type DeploymentStore } from './DeploymentRegistry.js';
import { HISTORY_PAGE_HEADERS } from './historyPage.js';
import { DashboardSessions } from './DashboardSessions.js';
import { handleDashboardRoute, type DashboardContext } from './dashboardRoutes.js';
import { CUSTOMER_COOKIE, DASHBOARD_RATE, handleCustomerRoute, type CustomerDashboardContext } from './customerDashboard.js';
import { CUSTOMER_BASE } from './customerPage.js';
import { DashboardLinks } from './DashboardLinks.js';
import { RecordingPlayback } from './RecordingPlayback.js';
import { callView, handleOperatorRoute, type OperatorContext } from './operatorApi.js';
import { InstallRoutes, type InstallRoutesOptions } from './installTokens/installRoutes.js';
import { ProviderClient, ProviderRefusedError, type ProviderClientOptions } from './ProviderClient.js';
import { DeploymentRateLimiter } from './DeploymentRateLimiter.js';
import { RateLimiter } from './RateLimiter.js';
import { DEFAULT_STREAM_RESTART_BUDGET, StreamRestartBudget } from './StreamRestartBudget.js';
import { LiveCallAudit } from './LiveCallAudit.js';
import { CallRecordings } from './CallRecordings.js';
import { checkRecordingOrigins, RecordingFetcher, recordingOriginsFor } from './RecordingFetcher.js';
import { ReservationCalls } from './ReservationCalls.js';
import { Settlement } from './Settlement.js';
import type { CapStore } from './store/CapStore.js';
import { createCapStore } from './store/createCapStore.js';
import type { StateJournal } from './store/StateJournal.js';
import { MemoryInstallTokenStore } from './installTokens/InstallTokenStore.js';
import type { CallStore } from './store/CallStore.js';
import { createCallStore, createDeploymentStore, createUsageStore, type CallRetention } from './store/createRecordStores.js';
import type { UsageStore } from './store/UsageStore.js';
import { createDashboardStore, createRateLimitStore, createReplayStore } from './store/createSharedStores.js';
import type { DashboardStore } from './store/DashboardStore.js';
import type { RateLimitSettings, RateLimitStore } from './store/RateLimitStore.js';
import type { ReplayStore } from './store/ReplayStore.js';
import { UsageLedger } from './UsageLedger.js';
import { DIAL_TIMEOUT_SECS, MAX_REPORTED_MS, TIME_LIMIT_SECS, bidirectionalStream, checkClientState, checkIntRange, decodeCallId } from './signalFields.js';
import { StreamlessCalls } from './StreamlessCalls.js';
import { ProviderWebhooks } from './ProviderWebhooks.js';
import { liveCallsOf } from './liveCalls.js';
import { handleSelfServiceRoute, NOT_OWNED, type SelfServiceContext, type SelfServiceRequest } from './selfServiceRoutes.js';
import { readJsonObject, sendJson, singleHeader, writeResponse, type Json } from './httpExchange.js';

export interface PlatformServerOptions {
  providerBaseUrl: string;
  providerApiKey: string;
  connectionId: string;
  /** Base64 of the provider's raw 32-byte Ed25519 key; null: webhooks refused with 503. */
  webhookPublicKeyBase64: string | null;
  /** null: the admin API is disabled (503). */
  adminToken: string | null;
  approvedTunnelDomains?: string[];
  /** 0 (the default) picks a free port. Always bound to 127.0.0.1. */
  port?: number;
  logger?: Logger;
  /** Per-deployment token bucket (default 20 requests/s, burst 40); shared by every process on one Redis. */
  rateLimit?: { ratePerSec: number; burst: number };
  /** The buckets; default: Redis when redisUrl is set, else in process. */
  rateLimitStore?: RateLimitStore;
  /** Each live call's own bucket for new media streams (src/platform/StreamRestartBudget.ts; default 8 at once, 1 per 10 s). */
  streamRestartBudget?: RateLimitSettings;
  /** The webhook replay cache; default: Redis when redisUrl is set, else in process. */
  replayStore?: ReplayStore;
  /** Dashboard sessions and sign-in links; default: Redis when redisUrl is set (shared by processes), else in process. */
  dashboardStore?: DashboardStore;
  /** Time allowed to receive a request body (default 10 s). */
  bodyTimeoutMs?: number;
  /** Provider retry tuning (tests shorten it). */
  provider?: Pick<ProviderClientOptions, 'maxAttempts' | 'backoffMs' | 'timeoutMs' | 'transport'>;
  /** Wall clock in ms, for the webhook window and replay cache. */
  now?: () => number;
  /** The cap store; default: Redis when redisUrl is set, else the embedded store. */
  capStore?: CapStore;
  /** redis://host:port (REDIS_URL / --redis-url): caps, deployments and call records live there. */
  redisUrl?: string | null;
  /**
   * Without Redis: where the embedded stores keep their state (StateJournal.open(--state-dir)),
   * so deployments, minute counters, usage, call records and the install audit outlive the
   * process. The caller opens it and closes it after stop(). Default: in memory only.
   */
  stateJournal?: StateJournal;
  /** Deployments; default: Redis when redisUrl is set, else in process. */
  deploymentStore?: DeploymentStore;
  /** Call records; default: Redis when redisUrl is set, else in process. */
  callStore?: CallStore;
  /** The usage cross-check's ledger (default: Redis with redisUrl, else in process). */
  usageStore?: UsageStore;
  /** How many call records, for how long (docs/platform-storage.md). */
  callRetention?: CallRetention;
  /** Length of one cap unit (default a minute); tests shorten it. */
  capUnitMs?: number;
  /** Recordings one pass of "delete every recording kept" deletes at most (RECORDINGS_DELETED_PER_PASS; smaller in tests). */
  recordingsDeletedPerPass?: number;
  /** Where recordings are stored; null/absent: the URL is kept, the MP3 is not downloaded. */
  recordingsDir?: string | null;
  /** Origins recordings may be fetched from (default: recordingOriginsFor(providerBaseUrl)). */
  recordingOrigins?: string[];
  /** Price per billed minute in millionths of a dollar (default 10 000). */
  priceMicroUsdPerMinute?: number;
  /** How long after a call ends the gateway has to report it before it is flagged unreported (default 5 min). */
  usageReportGraceMs?: number;
  /** Call detail record polling after a hang-up. */
  cdr?: { attempts?: number; backoffMs?: number };
  /** Between telling the gateway a cap is reached and hanging up its calls (default 1 s). */
  capGoodbyeMs?: number;
  /** An answered call whose media stream stopped and did not start again within this is ended here (default 30 s; StreamlessCalls). */
  streamlessGraceMs?: number;
  /** Install tokens and the bundles they point at (src/platform/installTokens). */
  install?: InstallRoutesOptions;
  /** Ping interval of the gateways' control connections (default 15 s). */
  controlHeartbeatMs?: number;
}

const BIND_HOST = '127.0.0.1';
const DEFAULT_BODY_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** The gateway's requests about one call (the deployment's own recordings: selfServiceRoutes.ts). */
const ROUTE_SIGNAL_CALL = /^\/v1\/signal\/calls\/([^/]+)\/(answer|hangup|transfer|send_dtmf|usage|streaming_start|record_start|record_stop|streaming_stop)$/;
const DEFAULT_CAP_GOODBYE_MS = 1_000;
const STORE_READY_TIMEOUT_MS = 2_000;
const MAX_LISTED_CALLS = 100;
const AUDITED_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.AUTH,
  ErrorCodes.DEPLOYMENT_DISABLED,
  ErrorCodes.CALL_NOT_OWNED,
  ErrorCodes.STREAM_URL,
  ErrorCodes.STREAM_HOST,
  ErrorCodes.STREAM_SCHEME,
  ErrorCodes.NUMBER_NOT_OWNED,
  ErrorCodes.DIAL_POLICY,
  ErrorCodes.CAP_REACHED,
  ErrorCodes.RECORDING,
  ErrorCodes.RATE_LIMITED,
]);

/** Which bucket pays for a stream request: the deployment's, or (a restart) the call's own first. */
type Budget = 'deployment' | 'restart';

interface RequestContext {
  deploymentId?: string;
  callId?: string;
  /** The route's method, for the Allow header of a 405. */
  allow?: string;
}

export class PlatformServer {
  readonly deployments: DeploymentRegistry;
  readonly calls: CallRegistry;
  readonly install: InstallRoutes;
  /** The gateways' outbound control connections (cap notices out, usage reports in). */
  readonly control: ControlHub;
  readonly #provider: ProviderClient;
  readonly #connectionId: string;
  readonly #publicKey: KeyObject | null;
  readonly #adminTokenDigest: Buffer | null;
  readonly #port: number;
  readonly #log: Logger;
  readonly #limiter: DeploymentRateLimiter;
  readonly #restartBudget: StreamRestartBudget;
  /**
   * A starting gateway's live-call list is paid from here first (3 at once, one more every
   * 10 s, per deployment, this process), then from the deployment's bucket: a restart must not
   * cost the calls it is about to take over their answers.
   */
  readonly #liveListBudget = new RateLimiter({ ratePerSec: 0.1, burst: 3 });
  readonly #bodyTimeoutMs: number;
  readonly #now: () => number;
  /** Event ids seen within the signature window (either side of now: twice the tolerance). */
  readonly #replay: ReplayStore;
  readonly #dashboardStore: DashboardStore;
  readonly caps: CapEnforcer;
  readonly #store: CapStore;
  readonly ledger: UsageLedger;
  readonly #settlement: Settlement;
  readonly #audit: LiveCallAudit;
  readonly #recordings: CallRecordings;
  readonly #deletedPerPass: number;
  /** A deployment's pass stopping live recordings, while it runs (#stopLiveRecordings). */
  readonly #recordingStops = new Map<string, Promise<number>>();
  readonly #operator: OperatorContext;
  readonly #dashboard: DashboardContext;
  /** A deployment's own dashboard: its sessions and one-time sign-in links (customerDashboard.ts). */
  readonly #customer: CustomerDashboardContext;
  readonly #selfService: SelfServiceContext;
  readonly #capActions: CapActions;
  /** Which call each live reservation is for: to end calls at a cap, and to audit them. */
  readonly #reservations = new ReservationCalls();
  readonly streamless: StreamlessCalls;
  readonly #webhooks: ProviderWebhooks;
  #server: Server | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: PlatformServerOptions) {
    if (!options.connectionId || !/^[\x21-\x7e]{1,128}$/.test(options.connectionId)) {
      throw new TtmaError(ErrorCodes.CONFIG, 'connectionId must be 1 to 128 printable characters');
    }
    if (options.adminToken !== null && options.adminToken.length < 16) {
      throw new TtmaError(ErrorCodes.CONFIG, 'admin token must be at least 16 characters');
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new TtmaError(ErrorCodes.CONFIG, 'port must be an integer from 0 to 65535');
    }
    // Before any store is made: a key no signature should pass under (TTMA_ERR_CONFIG) stops the start with nothing to undo.
    this.#publicKey = options.webhookPublicKeyBase64 ? parseEd25519PublicKey(options.webhookPublicKeyBase64) : null;
    this.deployments = new DeploymentRegistry({
      ...(options.approvedTunnelDomains ? { approvedTunnelDomains: options.approvedTunnelDomains } : {}),
      store: options.deploymentStore ?? createDeploymentStore(options.redisUrl ?? null, options.stateJournal),
    });
    this.calls = new CallRegistry({ store: options.callStore ?? createCallStore(options.redisUrl ?? null, options.callRetention, options.stateJournal) });
    this.#provider = new ProviderClient({
      baseUrl: options.providerBaseUrl,
      apiKey: options.providerApiKey,
      ...options.provider,
    });
    this.#connectionId = options.connectionId;
    this.#adminTokenDigest = options.adminToken ? sha256(options.adminToken) : null;
    this.#port = port;
    this.#log = options.logger ?? createLogger('platform');
    this.#limiter = new DeploymentRateLimiter({
      store: options.rateLimitStore ?? createRateLimitStore(options.redisUrl ?? null, options.rateLimit),
      log: this.#log,
    });
    this.#restartBudget = new StreamRestartBudget({
      calls: this.calls,
      store: createRateLimitStore(options.redisUrl ?? null, options.streamRestartBudget ?? DEFAULT_STREAM_RESTART_BUDGET, 'ttma:restart'),
      log: this.#log,
    });
    this.#replay = options.replayStore ?? createReplayStore(options.redisUrl ?? null, 2 * WEBHOOK_TOLERANCE_SEC * 1000);
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    this.#dashboardStore = options.dashboardStore ?? createDashboardStore(options.redisUrl ?? null, this.#now);
    const installStore = options.install?.store ?? (options.stateJournal ? new MemoryInstallTokenStore(Date.now, options.stateJournal) : undefined);
    this.install = new InstallRoutes(this.deployments, options.webhookPublicKeyBase64, { ...options.install, ...(installStore ? { store: installStore } : {}) });
    const store = (this.#store = options.capStore ?? createCapStore(options.redisUrl ?? null, options.stateJournal));
    this.caps = new CapEnforcer({
      store,
      logger: this.#log,
      ...(options.capUnitMs !== undefined ? { unitMs: options.capUnitMs } : {}),
      onCapReached: (deploymentId, reason) => this.#background('ending calls at the cap', this.#capActions.endCalls(deploymentId, reason)),
      limitsOf: async (deploymentId) => {
        const deployment = await this.deployments.get(deploymentId);
        return deployment ? capLimits(deployment) : null;
      },
      onToppedUp: (deploymentId, reservationId) => {
        void this.#audit.check(deploymentId, reservationId);
        const callId = this.#reservations.callOf(reservationId) ?? (reservationId.startsWith('dial-') ? undefined : reservationId);
        if (callId !== undefined) this.streamless.checkLater(callId);
      },
    });
    this.ledger = new UsageLedger({
      store: options.usageStore ?? createUsageStore(options.redisUrl ?? null, options.callRetention, options.stateJournal),
      logger: this.#log,
      ...(options.usageReportGraceMs !== undefined ? { reportGraceMs: options.usageReportGraceMs } : {}),
    });
    this.#settlement = new Settlement({
      provider: this.#provider,
      caps: this.caps,
      calls: this.calls,
      ledger: this.ledger,
      logger: this.#log,
      ...(options.priceMicroUsdPerMinute !== undefined ? { priceMicroUsdPerMinute: options.priceMicroUsdPerMinute } : {}),
      ...(options.cdr?.attempts !== undefined ? { cdrAttempts: options.cdr.attempts } : {}),
      ...(options.cdr?.backoffMs !== undefined ? { cdrBackoffMs: options.cdr.backoffMs } : {}),
    });
    this.#audit = new LiveCallAudit({
      provider: this.#provider,
      calls: this.calls,
      settlement: this.#settlement,
      reservations: this.#reservations,
      logger: this.#log,
      // Checks come once a unit per call: a pause or a scan of one unit skips one round.
      pauseMs: this.caps.unitMs,
      scanEveryMs: this.caps.unitMs,
    });
    this.streamless = new StreamlessCalls({
      calls: this.calls,
      provider: this.#provider,
      logger: this.#log,
      ...(options.streamlessGraceMs !== undefined ? { graceMs: options.streamlessGraceMs } : {}),
      now: this.#now,
    });
    this.control = new ControlHub({
      deployments: this.deployments,
      limiter: this.#limiter,
      log: this.#log,
      ...(options.controlHeartbeatMs !== undefined ? { heartbeatMs: options.controlHeartbeatMs } : {}),
      capState: (id) => this.#capActions.state(id),
      onUsage: (deployment, callId, duration) => this.#acceptUsage(deployment, callId, duration),
    });
    this.#capActions = new CapActions({
      caps: this.caps,
      calls: this.calls,
      deployments: this.deployments,
      control: this.control,
      provider: this.#provider,
      reservations: this.#reservations,
      logger: this.#log,
      goodbyeMs: options.capGoodbyeMs ?? DEFAULT_CAP_GOODBYE_MS,
    });
    // Changed through another platform process on the same store: re-check this process's connections.
    this.deployments.store.onStoredChange?.((id) => {
      if (this.control.connections(id) === 0) return;
      // A store that cannot answer now tells nothing: the connections stay (fail-closed checks happen per request).
      void this.deployments.get(id).then((current) => this.control.revokeStale(id, current), () => undefined);
    });
    this.deployments.onChange((id, change) => {
      if (change === 'secret' || change === 'disabled') {
        this.control.revoke(id, change === 'secret' ? 'agent secret rotated' : 'deployment disabled');
        // Whoever held the old secret may have signed in with it: the deployment's dashboard sessions and links end too.
        this.#background('dashboard sessions revoked', Promise.all([this.#customer.sessions.revoke(id), this.#customer.links.revoke(id)]));
        if (change === 'disabled') this.#background('ending a disabled deployment\'s calls', this.#capActions.endDisabled(id));
      }
      else if (change === 'updated') {
        this.#background('cap state push', this.#capActions.push(id));
        this.#background('recording switch', this.#stopLiveRecordings(id));
        this.#background('ending calls over a lowered cap', this.#capActions.endIfOver(id));
      }
    });
    // Configured origins are checked; the default follows the provider URL the client already accepted.
    const recordingOrigins = options.recordingOrigins ? checkRecordingOrigins(options.recordingOrigins) : recordingOriginsFor(options.providerBaseUrl);
    this.#deletedPerPass = options.recordingsDeletedPerPass ?? RECORDINGS_DELETED_PER_PASS;
    if (!Number.isInteger(this.#deletedPerPass) || this.#deletedPerPass < 1 || this.#deletedPerPass > RECORDINGS_DELETED_PER_PASS) {
      throw new TtmaError(ErrorCodes.CONFIG, `recordingsDeletedPerPass must be a whole number from 1 to ${RECORDINGS_DELETED_PER_PASS}`);
    }
    this.#recordings = new CallRecordings({
      provider: this.#provider,
      calls: this.calls,
      fetcher: options.recordingsDir ? new RecordingFetcher({ dir: options.recordingsDir, allowedOrigins: recordingOrigins }) : null,
      logger: this.#log,
    });
    this.#dashboard = {
      sessions: new DashboardSessions({ store: this.#dashboardStore, now: this.#now }),
      calls: this.calls,
      playback: new RecordingPlayback({
        dir: options.recordingsDir ?? null,
        allowedOrigins: recordingOrigins,
        freshUrl: (legId) => this.#provider.recordingDownloadUrl(legId),
        logger: this.#log,
        now: this.#now,
      }),
      log: this.#log,
      bodyTimeoutMs: this.#bodyTimeoutMs,
      isAdminToken: (token) => this.#isAdminToken(token),
      requireViewer: (req) => this.#requireViewer(req),
      requireAdmin: (req) => this.#requireAdmin(req),
      deleteRecording: (record) => this.#recordings.remove(record, 'operator'),
      allow: () => undefined,
    };
    this.#customer = {
      sessions: new DashboardSessions({ store: this.#dashboardStore, now: this.#now, cookieName: CUSTOMER_COOKIE, path: CUSTOMER_BASE, maxPerSubject: 4 }),
      links: new DashboardLinks({ store: this.#dashboardStore, now: this.#now }),
      deployments: this.deployments,
      calls: this.calls,
      usage: (id) => this.caps.usage(id),
      playback: this.#dashboard.playback,
      switchRecording: (id, on) => this.#applyRecordingSwitch(id, on),
      deleteRecording: (record) => this.#recordings.remove(record, 'deployment'),
      deleteKeptRecordings: (id, from) => this.#recordings.removeKept(id, 'deployment', this.#deletedPerPass, { from }),
      limiter: new RateLimiter(DASHBOARD_RATE),
      log: this.#log,
      bodyTimeoutMs: this.#bodyTimeoutMs,
      allow: () => undefined,
    };
    this.#selfService = {
      calls: this.calls,
      caps: this.caps,
      recordings: this.#recordings,
      playback: this.#dashboard.playback,
      links: this.#customer.links,
      switchRecording: (id, on) => this.#applyRecordingSwitch(id, on),
      deletedPerPass: this.#deletedPerPass,
      bodyTimeoutMs: this.#bodyTimeoutMs,
      log: this.#log,
    };
    this.#webhooks = new ProviderWebhooks({
      publicKey: this.#publicKey,
      bodyTimeoutMs: this.#bodyTimeoutMs,
      now: this.#now,
      replay: this.#replay,
      // A replay cache in this process starts empty at each start: refuse what was signed before it.
      notBeforeMs: this.#replay.kind === 'memory' ? this.#now() : null,
      calls: this.calls,
      deployments: this.deployments,
      streamless: this.streamless,
      settlement: this.#settlement,
      recordings: this.#recordings,
      reservations: this.#reservations,
      log: this.#log,
    });
    this.#operator = {
      deployments: this.deployments,
      calls: this.calls,
      caps: this.caps,
      ledger: this.ledger,
      log: this.#log,
      requireAdmin: (req) => this.#requireAdmin(req),
      requireViewer: (req) => this.#requireViewer(req),
      readJson: (req) => this.#readJson(req),
      send: (req, res, status, body) => sendJson(req, res, status, body),
      sendPage: (req, res, status, html) => writeResponse(req, res, status, html, HISTORY_PAGE_HEADERS),
      deleteKeptRecordings: (id, from) => this.#recordings.removeKept(id, 'operator', this.#deletedPerPass, { from }),
      allow: () => undefined,
    };
  }

  /** The request's JSON object, within this server's body limits. */
  #readJson(req: IncomingMessage): Promise<Json> {
    return readJsonObject(req, this.#bodyTimeoutMs);
  }

  /** Work started after a response: its failure (e.g. the store went away) is logged, never an unhandled rejection. */
  #background(what: string, work: Promise<unknown>): void {
    work.catch((err: unknown) => this.#log.error({ err: isTtmaError(err) ? err.code : err instanceof Error ? err.message : String(err) }, `${what} failed`));
  }

  /** Subscribe to cap notices (the control channel to gateways uses this). */
  onCapNotice(listener: (deploymentId: string, notice: CapNotice) => void): () => void {
    return this.#capActions.onNotice(listener);
  }

  async start(): Promise<{ port: number }> {
    if (this.#server) throw new TtmaError(ErrorCodes.PLATFORM, 'platform server already started');
    if (!this.#publicKey) {
      this.#log.warn(
        { code: ErrorCodes.WEBHOOK_NO_KEY },
        'no webhook public key configured: every provider webhook will be refused with 503 (FAQ-05, FAQ-06)',
      );
    }
    const server = createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      (req, res) => void this.#handle(req, res),
    );
    server.on('upgrade', (req, socket, head) => this.control.handleUpgrade(req, socket, head));
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, BIND_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    this.install.listening(port);
    // A networked store connects in the background: wait for it (bounded) so the first calls are
    // not refused as "store unreachable" while Redis is still connecting; if it stays away the
    // platform starts degraded (fail closed, /readyz says so).
    const [caps, deployments, calls, limits, replay] = await Promise.all(
      [this.#store, this.deployments.store, this.calls.store, this.#limiter.store, this.#replay].map((store) => store.ready?.(STORE_READY_TIMEOUT_MS) ?? true),
    );
    if (!caps || !deployments || !calls || !limits || !replay) {
      this.#log.warn({ code: ErrorCodes.STORE_UNAVAILABLE, caps, deployments, calls, limits, replay }, 'store not reachable at start: new calls are refused until it is');
    }
    this.#log.info({ port, host: BIND_HOST }, 'platform listening');
    return { port };
  }

  /** Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const server = this.#server;
    this.caps.close();
    this.streamless.close();
    this.control.close();
    this.#stopping = new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    }).then(() => {
      this.#provider.close();
      return Promise.all([
        this.#store.close(), this.deployments.store.close?.(), this.calls.store.close(), this.ledger.store.close(), this.#limiter.store.close(), this.#restartBudget.store.close(), this.#replay.close(), this.#dashboardStore.close(),
      ]).then(() => undefined);
    });
    return this.#stopping;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx: RequestContext = {};
    const method = req.method ?? 'GET';
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', `http://${BIND_HOST}`);
      path = url.pathname;
      const tools = { ...this.#installTools, allow: (m: string, a: string) => allowMethod(m, a, ctx) };
      if (await this.install.handle(method, path, req, res, tools)) return;
      const signal = ROUTE_SIGNAL_CALL.exec(path);
      if (signal) {
        allowMethod(method, 'POST', ctx);
        const callId = decodeCallId(signal[1] ?? '');
        ctx.callId = callId;
        switch (signal[2]) {
          case 'answer':
            return await this.#answer(req, res, callId, ctx);
          case 'hangup':
            return await this.#hangup(req, res, callId, ctx);
          case 'transfer':
            return await this.#transfer(req, res, callId, ctx);
          case 'send_dtmf':
            return await this.#sendDtmf(req, res, callId, ctx);
          case 'usage':
            return await this.#usageReport(req, res, callId, ctx);
          case 'streaming_start':
            return await this.#streamingStart(req, res, callId, ctx);
          default:
            return await this.#callAction(req, res, callId, signal[2] as 'record_start' | 'record_stop' | 'streaming_stop', ctx);
        }
      }
      switch (path) {
        case '/healthz':
          allowMethod(method, 'GET', ctx);
          return sendJson(req, res, 200, { ok: true });
        case '/readyz':
          allowMethod(method, 'GET', ctx);
          return await this.#ready(req, res);
        case '/v1/signal/calls':
          if (method === 'GET') return await this.#listCalls(req, res, url, ctx);
          if (method !== 'POST') allowMethod(method, 'GET, POST', ctx);
          return await this.#dial(req, res, ctx);
        case '/v1/provider/webhooks':
          allowMethod(method, 'POST', ctx);
          return await this.#webhooks.handle(req, res, ctx);
        default:
          if (await handleSelfServiceRoute(this.#selfService, this.#selfServiceRequest(ctx), req, res, method, url)) return;
          if (await handleCustomerRoute({ ...this.#customer, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, url)) return;
          if (await handleDashboardRoute({ ...this.#dashboard, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, path)) return;
          if (await handleOperatorRoute({ ...this.#operator, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, url)) return;
          throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such route', 404);
      }
    } catch (err) {
      this.#refuse(req, res, err, method, path, ctx);
    }
  }

  /** The per-request half of the self-service routes: this request's authentication and record. */
  #selfServiceRequest(ctx: RequestContext): SelfServiceRequest {
    return {
      authenticate: (req) => this.#authenticate(req, ctx),
      allow: (m, a) => allowMethod(m, a, ctx),
      noteCall: (callId) => {
        ctx.callId = callId;
      },
    };
  }

  readonly #installTools = {
    requireAdmin: (req: IncomingMessage) => this.#requireAdmin(req),
    readJson: (req: IncomingMessage) => this.#readJson(req),
    send: (req: IncomingMessage, res: ServerResponse, status: number, body: unknown) => sendJson(req, res, status, body),
  };

  // ---- signalling (gateway -> platform) ----

  /**
   * The stream of an answer or of a restart: authenticated, its fields checked
   * against the deployment (wss:// to exactly its tunnel host, path
   * /v1/media/<this call id>, token and codec shapes: FAQ-13), then the
   * call's ownership; the fields as the provider takes them.
   */
  async #ownCallStream(req: IncomingMessage, callId: string, ctx: RequestContext, budget: Budget = 'deployment') {
    const deployment = await this.#authenticate(req, ctx, budget === 'restart' ? callId : null);
    const body = (await this.#readJson(req)) as Partial<AnswerCallBody | StreamingStartBody>;
    const streamUrl = checkAnswerStreamUrl(body.stream_url, deployment.tunnelHost, callId);
    const token = checkStreamToken(body.stream_auth_token);
    const codec = checkCodec(body.codec);
    const clientState = checkClientState(body.client_state);
    await this.#requireOwnership(deployment, callId);
    return { deployment, codec, stream: bidirectionalStream(streamUrl, token, codec, clientState) };
  }

  async #answer(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const { deployment, codec, stream } = await this.#ownCallStream(req, callId, ctx);
    // A dialled call is answered by the callee, and reserves under its dial's own id.
    if ((await this.calls.get(callId))?.direction === 'outgoing') {
      throw new TtmaError(ErrorCodes.CONFLICT, 'this call was dialled by the deployment: answer is for incoming calls', 409);
    }
    // Reserve the first minute before the provider is asked anything: at a cap, no call starts.
    // Once per call (a second answer is refused here, before it could touch the first's reservation).
    await this.#admit(deployment, callId);
    this.#reservations.set(callId, callId);
    // Written while the provider answers (no round trip of its own); if it is lost, settlement
    // falls back to the call id, which is this reservation's id anyway.
    const marked = this.calls.patch(callId, { reservationId: callId }).catch((err: unknown) => {
      this.#log.warn({ callId, code: isTtmaError(err) ? err.code : undefined }, 'reservation id not written to the call record');
    });
    try {
      await this.#provider.answer(callId, stream);
      await marked;
    } catch (err) {
      if (err instanceof ProviderRefusedError) {
        // Not answered: stop top-ups; the provider's hang-up (answer timeout) settles the reservation at its figure.
        await this.caps.release(deployment.id, callId);
      } else {
        // Perhaps answered (a timeout, 5xx): the reservation stays live, so the call's minutes are still
        // reserved and capped, until its hang-up or the live-call audit settles it.
        this.#log.warn({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'answer outcome unknown: the call stays reserved until it ends');
      }
      throw err;
    }
    this.#log.info({ deployment: deployment.id, callId, codec }, 'call answered through the provider');
    sendJson(req, res, 200, { ok: true });
    if (deployment.recording) this.#background('recording start', this.#recordings.start(deployment, callId));
  }

  /**
   * A new stream for one of the deployment's own live calls (the gateway lost
   * its media socket), checked as an answer's. Nothing is reserved: the call
   * already holds its reservation. Paid from the call's own restart budget
   * while it lasts, so a tunnel reconnect's every-call-at-once burst does not
   * drain the deployment's bucket.
   */
  async #streamingStart(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const { deployment, codec, stream } = await this.#ownCallStream(req, callId, ctx, 'restart');
    await this.#provider.action(callId, 'streaming_start', stream);
    this.#log.info({ deployment: deployment.id, callId, codec }, 'media stream restarted through the provider');
    sendJson(req, res, 200, { ok: true });
  }

  /** Gateway-initiated record_start/record_stop/streaming_stop, on its own calls only. */
  async #callAction(
    req: IncomingMessage,
    res: ServerResponse,
    callId: string,
    action: 'record_start' | 'record_stop' | 'streaming_stop',
    ctx: RequestContext,
  ): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    await this.#readJson(req);
    await this.#requireOwnership(deployment, callId);
    if (action === 'record_start' && !deployment.recording) {
      throw new TtmaError(ErrorCodes.RECORDING, 'recording is off for this deployment: record_start refused', 403);
    }
    if (action === 'record_start') await this.#provider.action(callId, 'record_start', { format: 'mp3', channels: 'single' });
    else await this.#provider.action(callId, action);
    if (action === 'streaming_stop') this.streamless.stoppedOnPurpose(callId);
    this.#log.info({ deployment: deployment.id, callId, action }, 'call action relayed');
    sendJson(req, res, 200, { ok: true });
  }

  /** The deployment's own recent calls, newest first, as the platform recorded them (`ttma calls --source platform`). */
  async #listCalls(req: IncomingMessage, res: ServerResponse, url: URL, ctx: RequestContext): Promise<void> {
    const live = url.searchParams.get('live');
    const deployment = await this.#authenticate(req, ctx, null, live !== null);
    if (live !== null) {
      // A starting gateway takes over its deployment's answered calls and answers its ringing ones (src/platform/liveCalls.ts).
      if (live !== '1') throw new TtmaError(ErrorCodes.BAD_REQUEST, 'live must be 1', 400);
      const calls = await liveCallsOf(deployment.id, { caps: this.caps, calls: this.calls, reservations: this.#reservations });
      this.#log.info({ deployment: deployment.id, live: calls.length }, 'live calls listed for the gateway');
      return sendJson(req, res, 200, { calls: calls.map(liveCallView) });
    }
    const raw = url.searchParams.get('limit') ?? '10';
    const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!(limit >= 1 && limit <= MAX_LISTED_CALLS)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, `limit must be a whole number from 1 to ${MAX_LISTED_CALLS}`, 400);
    }
    const calls = (await this.calls.list({ deploymentId: deployment.id, limit })).map(deploymentCallView);
    sendJson(req, res, 200, { calls });
  }

  /** The gateway's duration report over HTTP (the control connection is the usual way). */
  async #usageReport(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = await this.#readJson(req);
    sendJson(req, res, 200, { ok: true, flags: await this.#acceptUsage(deployment, callId, body['duration_ms']) });
  }

  /** A usage report by either route: kept for the cross-check, never billed from (FAQ-14). */
  async #acceptUsage(deployment: Deployment, callId: string, duration: unknown): Promise<string[]> {
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 0 || duration > MAX_REPORTED_MS) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, `duration_ms must be a whole number from 0 to ${MAX_REPORTED_MS}`, 400);
    }
    const known = await this.calls.ownerOf(callId);
    if (!known) {
      await this.ledger.unknownReport(deployment.id, callId, duration);
      throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    }
    if (!known.locked || known.deploymentId !== deployment.id) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    return (await this.ledger.gatewayReport(deployment.id, callId, duration)).flags;
  }

  /** Reserve a new call's first unit; a cap refusal also tells the deployment's gateways. */
  async #admit(deployment: Deployment, reservationId: string): Promise<void> {
    try {
      await this.caps.admit(deployment.id, reservationId, capLimits(deployment));
    } catch (err) {
      if (isTtmaError(err, ErrorCodes.CAP_REACHED)) this.#background('cap state push', this.#capActions.push(deployment.id));
      throw err;
    }
  }

  /** Sets the deployment's recording flag; off also stops its live recordings (how many, returned). */
  async #applyRecordingSwitch(deploymentId: string, on: boolean): Promise<number> {
    const deployment = await this.deployments.get(deploymentId);
    if (!deployment) throw new TtmaError(ErrorCodes.NOT_FOUND, `no deployment ${deploymentId}`, 404);
    if (deployment.recording !== on) await this.deployments.update(deploymentId, { recording: on });
    return on ? 0 : this.#stopLiveRecordings(deploymentId);
  }

  /**
   * When the deployment's recording is off, stops it on its live calls. One
   * pass at a time per deployment: the switch and the change listener share it.
   */
  #stopLiveRecordings(deploymentId: string): Promise<number> {
    const running = this.#recordingStops.get(deploymentId);
    if (running) return running;
    const pass = (async () => {
      const deployment = await this.deployments.get(deploymentId);
      if (!deployment || deployment.recording) return 0;
      const live = await liveCallsOf(deployment.id, { caps: this.caps, calls: this.calls, reservations: this.#reservations });
      return this.#recordings.stopLive(deployment, live);
    })().finally(() => this.#recordingStops.delete(deploymentId));
    this.#recordingStops.set(deploymentId, pass);
    return pass;
  }

  async #ready(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const state = await this.caps.probe();
    // Deployments and call records may sit on their own connection: each must answer too.
    const records = await Promise.all([
      this.deployments.store.ping?.().then(() => null, () => 'deployment store unreachable') ?? null,
      this.calls.store.ping().then(() => null, () => 'call record store unreachable'),
      this.ledger.store.ping().then(() => null, () => 'usage ledger store unreachable'),
      this.#limiter.store.ping().then(() => null, () => 'rate-limit store unreachable (limiting per process)'),
      this.#replay.ping().then(() => null, () => 'webhook replay store unreachable (webhooks refused)'),
    ]);
    const recordsReason = records.find((r) => r !== null) ?? null;
    const degraded = state.degraded || recordsReason !== null;
    const body = { ok: !degraded, store: state.kind, degraded, reason: state.reason ?? recordsReason, since: state.since };
    sendJson(req, res, degraded ? 503 : 200, degraded ? { ...body, error: { code: ErrorCodes.STORE_UNAVAILABLE, message: 'store unreachable: new calls are refused, live calls continue' } } : body);
  }

  async #hangup(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    await this.#readJson(req);
    await this.#requireOwnership(deployment, callId);
    const result = await this.#provider.hangup(callId);
    this.#log.info({ deployment: deployment.id, callId, alreadyEnded: result.alreadyEnded }, 'call hung up');
    sendJson(req, res, 200, { ok: true });
  }

  async #transfer(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = await this.#readJson(req);
    await this.#requireOwnership(deployment, callId);
    // A transfer dials out too: the deployment's dialling policy applies first, as to dial, then the premium-rate refusal.
    if (typeof body['to'] === 'string') checkDialPolicy(deployment, body['to']);
    const to = checkDestination(body['to']);
    const from = deployment.numbers[0] ?? '';
    await this.#provider.transfer(callId, to, from);
    this.#log.info({ deployment: deployment.id, callId }, 'call transferred');
    sendJson(req, res, 200, { ok: true });
  }

  async #sendDtmf(req: IncomingMessage, res: ServerResponse, callId: string, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = await this.#readJson(req);
    const digits = checkDigits(body['digits']);
    await this.#requireOwnership(deployment, callId);
    await this.#provider.sendDtmf(callId, digits);
    sendJson(req, res, 200, { ok: true });
  }

  async #dial(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const deployment = await this.#authenticate(req, ctx);
    const body = (await this.#readJson(req)) as Partial<DialCallBody>;
    if (typeof body.to !== 'string' || !E164_PATTERN.test(body.to)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, 'to must be an E.164 number ("+" then 7 to 15 digits)', 400);
    }
    checkDialPolicy(deployment, body.to);
    checkDestination(body.to);
    const from = body.from ?? deployment.numbers[0];
    if (typeof from !== 'string' || !deployment.numbers.includes(from)) {
      throw new TtmaError(ErrorCodes.NUMBER_NOT_OWNED, "from must be one of this deployment's numbers", 403);
    }
    const { streamUrl, mediaId } = checkDialStreamUrl(body.stream_url, deployment.tunnelHost);
    const token = checkStreamToken(body.stream_auth_token);
    const codec = checkCodec(body.codec);
    const clientState = checkClientState(body.client_state);
    const timeoutSecs = checkIntRange(body.timeout_secs, 'timeout_secs', DIAL_TIMEOUT_SECS);
    const timeLimitSecs = checkIntRange(body.time_limit_secs, 'time_limit_secs', TIME_LIMIT_SECS);
    const to = body.to;
    // The reservation is keyed by the dial's command_id: the call id exists only after the provider answers.
    const commandId = randomUUID();
    const reservationId = `dial-${commandId}`;
    await this.#admit(deployment, reservationId);
    let dialled;
    try {
      dialled = await this.#provider.dial({
      command_id: commandId,
      connection_id: this.#connectionId,
      from,
      to,
      ...bidirectionalStream(streamUrl, token, codec, clientState),
      ...(timeoutSecs !== undefined ? { timeout_secs: timeoutSecs } : {}),
      ...(timeLimitSecs !== undefined ? { time_limit_secs: timeLimitSecs } : {}),
      });
    } catch (err) {
      // No call was placed: the reserved minute goes back.
      await this.caps.settle(deployment.id, reservationId, 0).catch(() => undefined);
      throw err;
    }
    const callId = dialled.call_control_id;
    ctx.callId = callId;
    this.#reservations.set(reservationId, callId);
    let locked: LockOutcome;
    try {
      locked = await this.calls.lock(callId, deployment.id, { direction: 'outgoing', from, to }, { reservationId });
    } catch (err) {
      // The call is placed but nobody can be shown to own it: it must not stay up (fail closed).
      this.#log.error({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'dialled call not locked (store unreachable): ending it');
      await this.#endUnlockedDial(deployment.id, callId, reservationId);
      throw err;
    }
    if (!locked.ok) {
      // The provider handed us an id we already gave to someone else: never
      // re-assign; end the new call rather than let two owners share it.
      this.#log.error({ deployment: deployment.id, callId }, 'dialled call id already locked to another owner');
      await this.#endUnlockedDial(deployment.id, callId, reservationId);
      throw new TtmaError(ErrorCodes.PROVIDER, 'provider returned a call id that is already in use', 502);
    }
    // Events that raced ahead of the lock found the call unlocked and set nothing in motion:
    // a call.hangup still settles, a call.answered still starts the recording.
    if (locked.state === 'ended') this.#background('settlement', this.#settlement.onHangup(callId));
    else if (locked.state === 'answered') this.#background('recording start', this.#recordings.start(deployment, callId));
    this.#log.info({ deployment: deployment.id, callId, mediaId, codec }, 'outbound call placed');
    const result: DialCallResult = { call_control_id: callId, call_session_id: dialled.call_session_id };
    sendJson(req, res, 200, result);
  }

  /**
   * Ends a dialled call that could not be locked. No record carries its
   * reservation, so no hang-up event would ever settle it: stop its top-ups
   * here (its first minute stays counted).
   */
  async #endUnlockedDial(deploymentId: string, callId: string, reservationId: string): Promise<void> {
    await this.#provider.hangup(callId).catch((err: unknown) => {
      this.#log.error({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined }, 'unlocked dialled call not hung up');
    });
    await this.caps.release(deploymentId, reservationId);
    this.#reservations.forgetReservation(reservationId);
  }

  /** `restartOf`: a call whose own restart budget pays first (StreamRestartBudget); `liveList`: the live-call list's own budget pays first. */
  async #authenticate(req: IncomingMessage, ctx: RequestContext, restartOf: string | null = null, liveList = false): Promise<Deployment> {
    const claimed = singleHeader(req, HEADER_DEPLOYMENT);
    const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(singleHeader(req, 'authorization') ?? '');
    const deployment = await this.deployments.authenticate(claimed, bearer?.[1]);
    ctx.deploymentId = deployment.id;
    if (restartOf !== null && (await this.#restartBudget.take(deployment.id, restartOf))) return deployment;
    if (liveList && this.#liveListBudget.take(deployment.id)) return deployment;
    // After authentication, so nobody can drain another deployment's bucket.
    if (!(await this.#limiter.take(deployment.id))) {
      throw new TtmaError(ErrorCodes.RATE_LIMITED, 'rate limit reached for this deployment: slow down and retry', 429);
    }
    return deployment;
  }

  /**
   * The call must be locked to this deployment: known from a webhook or our
   * own dial, or (not yet known) fetched from the provider and locked by the
   * dialled number, incoming calls only. One answer for "someone else's" and
   * "no such call", so ids cannot be probed.
   */
  async #requireOwnership(deployment: Deployment, callId: string): Promise<void> {
    const known = await this.calls.ownerOf(callId);
    if (known) {
      if (known.locked && known.deploymentId === deployment.id) return;
      throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    }
    let call;
    try {
      call = await this.#provider.getCall(callId);
    } catch (err) {
      if (isTtmaError(err) && err.status === 404) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
      throw err;
    }
    if (call.direction !== 'incoming' || !call.to) throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    const owner = await this.deployments.findByNumber(call.to);
    const locked = await this.calls.lock(callId, owner?.id ?? null, { direction: 'incoming', from: call.from ?? '', to: call.to });
    if (!locked.ok || locked.deploymentId !== deployment.id) {
      throw new TtmaError(ErrorCodes.CALL_NOT_OWNED, NOT_OWNED, 403);
    }
  }

  // ---- admin ----

  #requireAdmin(req: IncomingMessage): void {
    const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(singleHeader(req, 'authorization') ?? '');
    if (!this.#isAdminToken(bearer?.[1] ?? '') || !bearer) {
      throw new TtmaError(ErrorCodes.AUTH, 'admin authentication failed', 401);
    }
  }

  /** Read-only dashboard routes: the admin token, or a signed-in browser's session. */
  async #requireViewer(req: IncomingMessage): Promise<void> {
    if (this.#adminTokenDigest && req.headers.authorization === undefined && (await this.#dashboard.sessions.valid(req))) return;
    this.#requireAdmin(req);
  }

  /** Constant time; throws 503 when no admin token is configured (the admin API is off). */
  #isAdminToken(token: string): boolean {
    if (!this.#adminTokenDigest) {
      throw new TtmaError(ErrorCodes.CONFIG, 'admin API disabled: start the platform with --admin-token-file', 503);
    }
    return timingSafeEqual(sha256(token), this.#adminTokenDigest);
  }

  // ---- HTTP plumbing ----

  #refuse(req: IncomingMessage, res: ServerResponse, err: unknown, method: string, path: string, ctx: RequestContext): void {
    let code: string;
    let status: number;
    let message: string;
    if (isTtmaError(err)) {
      ({ code, status, message } = err);
    } else {
      code = ErrorCodes.PLATFORM;
      status = 500;
      message = 'internal error';
      const detail = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err);
      this.#log.error({ err: detail }, 'unexpected error');
    }
    const headers: Record<string, string> = {};
    if (code === ErrorCodes.RATE_LIMITED) {
      headers['retry-after'] = String(this.#limiter.retryAfterSec(ctx.deploymentId ?? '') || 1);
    }
    if (code === ErrorCodes.METHOD_NOT_ALLOWED && ctx.allow) headers['allow'] = ctx.allow;
    const level = status >= 500 ? 'error' : 'warn';
    // Allowlist, identity and cap refusals are security events: marked for the audit trail.
    const audit = AUDITED_CODES.has(code);
    this.#log[level]({ ...(audit ? { audit: true } : {}), method, path, status, code, deployment: ctx.deploymentId, callId: ctx.callId }, `refused: ${message}`);
    const body: PlatformErrorBody = { error: { code, message } };
    sendJson(req, res, status, body, headers);
  }
}

// ---- helpers ----

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function allowMethod(method: string, allowed: string, ctx: RequestContext): void {
  ctx.allow = allowed;
  if (method !== allowed) {
    throw new TtmaError(ErrorCodes.METHOD_NOT_ALLOWED, `method not allowed, use ${allowed}`, 405);
  }
}

/** What a deployment sees of its own calls: the operator's view (callView) less review fields and the recording's location. */
const DEPLOYMENT_CALL_FIELDS = [
  'call_control_id', 'direction', 'from', 'to', 'state', 'started_at', 'answered_at', 'ended_at',
  'duration_ms', 'billed_minutes', 'cost_usd', 'hangup_cause',
] as const;

/** What a starting gateway needs to take a live call over (LiveCallView): few fields, as the list can hold thousands. */
const LIVE_CALL_FIELDS = ['call_control_id', 'direction', 'from', 'to', 'state', 'started_at', 'answered_at'] as const;

function pickFields(record: CallRecord, fields: readonly string[]): Record<string, unknown> {
  const full = callView(record);
  const view: Record<string, unknown> = {};
  for (const field of fields) view[field] = full[field];
  return view;
}

function liveCallView(record: CallRecord): LiveCallView {
  return pickFields(record, LIVE_CALL_FIELDS) as unknown as LiveCallView;
}

/** A call record as its own deployment may see it: the provider's figures, no review flags, no recording URL. */
function deploymentCallView(record: CallRecord): Record<string, unknown> {
  return { ...pickFields(record, DEPLOYMENT_CALL_FIELDS), recorded: Boolean(record.recording?.url) };
}
