/**
 * The gateway's door for provider webhooks (FAQ-05, FAQ-06): signature and
 * timestamp verified before any JSON parsing, then shape-checked, then the
 * replay cache (event id and signature digest) so a captured event cannot be
 * re-sent, each identity kept until its signature is stale (its signed
 * timestamp plus the tolerance): at a steady rate that is half as many as
 * keeping each for the whole window from its arrival. A cache full of
 * identities still within their window refuses the new event with 503 (the
 * provider retries it) rather than forget one (ReplayCache): fail closed.
 * The cache lives in this process, so a signature made before the
 * process started is refused too (503, as the provider retries a 5xx with a
 * fresh signature): a restart does not reopen the window. The start is kept
 * in the frame of the wall clock as it is now (WallClockStep): a clock stepped
 * after the start moves it along, so neither a box that booted behind reopens
 * the window nor one that booted ahead refuses every genuine event until its
 * clock catches up. No key: every webhook is refused with 503 (fail closed).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { ErrorCodes, type ErrorCode } from '../errors.js';
import { ReplayCache, ReplayCacheFullError } from '../wire/ReplayCache.js';
import { WEBHOOK_TOLERANCE_SEC, type WebhookEnvelope } from '../wire/telnyx.js';
import { WallClockStep } from '../wire/wallClockStep.js';
import { notBeforeSecOf, verifyWebhookSignature, type WebhookRefusal } from '../wire/webhookSignature.js';

export type WebhookOutcome =
  /** `identities`: what the replay cache now holds for it (`forget` them when handling fails). */
  | { status: 200; duplicate: false; envelope: WebhookEnvelope; identities: readonly string[] }
  | { status: 200; duplicate: true }
  | { status: 400 | 401 | 503; code: ErrorCode; reason: WebhookRefusal | 'malformed' | 'replay_full' };

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
  /** The replay cache's bound (DEFAULT_REPLAY_ENTRIES; tests fill a small one). */
  replayEntries?: number;
  /** Wall clock minus monotonic clock now (wallMinusMonotonicMs); tests step it to model a clock set after the start. */
  clockOffsetMs?: () => number;
}

/**
 * Two identities a webhook (its event id and its signature), each kept about 300 s: room for some
 * 330 verified webhooks a second, about 55 new calls a second at six webhooks a call; some 45 MB of
 * heap when full.
 */
export const DEFAULT_REPLAY_ENTRIES = 200_000;

export class WebhookGate {
  readonly #publicKey: KeyObject | null;
  // An identity is needed until its signed timestamp plus the tolerance, and a timestamp may be up to
  // the tolerance ahead of our clock: so never more than twice the tolerance (and two seconds) from now.
  readonly #replay: ReplayCache;
  /** Set with startedAtMs: how far the wall clock was stepped since, to keep the start in today's frame. */
  readonly #clockStep: WallClockStep | undefined;
  /** When this gate's replay memory began, if it refuses what was signed before (a test models the gate with it). */
  readonly startedAtMs: number | undefined;
  readonly counters: Record<string, number> = {};

  constructor(publicKey: KeyObject | null, options: WebhookGateOptions = {}) {
    this.#publicKey = publicKey;
    this.#replay = new ReplayCache((2 * WEBHOOK_TOLERANCE_SEC + 2) * 1000, options.replayEntries ?? DEFAULT_REPLAY_ENTRIES);
    this.startedAtMs = options.startedAtMs;
    this.#clockStep = options.startedAtMs === undefined ? undefined : new WallClockStep(options.clockOffsetMs);
  }

  /** The earliest signature second accepted now: the start, in the wall clock's frame of now. */
  #notBeforeSec(): number | undefined {
    if (this.startedAtMs === undefined || !this.#clockStep) return undefined;
    return notBeforeSecOf(this.startedAtMs + this.#clockStep.sinceStart());
  }

  /** Identities the replay cache holds now, and how many it can (a new event past that is refused, `replay_full`). */
  get replayEntries(): { held: number; max: number } {
    // Stale identities leave when read too: a quiet period after a peak shows, and frees, what they held.
    this.#replay.expire(Date.now());
    return { held: this.#replay.size, max: this.#replay.maxEntries };
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
    const notBeforeSec = this.#notBeforeSec();
    const verdict = verifyWebhookSignature({
      publicKey: this.#publicKey,
      signatureHeader,
      timestampHeader,
      rawBody,
      nowSec: Math.floor(nowMs / 1000),
      ...(notBeforeSec === undefined ? {} : { notBeforeSec }),
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
    const identities = [`sig:${createHash('sha256').update(verdict.signature).digest('hex')}`, `id:${data.id}`];
    // Past this the signature is stale: the verifier refuses it before the cache is asked.
    const staleAtMs = (verdict.timestampSec + WEBHOOK_TOLERANCE_SEC + 2) * 1000;
    try {
      if (this.#replay.check(identities, nowMs, staleAtMs)) return { status: 200, duplicate: true };
    } catch (err) {
      if (!(err instanceof ReplayCacheFullError)) throw err;
      return { status: 503, code: ErrorCodes.WEBHOOK_REPLAY, reason: 'replay_full' };
    }
    return { status: 200, duplicate: false, envelope, identities };
  }

  /**
   * An accepted event that could not be handled (answered 500): forget its identities, so the
   * provider's retry is handled rather than taken for a duplicate and dropped. A replay of the
   * captured delivery then passes once too, which is what the retry does anyway.
   */
  forget(outcome: { identities: readonly string[] }): void {
    for (const key of outcome.identities) this.#replay.forget(key);
    this.counters['handling_failed'] = (this.counters['handling_failed'] ?? 0) + 1;
  }
}
