/**
 * The platform's end of the gateways' outbound control connections
 * (src/wire/controlChannel.ts): authenticates each upgrade with the
 * deployment's agent secret (the registry's constant-time check), pushes cap
 * notices to a deployment's connections, and takes the gateway's usage
 * reports. The gateway dials out; nothing here ever connects to a gateway.
 *
 * With several platform processes on one Redis, a gateway's connection lands on one of them: what
 * is pushed to a deployment's gateways (relayed events, cap notices) is also published on the
 * control bus (bus/ControlBus.ts), and what another process published is delivered here to the
 * connections this process holds.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { RefusalLog } from '../RefusalLog.js';
import { RelayBacklog, type RelayBacklogOptions } from './RelayBacklog.js';
import { MemoryControlBus, type ControlBus } from './bus/ControlBus.js';
import type { BusControlMessage } from './bus/busMessage.js';
import { HEADER_DEPLOYMENT } from '../wire/platformApi.js';
import {
  CLOSE_REVOKED,
  CONTROL_MAX_PAYLOAD,
  CONTROL_PATH,
  type CapState,
  type PlatformControlMessage,
} from '../wire/controlChannel.js';
import { CALL_ID_PATTERN } from './allowlists.js';
import { ReplyRation } from './ReplyRation.js';
import type { Deployment, DeploymentRegistry } from './DeploymentRegistry.js';
import type { DeploymentRateLimiter } from './DeploymentRateLimiter.js';

export interface ControlHubOptions {
  deployments: DeploymentRegistry;
  /** The signalling proxy's per-deployment limiter: control messages share its budget. */
  limiter: DeploymentRateLimiter;
  log: Logger;
  /** Ping interval; a connection that misses a whole interval is dropped (default 15 s). */
  heartbeatMs?: number;
  /** Connections kept per deployment; the oldest goes when a newer one arrives (default 4). */
  maxPerDeployment?: number;
  capState(deploymentId: string): Promise<CapState>;
  /** The cap state when it can be read now, else null (a re-send says nothing then); default: capState. */
  knownCapState?(deploymentId: string): Promise<CapState | null>;
  /** Checks and records a usage report and returns its flags; throws a TtmaError to refuse it. */
  onUsage(deployment: Deployment, callId: string, durationMs: unknown): Promise<string[]>;
  /** Bounds of the webhooks held for a deployment with no connection open (RelayBacklog's defaults). */
  relayBacklog?: RelayBacklogOptions;
  /** Other platform processes on the same Redis (default: none, one process). The caller closes it. */
  bus?: ControlBus;
}

interface Connection {
  deployment: Deployment;
  /** Set by a pong only: a peer that sends but never reads what we send is not alive. */
  alive: boolean;
  /** Frames taken but not yet answered (limiter, usage store): past a bound, the socket is not read. */
  inFlight: number;
  replies: ReplyRation;
}

/** An authenticated upgrade not yet registered: a revocation landing meanwhile marks it. */
interface PendingUpgrade {
  deployment: Deployment;
  revoked: string | null;
}

const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_PER_DEPLOYMENT = 4;
/**
 * What may wait to be sent to one connection (ws `bufferedAmount`: past the
 * kernel's socket buffer). An honest gateway reads its few small messages at
 * once; a peer that does not read is cut here rather than growing the
 * platform's heap for every tenant.
 */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** Frames of one connection being processed at once; past it the socket is paused (TCP backpressure). */
const MAX_IN_FLIGHT = 32;
const CLOSE_UNSUPPORTED = 1003;
const CLOSE_POLICY = 1008;
const CLOSE_REPLACED = 4409;
const RATE_LIMITED_REPLY = 'rate limit reached for this deployment: slow down and retry';
/** How a relayed event's JSON text starts (its `type` is written first), to count it apart from cap notices. */
const RELAYED_EVENT_PREFIX = '{"type":"provider.event"';

export class ControlHub {
  readonly #options: ControlHubOptions;
  readonly #log: Logger;
  readonly #refusals: RefusalLog;
  readonly #wss: WebSocketServer;
  readonly #byDeployment = new Map<string, Set<WebSocket>>();
  readonly #connections = new Map<WebSocket, Connection>();
  readonly #pending = new Map<string, Set<PendingUpgrade>>();
  /** Sockets of upgrades not yet handed to ws nor refused: close() destroys them (see handleUpgrade). */
  readonly #upgrading = new Set<Duplex>();
  readonly #heartbeatMs: number;
  readonly #timer: NodeJS.Timeout;
  /**
   * `unansweredRefusals`: refused frames not answered (ReplyRation); `queueOverflows`: connections cut for not reading;
   * `busDelivered`: sends of messages another process published; `busHeld`: such messages held for an upgrade under way.
   */
  readonly counters = { accepted: 0, refused: 0, noticesSent: 0, usageReports: 0, unansweredRefusals: 0, queueOverflows: 0, webhooksRelayed: 0, webhooksHeld: 0, busDelivered: 0, busHeld: 0 };
  /** Relayed webhooks waiting for a deployment with no connection open here. */
  readonly backlog: RelayBacklog;
  /** What this process pushes goes to the others too; theirs arrives here. */
  readonly bus: ControlBus;
  /**
   * Deployments whose connections here were last told "capped" (a `hello`, `cap.state` or
   * `cap.reached`, from here or the bus): their state is read and sent again each heartbeat until
   * it says not capped. Notices from two processes (or two reads in flight in one) can arrive out
   * of order, a "capped" read before the operator raised the cap landing after the raise's
   * "not capped"; the gateway would keep refusing calls until the cap's period ended.
   */
  readonly #toldCapped = new Set<string>();
  /** Re-reads in flight: a slow store is not asked again for the same deployment meanwhile. */
  readonly #rereading = new Set<string>();
  #closed = false;

  constructor(options: ControlHubOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#refusals = new RefusalLog(options.log);
    this.backlog = new RelayBacklog(options.relayBacklog);
    this.bus = options.bus ?? new MemoryControlBus();
    this.bus.onMessage((deploymentId, message) => this.#fromBus(deploymentId, message));
    this.bus.onSubscribed?.(() => this.#resendCapStates());
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: CONTROL_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    this.#timer = setInterval(() => this.#heartbeat(), this.#heartbeatMs);
    this.#timer.unref();
  }

  /** Open connections, of one deployment or in all. */
  connections(deploymentId?: string): number {
    return deploymentId === undefined ? this.#connections.size : (this.#byDeployment.get(deploymentId)?.size ?? 0);
  }

  /** True while the deployment has an open connection or an authenticated upgrade not yet registered. */
  watches(deploymentId: string): boolean {
    return this.#byDeployment.has(deploymentId) || this.#pending.has(deploymentId);
  }

  /** Deployments with an open connection or an authenticated upgrade under way here. */
  watchedDeployments(): string[] {
    return [...new Set([...this.#byDeployment.keys(), ...this.#pending.keys()])];
  }

  /** The node:http server's 'upgrade' event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Until ws or a refusal owns it, nothing else would end this socket: node's http server is
    // allowHalfOpen (a client that gives up only half-closes it), closeAllConnections() skips
    // upgrades, and server.close() waits for every socket. One left open held a stop forever.
    this.#upgrading.add(socket);
    void this.#upgrade(req, socket, head).catch((err: unknown) => {
      this.counters.refused++;
      const refusal = isTtmaError(err) ? err : new TtmaError(ErrorCodes.PLATFORM, 'internal error', 500);
      const audit = refusal.code === ErrorCodes.AUTH || refusal.code === ErrorCodes.STORE_DATA_LOST || refusal.code === ErrorCodes.DEPLOYMENT_DISABLED || refusal.code === ErrorCodes.RATE_LIMITED;
      const fields = { ...(audit ? { audit: true } : {}), path: CONTROL_PATH, status: refusal.status, code: refusal.code };
      this.#refusals.write(`${refusal.status} ${refusal.code}`, 'warn', fields, `control connection refused: ${refusal.message}`, fields);
      refuseUpgrade(socket, refusal);
    }).finally(() => this.#upgrading.delete(socket));
  }

  /** True when a notice for the deployment may reach a gateway: one connected here, or maybe to another process. */
  reaches(deploymentId: string): boolean {
    return this.bus.shared || this.watches(deploymentId);
  }

  /**
   * Sends to every connection of the deployment held here, and publishes it for the connections other
   * platform processes hold; returns how many got it here.
   */
  notify(deploymentId: string, message: BusControlMessage): number {
    if (this.#closed) return 0;
    this.#noteCapNotice(deploymentId, message);
    const sent = this.#sendAll(deploymentId, JSON.stringify(message));
    this.bus.publish(deploymentId, message);
    return sent;
  }

  #sendAll(deploymentId: string, text: string): number {
    const sockets = this.#byDeployment.get(deploymentId);
    if (!sockets) return 0;
    let sent = 0;
    for (const ws of [...sockets]) if (this.#sendText(ws, text)) sent++;
    this.counters.noticesSent += sent;
    return sent;
  }

  /**
   * Published by another process: delivered to the connections held here. The publishing process
   * holds a relayed event that found no connection there in its own backlog; a copy is held here only
   * for an upgrade under way (it goes right after that connection's hello). A deployment with neither
   * here is not ours to hold for: every process would otherwise keep a copy of every event.
   */
  #fromBus(deploymentId: string, message: BusControlMessage): void {
    if (this.#closed) return;
    const text = JSON.stringify(message);
    if (this.#byDeployment.has(deploymentId)) {
      this.#noteCapNotice(deploymentId, message);
      const sent = this.#sendAll(deploymentId, text);
      this.counters.busDelivered += sent;
      if (message.type === 'provider.event') this.counters.webhooksRelayed += sent;
    } else if (this.#pending.has(deploymentId) && this.backlog.hold(deploymentId, text, Date.now())) {
      this.counters.busHeld++;
    }
  }

  /**
   * The bus was subscribed again: a cap state another process published meanwhile is lost, and a
   * gateway told "capped" would refuse every new call until the cap's period ends. Each deployment
   * connected here is sent its state as read now (here only: every process does the same).
   */
  #resendCapStates(): void {
    for (const deploymentId of [...this.#byDeployment.keys()]) void this.#sendCapStateNow(deploymentId);
  }

  /** The deployment's cap state as read now, to its connections here; a store that cannot answer says nothing. */
  #sendCapStateNow(deploymentId: string): Promise<void> {
    const read = this.#options.knownCapState ?? this.#options.capState;
    return read(deploymentId).then(
      (capState) => {
        if (!capState || this.#closed) return;
        const message: BusControlMessage = { type: 'cap.state', cap_state: capState };
        this.#noteCapNotice(deploymentId, message);
        this.#sendAll(deploymentId, JSON.stringify(message));
      },
      () => undefined,
    );
  }

  /** Keeps #toldCapped: what the deployment's connections here were last told. */
  #noteCapNotice(deploymentId: string, message: BusControlMessage | PlatformControlMessage): void {
    const capped = message.type === 'cap.reached' ? true : message.type === 'cap.state' || message.type === 'hello' ? message.cap_state.capped : null;
    if (capped === true) this.#toldCapped.add(deploymentId);
    // A `hello` speaks for one connection only: the others may still hold an older "capped".
    else if (capped === false && message.type === 'cap.state') this.#toldCapped.delete(deploymentId);
  }

  /**
   * Each heartbeat: the deployments told "capped" here are sent their state as read now, so a
   * stale "capped" lasts a heartbeat at most. Only those: a stale "not capped" costs nothing, the
   * platform refuses the call anyway and sends the state then. A store that cannot answer says nothing.
   */
  #resendToCapped(): void {
    for (const deploymentId of [...this.#toldCapped]) {
      if (!this.#byDeployment.has(deploymentId)) {
        this.#toldCapped.delete(deploymentId);
        continue;
      }
      if (this.#rereading.has(deploymentId)) continue;
      this.#rereading.add(deploymentId);
      void this.#sendCapStateNow(deploymentId).finally(() => this.#rereading.delete(deploymentId));
    }
  }

  /**
   * A verified provider webhook for the deployment's gateway, relayed byte for byte with the
   * provider's signature headers (the provider sends each event to one URL, this platform's).
   * Published for the connections of other processes too (notify). No connection open here: held
   * for the next one (RelayBacklog), since this process cannot know whether another delivered it; a
   * copy sent twice is harmless, the gateway's replay cache drops it by event id. Returns how many
   * got it here now.
   */
  relayWebhook(deploymentId: string, signature: string, timestamp: string, body: Buffer): number {
    const message: BusControlMessage = { type: 'provider.event', signature, timestamp, body_base64: body.toString('base64') };
    const sent = this.#closed ? 0 : this.notify(deploymentId, message);
    this.counters.webhooksRelayed += sent;
    if (sent === 0 && !this.#closed && this.backlog.hold(deploymentId, JSON.stringify(message), Date.now())) this.counters.webhooksHeld++;
    return sent;
  }

  /** The deployment's identity changed (secret rotated, disabled): its connections end now. */
  revoke(deploymentId: string, reason: string): void {
    for (const pending of this.#pending.get(deploymentId) ?? []) pending.revoked = reason;
    const sockets = this.#byDeployment.get(deploymentId);
    if (!sockets) return;
    this.#log.info({ audit: true, deployment: deploymentId, connections: sockets.size }, `control connections closed: ${reason}`);
    for (const ws of [...sockets]) this.#cut(ws, CLOSE_REVOKED, reason.slice(0, 100));
  }

  /**
   * A deployment changed somewhere (another platform process on the same store): close the
   * connections whose identity no longer holds: deployment gone or disabled, or secret rotated.
   */
  revokeStale(deploymentId: string, current: Deployment | undefined): void {
    for (const pending of this.#pending.get(deploymentId) ?? []) pending.revoked ??= staleReason(pending.deployment, current);
    const sockets = this.#byDeployment.get(deploymentId);
    if (!sockets) return;
    for (const ws of [...sockets]) {
      const held = this.#connections.get(ws)?.deployment;
      if (!held) continue;
      const reason = staleReason(held, current);
      if (!reason) continue;
      this.#log.info({ audit: true, deployment: deploymentId }, `control connection closed: ${reason} (changed by another platform process)`);
      this.#cut(ws, CLOSE_REVOKED, reason);
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#refusals.close();
    for (const ws of [...this.#connections.keys()]) ws.terminate();
    // Upgrades still being checked (store round trips): cut now, never registered by a stopping hub.
    for (const socket of this.#upgrading) socket.destroy();
    this.#upgrading.clear();
    this.#wss.close();
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.#closed) throw new TtmaError(ErrorCodes.PLATFORM, 'platform stopping', 503);
    const url = req.url ?? '';
    // Exact path, and no query: credentials travel in headers only.
    if (url !== CONTROL_PATH) {
      throw new TtmaError(ErrorCodes.NOT_FOUND, url.startsWith(`${CONTROL_PATH}?`) ? 'the control path takes no query' : 'no such route', url.startsWith(`${CONTROL_PATH}?`) ? 400 : 404);
    }
    const claimed = req.headers[HEADER_DEPLOYMENT];
    const bearer = /^Bearer ([\x21-\x7e]+)$/i.exec(typeof req.headers.authorization === 'string' ? req.headers.authorization : '');
    const deployment = await this.#options.deployments.authenticate(typeof claimed === 'string' ? claimed : undefined, bearer?.[1]);
    if (!(await this.#options.limiter.take(deployment.id))) {
      throw new TtmaError(ErrorCodes.RATE_LIMITED, RATE_LIMITED_REPLY, 429);
    }
    const capState = await this.#options.capState(deployment.id);
    // The identity was checked some store round trips ago: a rotation or disable since then found
    // no connection to close. Read it again, and stay visible to revoke/revokeStale while reading
    // (their change may land after this read was sent) until the socket is registered.
    const pending: PendingUpgrade = { deployment, revoked: null };
    this.#track(pending);
    try {
      const current = await this.#options.deployments.get(deployment.id);
      const reason = staleReason(deployment, current) ?? pending.revoked;
      if (reason) {
        throw reason === 'deployment disabled'
          ? new TtmaError(ErrorCodes.DEPLOYMENT_DISABLED, `deployment ${deployment.id} is disabled by the operator`, 403)
          : new TtmaError(ErrorCodes.AUTH, `authentication failed: ${reason} during the upgrade`, 401);
      }
      if (socket.destroyed || this.#closed) {
        // Not left for the peer to close: server.close() (the platform's stop) waits for this socket.
        socket.destroy();
        return;
      }
      // ws completes a valid upgrade synchronously: the socket is registered before `pending` is dropped.
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        if (pending.revoked) ws.close(CLOSE_REVOKED, pending.revoked);
        else this.#accept(ws, deployment, capState);
      });
    } finally {
      this.#untrack(pending);
    }
  }

  #accept(ws: WebSocket, deployment: Deployment, capState: CapState): void {
    this.counters.accepted++;
    const sockets = this.#byDeployment.get(deployment.id) ?? new Set<WebSocket>();
    this.#byDeployment.set(deployment.id, sockets);
    sockets.add(ws);
    this.#connections.set(ws, { deployment, alive: true, inFlight: 0, replies: new ReplyRation() });
    if (sockets.size > (this.#options.maxPerDeployment ?? DEFAULT_MAX_PER_DEPLOYMENT)) {
      const oldest = sockets.values().next().value as WebSocket;
      this.#cut(oldest, CLOSE_REPLACED, 'replaced by a newer control connection');
    }
    ws.on('pong', () => this.#markAlive(ws));
    ws.on('message', (data, isBinary) => this.#onMessage(ws, data, isBinary));
    ws.on('close', () => this.#forget(ws));
    ws.on('error', () => ws.terminate());
    this.#log.info({ deployment: deployment.id, connections: sockets.size }, 'gateway control connection open');
    const hello: PlatformControlMessage = { type: 'hello', deployment: deployment.id, cap_state: capState, heartbeat_ms: this.#heartbeatMs };
    this.#noteCapNotice(deployment.id, hello);
    this.#send(ws, hello);
    // Webhooks that came while no connection was open, oldest first (the gateway's replay cache drops any it has).
    // (A cap notice another process published during the upgrade waits there too.)
    for (const text of this.backlog.take(deployment.id, Date.now())) {
      if (this.#sendText(ws, text) && text.startsWith(RELAYED_EVENT_PREFIX)) this.counters.webhooksRelayed++;
    }
  }

  #onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    const connection = this.#connections.get(ws);
    // Forgotten (revoked, replaced, cut) or closing: nothing it sends is taken as the deployment's any more.
    if (!connection || ws.readyState !== ws.OPEN) return;
    if (isBinary) {
      this.#cut(ws, CLOSE_UNSUPPORTED, 'control messages are JSON text');
      return;
    }
    connection.inFlight++;
    if (connection.inFlight >= MAX_IN_FLIGHT && !ws.isPaused) ws.pause();
    void this.#handle(ws, connection, data).finally(() => {
      connection.inFlight--;
      if (ws.isPaused && connection.inFlight < MAX_IN_FLIGHT / 2 && this.#connections.get(ws) === connection) ws.resume();
    });
  }

  async #handle(ws: WebSocket, connection: Connection, data: RawData): Promise<void> {
    const { deployment } = connection;
    const allowed = await this.#options.limiter.take(deployment.id);
    if (this.#connections.get(ws) !== connection) return;
    if (!allowed) {
      // A refused usage report is named, so the gateway sends it again later rather than at its next reconnect.
      const callId = usageCallId(data);
      this.#refuse(ws, connection, { type: 'error', code: ErrorCodes.RATE_LIMITED, message: RATE_LIMITED_REPLY, ...(callId ? { call_control_id: callId } : {}) });
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(rawText(data));
    } catch {
      this.#cut(ws, CLOSE_POLICY, 'control message is not JSON');
      return;
    }
    const fields = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    if (fields['type'] !== 'usage') {
      this.#refuse(ws, connection, { type: 'error', code: ErrorCodes.BAD_REQUEST, message: 'unknown control message type' });
      return;
    }
    const callId = fields['call_control_id'];
    const duration = fields['duration_ms'];
    if (typeof callId !== 'string' || !CALL_ID_PATTERN.test(callId)) {
      this.#refuse(ws, connection, { type: 'error', code: ErrorCodes.BAD_REQUEST, message: 'usage needs a well-formed call_control_id' });
      return;
    }
    this.counters.usageReports++;
    try {
      const flags = await this.#options.onUsage(deployment, callId, duration);
      this.#send(ws, { type: 'usage.ack', call_control_id: callId, ok: true, flags });
    } catch (err: unknown) {
      const refusal = isTtmaError(err) ? err : new TtmaError(ErrorCodes.PLATFORM, 'internal error', 500);
      this.#log.warn({ deployment: deployment.id, callId, code: refusal.code }, `usage report refused: ${refusal.message}`);
      this.#send(ws, { type: 'usage.ack', call_control_id: callId, ok: false, code: refusal.code, message: refusal.message });
    }
  }

  /**
   * An `error` answer, rationed per connection (ReplyRation) unless it names a usage report: a flood
   * of refused frames is not answered frame by frame.
   */
  #refuse(ws: WebSocket, connection: Connection, reply: Extract<PlatformControlMessage, { type: 'error' }>): void {
    if (reply.call_control_id === undefined && !connection.replies.take(reply.message)) {
      this.counters.unansweredRefusals++;
      return;
    }
    this.#send(ws, reply);
  }

  #send(ws: WebSocket, message: PlatformControlMessage): boolean {
    return this.#sendText(ws, JSON.stringify(message));
  }

  /** Sends unless the connection is closing or has more than MAX_QUEUED_BYTES waiting: then it is cut. */
  #sendText(ws: WebSocket, text: string): boolean {
    if (ws.readyState !== ws.OPEN) return false;
    if (ws.bufferedAmount + Buffer.byteLength(text) > MAX_QUEUED_BYTES) {
      const deployment = this.#connections.get(ws)?.deployment.id ?? null;
      this.counters.queueOverflows++;
      const fields = { audit: true, deployment, queuedBytes: ws.bufferedAmount, limitBytes: MAX_QUEUED_BYTES };
      this.#refusals.write('control queue full', 'warn', fields, 'control connection cut: the gateway does not read what the platform sends', { audit: true });
      this.#cut(ws, CLOSE_POLICY, 'not reading: too much queued for this control connection');
      // Nothing more goes into a queue nobody drains (the close frame above waits behind it anyway).
      ws.terminate();
      return false;
    }
    ws.send(text);
    return true;
  }

  /** Forgets the connection at once (its frames are ignored from now), then closes it. */
  #cut(ws: WebSocket, code: number, reason: string): void {
    this.#forget(ws);
    ws.close(code, reason);
  }

  #track(pending: PendingUpgrade): void {
    const id = pending.deployment.id;
    const set = this.#pending.get(id) ?? new Set<PendingUpgrade>();
    this.#pending.set(id, set);
    set.add(pending);
  }

  #untrack(pending: PendingUpgrade): void {
    const id = pending.deployment.id;
    const set = this.#pending.get(id);
    set?.delete(pending);
    if (set?.size === 0) this.#pending.delete(id);
  }

  #markAlive(ws: WebSocket): void {
    const connection = this.#connections.get(ws);
    if (connection) connection.alive = true;
  }

  #forget(ws: WebSocket): void {
    const connection = this.#connections.get(ws);
    if (!connection) return;
    this.#connections.delete(ws);
    const sockets = this.#byDeployment.get(connection.deployment.id);
    sockets?.delete(ws);
    if (sockets?.size === 0) this.#byDeployment.delete(connection.deployment.id);
    this.#log.info({ deployment: connection.deployment.id }, 'gateway control connection closed');
  }

  #heartbeat(): void {
    this.#resendToCapped();
    for (const [ws, connection] of this.#connections) {
      if (!connection.alive) {
        ws.terminate();
        this.#forget(ws);
        continue;
      }
      connection.alive = false;
      ws.ping();
    }
  }
}

/** Why a connection authenticated as `held` no longer speaks for the deployment, or null. */
function staleReason(held: Deployment, current: Deployment | undefined): string | null {
  if (!current) return 'deployment removed';
  if (current.disabled) return 'deployment disabled';
  return current.agentSecretSha256.equals(held.agentSecretSha256) ? null : 'agent secret rotated';
}

/** The call id of a well-formed usage report, else null. */
function usageCallId(data: RawData): string | null {
  let message: unknown;
  try {
    message = JSON.parse(rawText(data));
  } catch {
    return null;
  }
  if (typeof message !== 'object' || message === null) return null;
  const fields = message as Record<string, unknown>;
  const callId = fields['call_control_id'];
  return fields['type'] === 'usage' && typeof callId === 'string' && CALL_ID_PATTERN.test(callId) ? callId : null;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

function refuseUpgrade(socket: Duplex, err: TtmaError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = REASONS[err.status] ? err.status : 500;
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Internal Server Error'}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'cache-control: no-store\r\nconnection: close\r\n\r\n' +
      body,
  );
}
