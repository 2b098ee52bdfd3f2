/**
 * The platform's HTTP API: the signalling proxy gateways talk to, the
 * provider's webhooks, and a small admin surface (DESIGN 3 steps 3 and 6,
 * FAQ-09, FAQ-12, FAQ-13, FAQ-14).
 *
 * Every gateway request is authenticated, rate limited and checked against
 * the deployment's own allowlists before the provider is asked anything; the
 * provider key stays inside ProviderClient. Every refusal is answered
 * `{"error":{"code","message"}}` with its status, and logged without secrets.
 *
 * The routes live in their own modules (the gateway's calls:
 * signallingRoutes.ts; what a deployment asks about itself:
 * selfServiceRoutes.ts; webhooks: ProviderWebhooks.ts; the dashboards and
 * operatorApi.ts); this server builds their parts, authenticates and rate
 * limits the gateways, and answers every refusal.
 */
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RefusalLog } from '../RefusalLog.js';
import { ErrorCodes, StoreUnavailableError, TtmaError, isTtmaError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { PlatformErrorBody } from '../wire/platformApi.js';
import { HEADER_DEPLOYMENT, RECORDINGS_DELETED_PER_PASS } from '../wire/platformApi.js';
import { WEBHOOK_TOLERANCE_SEC } from '../wire/telnyx.js';
import { parseEd25519PublicKey } from '../wire/webhookSignature.js';
import { CapActions, capLimits, type CapNotice } from './CapActions.js';
import { CapEnforcer, DATA_LOST_REMEDY } from './CapEnforcer.js';
import { ControlHub } from './ControlHub.js';
import { closeWithin, trackSockets } from './boundedServerClose.js';
import type { ControlBus } from './bus/ControlBus.js';
import { createControlBus } from './bus/createControlBus.js';
import { CallRegistry } from './CallRegistry.js';
import { DeploymentRegistry, type Deployment, type DeploymentStore } from './DeploymentRegistry.js';
import { warnUnreachedAreas } from './dialPolicyReach.js';
import { warnSharedTunnelHosts } from './tunnelHostOwners.js';
import { HISTORY_PAGE_HEADERS } from './historyPage.js';
import { DashboardSessions, sessionTag } from './DashboardSessions.js';
import { handleDashboardRoute, type DashboardContext } from './dashboardRoutes.js';
import { CUSTOMER_COOKIE, DASHBOARD_RATE, handleCustomerRoute, type CustomerDashboardContext } from './customerDashboard.js';
import { CUSTOMER_BASE } from './customerPage.js';
import { DashboardLinks } from './DashboardLinks.js';
import { RecordingPlayback } from './RecordingPlayback.js';
import { handleOperatorRoute, type OperatorContext } from './operatorApi.js';
import { InstallRoutes, type InstallRoutesOptions } from './installTokens/installRoutes.js';
import { ProviderClient, type ProviderClientOptions } from './ProviderClient.js';
import { DeploymentRateLimiter } from './DeploymentRateLimiter.js';
import { RateLimiter } from './RateLimiter.js';
import { DEFAULT_STREAM_RESTART_BUDGET, StreamRestartBudget } from './StreamRestartBudget.js';
import { HungUpCalls } from './HungUpCalls.js';
import { LiveCallAudit } from './LiveCallAudit.js';
import { LOCK_MARGIN_MS, UnownedDials } from './UnownedDials.js';
import { OwnerlessCalls } from './OwnerlessCalls.js';
import { CallRecordings } from './CallRecordings.js';
import { checkRecordingOrigins, RecordingFetcher, recordingOriginsFor } from './RecordingFetcher.js';
import { ReservationCalls } from './ReservationCalls.js';
import { cdrWindowMs, DEFAULT_CDR_ATTEMPTS, DEFAULT_CDR_BACKOFF_MS, Settlement } from './Settlement.js';
import { SettlementSweep } from './SettlementSweep.js';
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
import { StreamlessCalls } from './StreamlessCalls.js';
import { PlatformMetrics } from './PlatformMetrics.js';
import { PersistenceWatch } from './PersistenceWatch.js';
import { ProviderWebhooks, type SignedBody } from './ProviderWebhooks.js';
import { liveCallsOf } from './liveCalls.js';
import { handleSelfServiceRoute, type SelfServiceContext } from './selfServiceRoutes.js';
import { acceptUsage, handleSignallingRoute, type SignallingContext, type SignallingRequest } from './signallingRoutes.js';
import { readJsonObject, sendJson, singleHeader, writeResponse, type Json } from './httpExchange.js';

export interface PlatformServerOptions {
  /**
   * Relay each verified provider event of a deployment's call to its gateway over the control
   * connection (default true: a real provider connection sends to one URL, this platform's).
   * Tests whose simulator also posts to the gateway's tunnel turn it off to count each event once.
   */
  relayWebhooks?: boolean;
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
  /** Wall clock minus monotonic clock (wallClockStep.ts); tests step it to model a clock set after the start. */
  clockOffsetMs?: () => number;
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
  /** Looking for the provider's call record after a hang-up (Settlement: a window of minutes by default; tests shorten it). */
  cdr?: { attempts?: number; backoffMs?: number; maxWaiting?: number };
  /**
   * Resuming the settlements a stop cut short (SettlementSweep): between passes (default 60 s),
   * before trying again one the store did not answer (default 5 s). Tests shorten them.
   */
  settlementSweep?: { intervalMs?: number; retryMs?: number };
  /** Between telling the gateway a cap is reached and hanging up its calls (default 1 s). */
  capGoodbyeMs?: number;
  /**
   * A call the platform hung up (a cap, a disabled deployment) whose hang-up event has not come is
   * checked with the provider this long after (default 60 s), `attempts` times at most (default 3; HungUpCalls).
   */
  hungUpCheck?: { afterMs?: number; attempts?: number };
  /** Between two passes looking for outgoing calls nobody owns whose watch died with its process (default 60 s; UnownedDials). */
  unownedDialSweepMs?: number;
  /** Live calls at the provider no existing deployment owns (its store lost them): passes (default 60 s), and the age a call must have (default 120 s; OwnerlessCalls). */
  ownerlessCalls?: { sweepMs?: number; graceMs?: number; unreservedAfterMs?: number };
  /** Between two checks of whether Redis keeps its data across a restart (default 60 s; PersistenceWatch). */
  persistenceCheckMs?: number;
  /** Waits before trying again a hang-up at a cap (or of a disabled deployment) the provider failed (default 1, 5, 30 s). */
  capHangupRetryMs?: readonly number[];
  /** An answered call whose media stream stopped and did not start again within this is ended here (default 30 s; StreamlessCalls). */
  streamlessGraceMs?: number;
  /** A dial reservation no call was locked with (its process died mid-dial) is given back once this old (default 2 min; LiveCallAudit). */
  orphanReservationGraceMs?: number;
  /** Install tokens and the bundles they point at (src/platform/installTokens). */
  install?: InstallRoutesOptions;
  /** Ping interval of the gateways' control connections (default 15 s). */
  controlHeartbeatMs?: number;
  /**
   * Delivery of relayed events and cap notices to gateways connected to other platform processes
   * (src/platform/bus); default: Redis pub/sub when redisUrl is set, else none (one process).
   */
  controlBus?: ControlBus;
  /**
   * How long what comes about a call before its call.initiated has landed waits for it: a
   * gateway's request (default SIGNAL_CALL_WAIT_MS) and a later webhook (WEBHOOK_CALL_WAIT_MS).
   */
  callWaitMs?: { signalling?: number; webhook?: number };
}

/** Inside the gateway's 5 s request timeout, with room for the provider's answer after it. */
export const SIGNAL_CALL_WAIT_MS = 2_500;

const BIND_HOST = '127.0.0.1';
const DEFAULT_BODY_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

const DEFAULT_CAP_GOODBYE_MS = 1_000;
const STORE_READY_TIMEOUT_MS = 2_000;
/**
 * At a stop, what is still open this long after the HTTP connections were ended (an upgrade
 * socket, a peer that never closes its side) is destroyed: a stop must not wait on a peer.
 * Long enough for a refusal already written to reach its client.
 */
const STOP_GRACE_MS = 1_000;
/** Past its record's window, a settlement still in the index is one nobody runs: this much later. */
const SETTLEMENT_STALE_MARGIN_MS = 60_000;
const AUDITED_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.AUTH,
  ErrorCodes.STORE_DATA_LOST,
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
  readonly #refusals: RefusalLog;
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
  readonly #settlementSweep: SettlementSweep;
  readonly #audit: LiveCallAudit;
  readonly #hungUpCalls: HungUpCalls;
  readonly #recordings: CallRecordings;
  readonly #deletedPerPass: number;
  /** A deployment's pass stopping live recordings, while it runs (#stopLiveRecordings). */
  readonly #recordingStops = new Map<string, Promise<number>>();
  readonly #operator: OperatorContext;
  readonly #dashboard: DashboardContext;
  /** A deployment's own dashboard: its sessions and one-time sign-in links (customerDashboard.ts). */
  readonly #customer: CustomerDashboardContext;
  readonly #selfService: SelfServiceContext;
  /** The gateway's requests about its calls: answer, dial, relayed actions, usage reports (signallingRoutes.ts). */
  readonly #signalling: SignallingContext;
  readonly #capActions: CapActions;
  /** Which call each live reservation is for: to end calls at a cap, and to audit them. */
  readonly #reservations = new ReservationCalls();
  readonly streamless: StreamlessCalls;
  readonly #webhooks: ProviderWebhooks;
  /** `GET /metrics` (admin token). */
  readonly metrics = new PlatformMetrics();
  /** Outgoing calls still unlocked after the dial deadline: hung up (a dial whose process died before its lock). */
  readonly #unownedDials: UnownedDials;
  readonly #ownerlessCalls: OwnerlessCalls;
  /** Checks a deployment's control connections against the store (closed when it is gone, disabled or rotated). */
  readonly #recheck: (deploymentId: string) => void;
  /** Whether Redis keeps its data across a restart; null on the embedded store (its journal is on disk). */
  readonly #persistence: PersistenceWatch | null;
  #server: Server | null = null;
  #stopping: Promise<void> | null = null;
  #sockets: ReadonlySet<Socket> = new Set();

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
    this.#refusals = new RefusalLog(this.#log, { maxKinds: 256 });
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
    this.install = new InstallRoutes(this.deployments, options.webhookPublicKeyBase64, { logger: this.#log, ...options.install, ...(installStore ? { store: installStore } : {}) });
    const store = (this.#store = options.capStore ?? createCapStore(options.redisUrl ?? null, options.stateJournal));
    this.caps = new CapEnforcer({
      store,
      logger: this.#log,
      ...(options.capUnitMs !== undefined ? { unitMs: options.capUnitMs } : {}),
      onCapReached: (deploymentId, reason, reservationId) => {
        this.#background('ending calls at the cap', this.#capActions.endCalls(deploymentId, reason));
        // Live until its hang-up is done: one the provider already ended, its hang-up event lost, is settled from its record.
        void this.#audit.check(deploymentId, reservationId);
      },
      onDataLost: () => this.#dataLost(),
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
      ...(options.cdr?.maxWaiting !== undefined ? { cdrMaxWaiting: options.cdr.maxWaiting } : {}),
    });
    this.#settlementSweep = new SettlementSweep({
      store: this.calls.store,
      settlement: this.#settlement,
      logger: this.#log,
      staleAfterMs: cdrWindowMs(options.cdr?.attempts ?? DEFAULT_CDR_ATTEMPTS, options.cdr?.backoffMs ?? DEFAULT_CDR_BACKOFF_MS) + SETTLEMENT_STALE_MARGIN_MS,
      ...(options.settlementSweep?.intervalMs !== undefined ? { intervalMs: options.settlementSweep.intervalMs } : {}),
      ...(options.settlementSweep?.retryMs !== undefined ? { retryMs: options.settlementSweep.retryMs } : {}),
    });
    this.#audit = new LiveCallAudit({
      provider: this.#provider,
      calls: this.calls,
      settlement: this.#settlement,
      reservations: this.#reservations,
      caps: this.caps,
      ...(options.orphanReservationGraceMs !== undefined ? { orphanGraceMs: options.orphanReservationGraceMs } : {}),
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
      knownCapState: (id) => this.#capActions.knownState(id),
      bus: options.controlBus ?? createControlBus(options.redisUrl ?? null, this.#log),
      onUsage: (deployment, callId, duration) => acceptUsage(this.#signalling, deployment, callId, duration),
    });
    this.#hungUpCalls = new HungUpCalls({
      calls: this.calls,
      audit: this.#audit,
      logger: this.#log,
      ...(options.hungUpCheck?.afterMs !== undefined ? { checkAfterMs: options.hungUpCheck.afterMs } : {}),
      ...(options.hungUpCheck?.attempts !== undefined ? { attempts: options.hungUpCheck.attempts } : {}),
    });
    this.#capActions = new CapActions({
      onHungUp: (deploymentId, callId) => this.#hungUpCalls.hungUp(deploymentId, callId),
      caps: this.caps,
      calls: this.calls,
      deployments: this.deployments,
      control: this.control,
      provider: this.#provider,
      reservations: this.#reservations,
      logger: this.#log,
      goodbyeMs: options.capGoodbyeMs ?? DEFAULT_CAP_GOODBYE_MS,
      ...(options.capHangupRetryMs ? { hangupRetryMs: options.capHangupRetryMs } : {}),
    });
    // Changed through another platform process on the same store: re-check this process's connections.
    const recheck = (this.#recheck = (id: string): void => {
      // Pending upgrades too: one authenticated before the change would otherwise be registered after it.
      if (!this.control.watches(id)) return;
      // A store that cannot answer now tells nothing: the connections stay (fail-closed checks happen per request).
      void this.deployments.get(id).then((current) => this.control.revokeStale(id, current), () => undefined);
    });
    this.deployments.store.onStoredChange?.(recheck);
    // Change messages published while the subscription was down are lost (pub/sub): every deployment held here is re-checked.
    this.deployments.store.onChangesMayBeMissed?.(() => {
      for (const id of this.control.watchedDeployments()) recheck(id);
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
      // Tagged with the admin token: sessions opened under a token since replaced end (they may outlive a restart in Redis).
      sessions: new DashboardSessions({ store: this.#dashboardStore, now: this.#now, ...(this.#adminTokenDigest ? { tag: sessionTag(this.#adminTokenDigest) } : {}) }),
      calls: this.calls,
      playback: new RecordingPlayback({
        dir: options.recordingsDir ?? null,
        allowedOrigins: recordingOrigins,
        freshUrl: (legId) => this.#provider.recordingDownloadUrl(legId),
        logger: this.#log,
        now: this.#now,
      }),
      log: this.#log,
      refusals: this.#refusals,
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
      refusals: this.#refusals,
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
    this.#signalling = {
      calls: this.calls,
      callWaitMs: options.callWaitMs?.signalling ?? SIGNAL_CALL_WAIT_MS,
      provider: this.#provider,
      connectionId: this.#connectionId,
      approvedTunnelHost: (host) => this.deployments.isApprovedTunnelHost(host),
      caps: this.caps,
      capActions: this.#capActions,
      reservations: this.#reservations,
      ledger: this.ledger,
      settlement: this.#settlement,
      recordings: this.#recordings,
      streamless: this.streamless,
      background: (what, work) => this.#background(what, work),
      bodyTimeoutMs: this.#bodyTimeoutMs,
      log: this.#log,
    };
    const persistence = this.#store.persistence?.bind(this.#store);
    this.#persistence = persistence
      ? new PersistenceWatch({ check: persistence, logger: this.#log, ...(options.persistenceCheckMs !== undefined ? { intervalMs: options.persistenceCheckMs } : {}) })
      : null;
    this.#unownedDials = new UnownedDials({
      calls: this.calls,
      provider: this.#provider,
      claims: this.#replay,
      // Past the longest a dial (on any process with these settings) can wait for the provider, then lock.
      graceMs: this.#provider.commandDeadlineMs + LOCK_MARGIN_MS,
      now: this.#now,
      log: this.#log,
      onOutcome: (outcome) => this.metrics.unownedDial(outcome),
      ...(options.unownedDialSweepMs !== undefined ? { sweepMs: options.unownedDialSweepMs } : {}),
    });
    this.#ownerlessCalls = new OwnerlessCalls({
      connectionId: this.#connectionId,
      provider: this.#provider,
      calls: this.calls,
      hasDeployment: async (id) => (await this.deployments.get(id)) !== undefined,
      reservation: (deploymentId, reservationId) => this.caps.reservation(deploymentId, reservationId),
      claims: this.#replay,
      now: this.#now,
      log: this.#log,
      ...options.ownerlessCalls,
    });
    this.#webhooks = new ProviderWebhooks({
      publicKey: this.#publicKey,
      bodyTimeoutMs: this.#bodyTimeoutMs,
      now: this.#now,
      replay: this.#replay,
      // A replay cache in this process starts empty at each start: refuse what was signed before it.
      notBeforeMs: this.#replay.kind === 'memory' ? this.#now() : null,
      ...(options.clockOffsetMs ? { clockOffsetMs: options.clockOffsetMs } : {}),
      calls: this.calls,
      deployments: this.deployments,
      streamless: this.streamless,
      settlement: this.#settlement,
      recordings: this.#recordings,
      reservations: this.#reservations,
      log: this.#log,
      // Each event reaches the platform only (one URL per provider connection): passed on to its gateway.
      ...(options.relayWebhooks === false ? {} : { relay: (deploymentId: string, signed: SignedBody) => void this.control.relayWebhook(deploymentId, signed.signature, signed.timestamp, signed.body) }),
      ...(options.callWaitMs?.webhook !== undefined ? { callWaitMs: options.callWaitMs.webhook } : {}),
      unownedDials: this.#unownedDials,
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
      revokeInstallTokens: (id, reason) => this.install.service.revokeOutstanding(id, reason),
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

  /** Rotation from the vault (src/platform/vault/ProviderKeyRefresher.ts): provider requests use `key` from now on. */
  rotateProviderApiKey(key: string): void {
    this.#provider.rotateApiKey(key);
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
    this.#sockets = trackSockets(server);
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
    await this.install.ready();
    // A networked store connects in the background: wait for it (bounded) so the first calls are
    // not refused as "store unreachable" while Redis is still connecting; if it stays away the
    // platform starts degraded (fail closed, /readyz says so).
    const busReady = this.control.bus.ready?.(STORE_READY_TIMEOUT_MS) ?? Promise.resolve(true);
    const [caps, deployments, calls, limits, replay] = await Promise.all(
      [this.#store, this.deployments.store, this.calls.store, this.#limiter.store, this.#replay].map((store) => store.ready?.(STORE_READY_TIMEOUT_MS) ?? true),
    );
    if (!caps || !deployments || !calls || !limits || !replay) {
      this.#log.warn({ code: ErrorCodes.STORE_UNAVAILABLE, caps, deployments, calls, limits, replay }, 'store not reachable at start: new calls are refused until it is');
    }
    // Waited for alongside the stores: an unreachable Redis costs the start one bounded wait, not two.
    if (!(await busReady)) {
      this.#log.warn({ code: ErrorCodes.STORE_UNAVAILABLE }, 'control bus not connected at start: gateways connected to other platform processes miss what this one relays until it is');
    }
    if (caps) this.#background('redis eviction check', this.#warnIfEvicting());
    if (deployments) this.#background('stored deployments check', this.#warnStoredDeployments());
    // At start and then periodically (a Redis reconfigured, a failover to a replica set up otherwise).
    this.#persistence?.start();
    // Calls that ended before a stop and were never billed: resumed in the background (retried while the store is away).
    this.#settlementSweep.start();
    // Unowned dials whose watch died with another process (UnownedDials: a pass a minute over the history index).
    this.#unownedDials.start();
    // Live calls whose record or deployment the store lost: no cap would ever end them (OwnerlessCalls).
    this.#ownerlessCalls.start();
    this.#log.info({ port, host: BIND_HOST }, 'platform listening');
    return { port };
  }

  /**
   * The store lost its data: flagged on /metrics, and every control connection is checked again,
   * so a gateway whose deployment went with it is told now (closed, then refused saying why).
   */
  #dataLost(): void {
    this.metrics.storeDataLost();
    this.deployments.storeLost();
    for (const id of this.control.watchedDeployments()) this.#recheck(id);
  }

  /** A Redis that may evict keys loses minutes used without the data-loss marker noticing: said at start. */
  async #warnIfEvicting(): Promise<void> {
    const risk = await this.#store.evictionRisk?.().catch(() => null);
    if (!risk) return;
    this.#log.error(
      { code: ErrorCodes.CONFIG, ...risk },
      'Redis may evict keys when full (maxmemory with a policy other than noeviction): minute counters, live reservations and webhook replay marks can vanish, granting minutes afresh; set maxmemory-policy noeviction (docs/platform-storage.md)',
    );
  }

  /**
   * Once at start, for what was stored before a rule that now refuses it (kept, so nobody is locked out):
   * a policy that a shared code's stricter meaning cut off from the area of one of the deployment's own
   * numbers, with the prefixes to add (dialPolicyReach.ts); a tunnel host several deployments share (tunnelHostOwners.ts).
   */
  async #warnStoredDeployments(): Promise<void> {
    const deployments = await this.deployments.list();
    for (const deployment of deployments) warnUnreachedAreas(this.#log, deployment);
    warnSharedTunnelHosts(this.#log, deployments);
  }

  /** Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const server = this.#server;
    this.caps.close();
    // Cap-ending rounds stop waiting: their calls stay live in the store, ended at the next refused top-up.
    this.#capActions.close();
    this.streamless.close();
    this.control.close();
    this.#settlementSweep.close();
    this.#persistence?.close();
    this.#hungUpCalls.close();
    this.#settlement.close();
    const unownedChecks = Promise.all([this.#unownedDials.close(), this.#ownerlessCalls.close()]);
    const closed = server
      ? closeWithin(server, this.#sockets, STOP_GRACE_MS, (open) => {
          this.#log.warn({ sockets: open, graceMs: STOP_GRACE_MS }, 'platform stop: sockets still open after the stop grace, destroyed');
        })
      : Promise.resolve();
    this.#stopping = closed.then(async () => {
      await unownedChecks;
      this.#provider.close();
      this.#refusals.close();
      return Promise.all([
        this.#store.close(), this.control.bus.close(), this.deployments.store.close?.(), this.calls.store.close(), this.ledger.store.close(), this.#limiter.store.close(), this.#restartBudget.store.close(), this.#replay.close(), this.#dashboardStore.close(),
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
      const gateway = this.#gatewayRequest(ctx);
      if (await handleSignallingRoute(this.#signalling, gateway, req, res, method, url)) return;
      switch (path) {
        case '/healthz':
          allowMethod(method, 'GET', ctx);
          return sendJson(req, res, 200, { ok: true });
        case '/readyz':
          allowMethod(method, 'GET', ctx);
          return await this.#ready(req, res);
        case '/metrics': {
          allowMethod(method, 'GET', ctx);
          this.#requireAdmin(req);
          const { contentType, body } = await this.metrics.text();
          return writeResponse(req, res, 200, body, { 'content-type': contentType });
        }
        case '/v1/provider/webhooks':
          allowMethod(method, 'POST', ctx);
          return await this.#webhooks.handle(req, res, ctx);
        default:
          if (await handleSelfServiceRoute(this.#selfService, gateway, req, res, method, url)) return;
          if (await handleCustomerRoute({ ...this.#customer, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, url)) return;
          if (await handleDashboardRoute({ ...this.#dashboard, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, path)) return;
          if (await handleOperatorRoute({ ...this.#operator, allow: (m, a) => allowMethod(m, a, ctx) }, req, res, method, url)) return;
          throw new TtmaError(ErrorCodes.NOT_FOUND, 'no such route', 404);
      }
    } catch (err) {
      this.#refuse(req, res, err, method, path, ctx);
    }
  }

  /** The per-request half of the gateway's routes (signalling and self-service): this request's authentication and record. */
  #gatewayRequest(ctx: RequestContext): SignallingRequest {
    return {
      authenticate: (req, restartOf = null, liveList = false) => this.#authenticate(req, ctx, restartOf, liveList),
      allow: (m, a) => allowMethod(m, a, ctx),
      noteCall: (callId) => {
        ctx.callId = callId;
      },
    };
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

  readonly #installTools = {
    requireAdmin: (req: IncomingMessage) => this.#requireAdmin(req),
    readJson: (req: IncomingMessage) => this.#readJson(req),
    send: (req: IncomingMessage, res: ServerResponse, status: number, body: unknown) => sendJson(req, res, status, body),
  };

  // ---- recording switch, readiness ----

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
    const body = { ok: !degraded, store: state.kind, degraded, data_lost: state.dataLost, reason: state.reason ?? recordsReason, since: state.since };
    // A loss is not an outage: it does not pass by itself, and the operator has to act.
    const error = state.dataLost
      ? { code: ErrorCodes.STORE_DATA_LOST, message: `the store lost its data: new calls are refused, live calls are hung up once 2 minutes old. ${DATA_LOST_REMEDY}` }
      : { code: ErrorCodes.STORE_UNAVAILABLE, message: 'store unreachable: new calls are refused, live calls continue' };
    sendJson(req, res, degraded ? 503 : 200, degraded ? { ...body, error } : body);
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
    // Bounded per kind (a refusal is anyone's to repeat): the path is cut, a flood is summarised.
    const fields = { ...(audit ? { audit: true } : {}), method: method.slice(0, 16), path: path.slice(0, LOGGED_PATH_CHARS), status, code, deployment: ctx.deploymentId, callId: ctx.callId };
    // The caller hung up first (a race any busy day has): an outcome, at info; one per call of an authenticated gateway.
    if (code === ErrorCodes.CALL_ENDED) this.#log.info(fields, `call already ended: ${message}`);
    else this.#refusals.write(`${status} ${code} ${ctx.deploymentId ?? '-'}`, level, fields, `refused: ${message}`, { ...(audit ? { audit: true } : {}), status, code, deployment: ctx.deploymentId });
    const answered = err instanceof StoreUnavailableError ? err.publicMessage : message;
    const body: PlatformErrorBody = { error: { code, message: answered } };
    sendJson(req, res, status, body, headers);
  }
}

/** How much of a refused request's path its log line keeps (a path may be 16 KB). */
const LOGGED_PATH_CHARS = 200;

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
