/**
 * Signed webhook delivery (DESIGN.md section 3a).
 *
 * Each event is POSTed to every configured URL in order (the platform's first,
 * then the gateway's). Events of one call go through one queue, so a call's
 * events arrive in order. A destination with a delay gets each event that
 * late, beside the others rather than before them (a provider reaching one
 * receiver late: another hears of a call first); the call's next event still
 * waits for it. A delivery is retried on a network error, a timeout
 * or a 5xx, up to `attempts` times with a short backoff and `meta.attempt`
 * counting up; a 4xx is final. Each attempt is signed afresh:
 * `telnyx-signature-ed25519` = base64 Ed25519 over UTF-8 `${timestamp}|${rawBody}`,
 * `telnyx-timestamp` = Unix seconds.
 */
import http from 'node:http';
import type { Logger } from '../log.js';
import {
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  type CallPayload,
  type WebhookEnvelope,
  type WebhookEventType,
} from '../wire/telnyx.js';
import { DEFAULTS, TUNNEL_EDGE_IP } from './constants.js';
import { newRayId, newUuid } from './ids.js';
import { tunnelEdgeHeaders, type ResolvedTarget } from './Tunnels.js';
import type { WebhookSigner } from './WebhookSigner.js';

export interface WebhookDestination {
  /** The URL as configured (what `meta.delivered_to` says). */
  url: string;
  resolved: ResolvedTarget;
  /** Each event reaches this destination this long after the others (tests of a receiver that hears late). */
  delayMs?: number;
}

export interface WebhookSenderOptions {
  destinations: WebhookDestination[];
  signer: WebhookSigner;
  logger: Logger;
  attempts?: number;
  backoffMs?: readonly number[];
  timeoutMs?: number;
  /** Add the headers a Cloudflare tunnel edge adds when a URL goes through a tunnel. */
  tunnelHeaders?: boolean;
}

export interface DeliveryOutcome {
  url: string;
  ok: boolean;
  attempts: number;
  status: number | null;
  error?: string;
}

export interface WebhookStats {
  events: number;
  delivered: number;
  failed: number;
  attempts: number;
}

export interface SentEvent {
  envelope: WebhookEnvelope['data'];
  outcomes: DeliveryOutcome[];
}

export class WebhookSender {
  readonly #destinations: WebhookDestination[];
  readonly #signer: WebhookSigner;
  readonly #logger: Logger;
  readonly #attempts: number;
  readonly #backoffMs: readonly number[];
  readonly #timeoutMs: number;
  readonly #tunnelHeaders: boolean;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #inFlight = new Set<http.ClientRequest>();
  readonly #stats: WebhookStats = { events: 0, delivered: 0, failed: 0, attempts: 0 };
  #closed = false;

  constructor(options: WebhookSenderOptions) {
    this.#destinations = options.destinations;
    this.#signer = options.signer;
    this.#logger = options.logger;
    this.#attempts = options.attempts ?? DEFAULTS.webhookAttempts;
    this.#backoffMs = options.backoffMs ?? DEFAULTS.webhookBackoffMs;
    this.#timeoutMs = options.timeoutMs ?? DEFAULTS.webhookTimeoutMs;
    this.#tunnelHeaders = options.tunnelHeaders ?? true;
  }

  get stats(): WebhookStats {
    return { ...this.#stats };
  }

  /**
   * Queues an event behind the earlier events of the same queue (one per call).
   * `occurred_at` is taken now, not at delivery. Resolves once every URL has
   * been tried (never rejects).
   */
  send(queueKey: string, eventType: WebhookEventType, payload: CallPayload): Promise<SentEvent> {
    const data: WebhookEnvelope['data'] = {
      record_type: 'event',
      event_type: eventType,
      id: newUuid(),
      occurred_at: new Date().toISOString(),
      payload: { ...payload },
    };
    this.#stats.events++;
    const previous = this.#queues.get(queueKey) ?? Promise.resolve();
    const delivery = previous.then(() => this.#deliverAll(data));
    this.#queues.set(queueKey, delivery);
    void delivery.then(() => {
      if (this.#queues.get(queueKey) === delivery) this.#queues.delete(queueKey);
    });
    return delivery;
  }

  /** Resolves when the queue of `queueKey` is empty (or at once if there is none). */
  async drain(queueKey: string): Promise<void> {
    for (let guard = 0; guard < 1000; guard++) {
      const tail = this.#queues.get(queueKey);
      if (!tail) return;
      await tail;
    }
  }

  /** Waits for every queue, up to `timeoutMs`. */
  async idle(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.#queues.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Aborts deliveries in flight and frees sockets. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const req of this.#inFlight) req.destroy(new Error('webhook sender closed'));
    this.#inFlight.clear();
    this.#agent.destroy();
  }

  async #deliverAll(data: WebhookEnvelope['data']): Promise<SentEvent> {
    const outcomes: DeliveryOutcome[] = [];
    const late: Array<Promise<DeliveryOutcome>> = [];
    for (const destination of this.#destinations) {
      const delayMs = destination.delayMs ?? 0;
      if (delayMs > 0) late.push(sleep(delayMs).then(() => this.#deliver(data, destination)));
      else outcomes.push(await this.#deliver(data, destination));
    }
    outcomes.push(...(await Promise.all(late)));
    return { envelope: data, outcomes };
  }

  async #deliver(data: WebhookEnvelope['data'], destination: WebhookDestination): Promise<DeliveryOutcome> {
    let status: number | null = null;
    let error: string | undefined;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (this.#closed) {
        error = 'simulator stopped';
        break;
      }
      if (attempt > 1) await sleep(this.#backoffMs[attempt - 2] ?? this.#backoffMs[this.#backoffMs.length - 1] ?? 0);
      this.#stats.attempts++;
      const envelope: WebhookEnvelope = { data, meta: { attempt, delivered_to: destination.url } };
      const rawBody = JSON.stringify(envelope);
      try {
        status = await this.#post(destination, rawBody);
        error = undefined;
      } catch (err) {
        status = null;
        error = err instanceof Error ? err.message : String(err);
      }
      if (status !== null && status < 300) {
        this.#stats.delivered++;
        return { url: destination.url, ok: true, attempts: attempt, status };
      }
      // A 4xx is the receiver's final word (bad signature, unknown call...): no retry.
      if (status !== null && status < 500) break;
      this.#logger.debug(
        { event: data.event_type, eventId: data.id, url: destination.url, attempt, status, error },
        'webhook delivery failed, will retry if attempts remain',
      );
    }
    this.#stats.failed++;
    this.#logger.warn(
      { event: data.event_type, eventId: data.id, url: destination.url, status, error },
      'webhook not delivered',
    );
    const outcome: DeliveryOutcome = { url: destination.url, ok: false, attempts: this.#attempts, status };
    if (error !== undefined) outcome.error = error;
    return outcome;
  }

  async #post(destination: WebhookDestination, rawBody: string): Promise<number> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = await this.#signer.sign(Buffer.from(`${timestamp}|${rawBody}`, 'utf8'));
    const body = Buffer.from(rawBody, 'utf8');
    const { target, tunnelHost } = destination.resolved;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'ttma-sim (Telnyx model)',
      [HEADER_SIGNATURE]: signature.toString('base64'),
      [HEADER_TIMESTAMP]: timestamp,
    };
    if (tunnelHost && this.#tunnelHeaders) Object.assign(headers, tunnelEdgeHeaders(tunnelHost, TUNNEL_EDGE_IP, newRayId()));
    return await new Promise<number>((resolve, reject) => {
      const req = http.request(
        target,
        { method: 'POST', headers, agent: this.#agent, timeout: this.#timeoutMs },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      this.#inFlight.add(req);
      req.on('close', () => this.#inFlight.delete(req));
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
