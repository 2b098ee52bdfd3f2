/**
 * The gateway's door for provider webhooks (FAQ-05, FAQ-06): signature and
 * timestamp verified before any JSON parsing, then shape-checked, then the
 * replay cache (event id and signature digest) so a captured event cannot be
 * re-sent. The cache lives in this process, so a signature made before the
 * process started is refused too (503, as the provider retries a 5xx with a
 * fresh signature): a restart does not reopen the window. No key: every
 * webhook is refused with 503 (fail closed).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { ErrorCodes, type ErrorCode } from '../errors.js';
import { ReplayCache } from '../wire/ReplayCache.js';
import { WEBHOOK_TOLERANCE_SEC, type WebhookEnvelope } from '../wire/telnyx.js';
import { notBeforeSecOf, verifyWebhookSignature, type WebhookRefusal } from '../wire/webhookSignature.js';

export type WebhookOutcome =
  | { status: 200; duplicate: false; envelope: WebhookEnvelope }
  | { status: 200; duplicate: true }
  | { status: 400 | 401 | 503; code: ErrorCode; reason: WebhookRefusal | 'malformed' };

const REFUSAL: Record<WebhookRefusal, { status: 401 | 503; code: ErrorCode }> = {
  no_key: { status: 503, code: ErrorCodes.WEBHOOK_NO_KEY },
  missing_headers: { status: 401, code: ErrorCodes.WEBHOOK_SIGNATURE },
  bad_timestamp: { status: 401, code: ErrorCodes.WEBHOOK_STALE },
  stale: { status: 401, code: ErrorCodes.WEBHOOK_STALE },
  bad_signature_encoding: { status: 401, code: ErrorCodes.WEBHOOK_SIGNATURE },
  bad_signature: { status: 401, code: ErrorCodes.WEBHOOK_SIGNATURE },
  signed_before_start: { status: 503, code: ErrorCodes.WEBHOOK_REPLAY },
};

export interface WebhookGateOptions {
  /** When this process's replay memory began (the gateway's start); omitted only by tests that check one delivery at a fixed time. */
  startedAtMs?: number;
}

export class WebhookGate {
  readonly #publicKey: KeyObject | null;
  readonly #replay = new ReplayCache(2 * WEBHOOK_TOLERANCE_SEC * 1000);
  readonly #notBeforeSec: number | undefined;
  /** When this gate's replay memory began, if it refuses what was signed before (a test models the gate with it). */
  readonly startedAtMs: number | undefined;
  readonly counters: Record<string, number> = {};

  constructor(publicKey: KeyObject | null, options: WebhookGateOptions = {}) {
    this.#publicKey = publicKey;
    this.startedAtMs = options.startedAtMs;
    this.#notBeforeSec = options.startedAtMs === undefined ? undefined : notBeforeSecOf(options.startedAtMs);
  }

  get hasKey(): boolean {
    return this.#publicKey !== null;
  }

  check(signatureHeader: string | undefined, timestampHeader: string | undefined, rawBody: Buffer, nowMs: number): WebhookOutcome {
    const outcome = this.#check(signatureHeader, timestampHeader, rawBody, nowMs);
    const label = outcome.status === 200 ? (outcome.duplicate ? 'duplicate' : 'accepted') : outcome.reason;
    this.counters[label] = (this.counters[label] ?? 0) + 1;
    return outcome;
  }

  #check(signatureHeader: string | undefined, timestampHeader: string | undefined, rawBody: Buffer, nowMs: number): WebhookOutcome {
    const verdict = verifyWebhookSignature({
      publicKey: this.#publicKey,
      signatureHeader,
      timestampHeader,
      rawBody,
      nowSec: Math.floor(nowMs / 1000),
      ...(this.#notBeforeSec === undefined ? {} : { notBeforeSec: this.#notBeforeSec }),
    });
    if (!verdict.ok) return { ...REFUSAL[verdict.reason], reason: verdict.reason };
    let envelope: WebhookEnvelope;
    try {
      envelope = JSON.parse(rawBody.toString('utf8')) as WebhookEnvelope;
    } catch {
      return { status: 400, code: ErrorCodes.WEBHOOK_MALFORMED, reason: 'malformed' };
    }
    const data = envelope?.data;
    if (!data || typeof data.id !== 'string' || typeof data.event_type !== 'string' || !data.payload || typeof data.payload !== 'object') {
      return { status: 400, code: ErrorCodes.WEBHOOK_MALFORMED, reason: 'malformed' };
    }
    const sigKey = `sig:${createHash('sha256').update(verdict.signature).digest('hex')}`;
    const seenSig = this.#replay.checkAndRemember(sigKey, nowMs);
    const seenId = this.#replay.checkAndRemember(`id:${data.id}`, nowMs);
    if (seenSig || seenId) return { status: 200, duplicate: true };
    return { status: 200, duplicate: false, envelope };
  }
}
