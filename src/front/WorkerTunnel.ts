/**
 * A media worker's own tunnel-facing listener (DESIGN 4, fourth option): every
 * worker listens on the same port (uSockets sets SO_REUSEPORT, so the kernel
 * spreads connections over the workers), and a call's media socket is owned by
 * the worker it landed on: its frames reach the call's actor on this thread,
 * with no hop through the main thread.
 *
 * Everything that is a decision stays on the main thread: webhooks are read
 * here (limits, timeout) and forwarded whole to be verified there; a media
 * upgrade is held until main has consumed its token and placed the call on
 * this worker. The routes and their checks are the shared `mountTunnelRoutes`.
 */
import type { FromWorker } from '../actors/messages.js';
import { closeReason } from '../wire/closeReason.js';
import { CorkAnchor } from './CorkAnchor.js';
import { mountTunnelRoutes, type FrontLog, type MediaSocketHandle, type MediaVerdict, type WebhookAnswer } from './tunnelRoutes.js';
import { closeAppConnections, uws, type TemplatedApp, type us_listen_socket } from './uws.js';

/** A pending answer from main that never comes (main is stopping): the request fails rather than hangs. */
const ANSWER_TIMEOUT_MS = 10_000;

export interface WorkerTunnelOptions {
  post(message: FromWorker): void;
  webhookReadTimeoutMs: number;
  mediaFramesPerSecond: number;
  mediaFrameBurst: number;
  /** One inbound text frame for the call in `slot`; `frame` is valid only during the call. */
  onFrame(slot: number, frame: ArrayBuffer): void;
}

interface Pending<T> {
  resolve(value: T): void;
  timer: NodeJS.Timeout;
}

export class WorkerTunnel {
  readonly #options: WorkerTunnelOptions;
  readonly #sockets = new Map<number, MediaSocketHandle>();
  readonly #webhooks = new Map<number, Pending<WebhookAnswer>>();
  readonly #verdicts = new Map<number, Pending<MediaVerdict>>();
  #nextId = 1;
  #listen: us_listen_socket | null = null;
  #app: TemplatedApp | null = null;
  readonly #anchor = new CorkAnchor();
  #anchorMissingLogged = false;

  constructor(options: WorkerTunnelOptions) {
    this.#options = options;
  }

  /** Listen on host:port (0: a free port, for the first worker); resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    await this.#anchor.open();
    const post = this.#options.post;
    const log: FrontLog = {
      warn: (fields, msg) => post({ type: 'log', level: 'warn', msg, fields }),
      error: (fields, msg) => post({ type: 'log', level: 'error', msg, fields }),
    };
    const app = uws.App();
    this.#app = app;
    mountTunnelRoutes(app, {
      log,
      webhookReadTimeoutMs: this.#options.webhookReadTimeoutMs,
      mediaFramesPerSecond: this.#options.mediaFramesPerSecond,
      mediaFrameBurst: this.#options.mediaFrameBurst,
      closeConnections: true,
      webhook: (signature, timestamp, body) =>
        this.#ask(this.#webhooks, { status: '503 Service Unavailable', json: '{"error":{"code":"TTMA_ERR_WORKER","message":"no answer"}}' }, (id) =>
          post({ type: 'webhook', id, signature, timestamp, body }),
        ),
      corkForLateUpgrade: (res, complete) => {
        if (this.#anchor.run(complete)) return;
        // Not expected (the anchor is a loopback request held for the thread's life): fall back to
        // the response's own cork, which is right for all but a few percent of upgrades.
        if (!this.#anchorMissingLogged) log.error({}, 'cork anchor lost: late upgrades use their own cork');
        this.#anchorMissingLogged = true;
        res.cork(complete);
      },
      authorizeMedia: (callId, token) => this.#ask(this.#verdicts, { ok: false, reason: 'unavailable' }, (id) => post({ type: 'media.authorize', id, callId, token })),
      mediaOpen: (ws) => {
        const { slot } = ws.getUserData();
        this.#sockets.set(slot, ws);
        post({ type: 'media.opened', slot });
      },
      mediaFrame: (slot, message) => this.#options.onFrame(slot, message),
      mediaClosed: (ws) => {
        const { slot } = ws.getUserData();
        if (this.#sockets.get(slot) === ws) this.#sockets.delete(slot);
        post({ type: 'media.socket.closed', slot });
      },
      mediaAbuse: (slot, reason) => post({ type: 'media.abuse', slot, reason }),
      count: (counter, key) => post({ type: 'front.count', counter, key }),
    });
    return new Promise((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (!socket) {
          // The thread exits next: it must not hold the anchor's sockets then (see closeAll).
          this.#anchor.close();
          return reject(new Error(`cannot listen on ${host}:${port}`));
        }
        this.#listen = socket;
        resolve(uws.us_socket_local_port(socket as never));
      });
    });
  }

  /** A text frame toward the phone; false when the call has no socket here. */
  send(slot: number, text: string): boolean {
    const ws = this.#sockets.get(slot);
    if (!ws) return false;
    ws.cork(() => ws.send(text, false));
    return true;
  }

  end(slot: number, code: number, reason: string): void {
    const ws = this.#sockets.get(slot);
    if (!ws) return;
    this.#sockets.delete(slot);
    ws.end(code, closeReason(reason));
  }

  answerWebhook(id: number, answer: WebhookAnswer): void {
    this.#settle(this.#webhooks, id, answer);
  }

  answerMedia(id: number, verdict: MediaVerdict): void {
    this.#settle(this.#verdicts, id, verdict);
  }

  /** Stop accepting connections; open sockets stay until their calls end. */
  closeListener(): void {
    if (this.#listen) uws.us_listen_socket_close(this.#listen);
    this.#listen = null;
  }

  /**
   * Release every socket: this uWS build aborts the whole process when a
   * thread exits with a uWS socket open, so the worker calls this before it
   * exits. On shutdown each socket gets a close frame (`code`, `reason`) and
   * the thread exits when the last has closed; after a crash (`code` null)
   * they are cut at once, as the thread exits right after: the calls' sockets
   * and every other connection of the app too (one accepted but with its
   * request not yet read whole, a held upgrade or webhook). One of those left
   * open aborted the whole gateway when a worker crashed under load.
   */
  closeAll(code: number | null, reason = ''): void {
    this.closeListener();
    this.#anchor.close();
    for (const ws of [...this.#sockets.values()]) {
      if (code === null) ws.close();
      else ws.end(code, closeReason(reason));
    }
    this.#sockets.clear();
    if (code !== null || !this.#app) return;
    closeAppConnections(this.#app);
    this.#app = null;
  }

  #ask<T>(pending: Map<number, Pending<T>>, fallback: T, send: (id: number) => void): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(fallback);
      }, ANSWER_TIMEOUT_MS);
      pending.set(id, { resolve, timer });
      send(id);
    });
  }

  #settle<T>(pending: Map<number, Pending<T>>, id: number, value: T): void {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(value);
  }
}
