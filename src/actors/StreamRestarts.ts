/**
 * New media streams for calls whose socket was lost mid-call (docs/control.md,
 * "A media socket lost mid-call"): the ControlActor's calls, the timers that
 * bound them, and the requests to the platform. The ControlActor owns the
 * calls; this owns when and how often a new stream is asked for.
 *
 * - A socket closed without the provider's `stop` is lost: the ControlActor
 *   asks `restart(call, 'lost')` once the call's worker confirms it. That
 *   starts an episode, which ends when a stream lands or its deadline passes.
 * - Each request mints a fresh one-time token (FAQ-07) and asks the platform
 *   for `streaming_start` to `/v1/media/<call id>`. An unused token of an
 *   earlier request stays valid beside it until a stream lands (its stream
 *   may still be connecting); a refused request's own token is revoked.
 * - The provider's `streaming.failed` (the tunnel not back yet): `retryLater`
 *   asks again after 0.5 s, 1 s, then every 2 s, until the episode's deadline
 *   (10 s from the loss). A failed answer stream starts an episode too. The
 *   ControlActor calls it only for a failure that may be about the stream
 *   asked for (StreamIds); as it may still be about another stream, the
 *   earlier request's token staying valid matters there.
 * - The platform's 429 (a rate limit, every call restarting at once): asked
 *   again after a random 0.25 to 1.25 s, costing nothing.
 * - Bounds: MAX_STREAM_LOSSES episodes a call, each within RESTREAM_DEADLINE_MS;
 *   a refused request ends the call at once.
 */
import type { SignallingClient } from '../control/SignallingClient.js';
import { ErrorCodes, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';

/** After the media socket closes, wait this long for call.hangup (or a restarted stream) before hanging up ourselves. */
export const ORPHAN_GRACE_MS = 5_000;
/** A call whose media socket is lost mid-call (no `stop`) gets new streams after this many losses at most. */
export const MAX_STREAM_LOSSES = 3;

const ASK_MESSAGES: Record<RestartWhy, string> = {
  lost: 'media socket lost mid-call: asking for a new stream',
  adopted: 'taken-over call: asking for a stream to this process',
  worker_lost: 'media worker lost with the call\'s socket: asking for a new stream to a live worker',
  not_connected: 'asking for a new media stream again',
  paced: 'asking for a new media stream again',
};

export interface RestartTiming {
  /**
   * A lost stream's episode ends this long after the loss if no new stream
   * landed (the call ends). 10 s: a cloudflared restart takes a few seconds,
   * and a caller would rather wait that than be cut off.
   */
  deadlineMs: number;
  /** A stream that did not connect is asked for again after this, doubled each time up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_RESTART_TIMING: RestartTiming = { deadlineMs: 10_000, retryBaseMs: 500, retryMaxMs: 2_000 };

/**
 * The schedule's clock: monotonic milliseconds and one-shot timers that keep no process alive.
 * Tests drive a manual one, so the backoff is checked step by step, not by a loaded box's late timers.
 */
export interface RestartClock {
  now(): number;
  /** Runs `fn` after `ms`; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const MONOTONIC_CLOCK: RestartClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * `adopted`: a live call taken over from an earlier gateway process, which has no stream to this one yet;
 * `worker_lost`: the media worker that owned the call's socket died. Each an episode, as a loss.
 */
export type RestartWhy = 'lost' | 'adopted' | 'worker_lost' | 'not_connected' | 'paced';

const EPISODE_REASONS: Partial<Record<RestartWhy, string>> = {
  lost: 'media stream lost and not restarted in time',
  adopted: 'taken-over call got no media stream in time',
  worker_lost: 'call of a lost media worker got no new stream in time',
};

/** What a restart reads and writes of a live call. */
export interface RestartableCall {
  readonly callId: string;
  readonly state: string;
  readonly socket: unknown;
  readonly log: Logger;
  readonly record: { stream_restarts: number };
  /** Cancels the pending end of a call without a media socket (armOrphanTimer); null when none is pending. */
  orphanTimer: (() => void) | null;
  /** New streams asked for, in all (`ttma calls`' stream_restarts). */
  streamRestarts: number;
  /** Episodes: losses (and failed answer streams) that led to new streams being asked for. */
  streamLosses: number;
  /** Requests in the current episode. */
  episodeAttempts: number;
  /** The clock's time (performance.now()) by which the current episode must have landed a stream. */
  episodeDeadline: number;
  /** A request asked again is due: another failure meanwhile adds none. */
  retryPending: boolean;
}

export interface StreamRestartsDeps<Cause extends string> {
  signalling: Pick<SignallingClient, 'streamingStart'>;
  tokens: { issueAnother(callId: string, nowMs: number): string; revoke(callId: string, token: string): void };
  /** The tokens' clock: monotonic milliseconds (performance.now unless the ControlActor's tests step it). */
  now?: () => number;
  publicHost: string;
  codec: string;
  /** Ends the call (and hangs it up at the provider). */
  endCall(callId: string, reason: string, cause: Cause): Promise<void>;
  /** The gateway is shutting down: nothing is asked for any more. */
  closing(): boolean;
  mediaClosedCause: Cause;
  streamingFailedCause: Cause;
  /** The ControlActor's counters (metrics read them there): new streams asked for, landed, refused. */
  counters: { streamRestarts: number; streamRestartsLanded: number; streamRestartsFailed: number };
  /** New streams asked for, by why (RestartWhy). */
  asked: Record<string, number>;
  /** Tests shorten it. */
  timing?: RestartTiming;
  /** The deadlines' and retries' clock (MONOTONIC_CLOCK unless a test steps it). */
  clock?: RestartClock;
}

export class StreamRestarts<Cause extends string> {
  readonly #deps: StreamRestartsDeps<Cause>;
  readonly #timing: RestartTiming;
  readonly #clock: RestartClock;

  constructor(deps: StreamRestartsDeps<Cause>) {
    this.#deps = deps;
    this.#timing = deps.timing ?? DEFAULT_RESTART_TIMING;
    this.#clock = deps.clock ?? MONOTONIC_CLOCK;
  }

  /** Whether a lost socket of this call may still get a new stream. */
  mayRestart(call: RestartableCall): boolean {
    return call.streamLosses < MAX_STREAM_LOSSES;
  }

  /** A call without a media socket ends after `ms` (ORPHAN_GRACE_MS) unless a stream lands (`landed`) or a hang-up comes. */
  armOrphanTimer(call: RestartableCall, reason: string, cause: Cause, ms = ORPHAN_GRACE_MS): void {
    call.orphanTimer?.();
    call.orphanTimer = this.#clock.after(ms, () => void this.#deps.endCall(call.callId, reason, cause));
  }

  /** A media socket landed for the call: a wait for it is over. */
  landed(call: RestartableCall): void {
    if (!call.orphanTimer) return;
    call.orphanTimer();
    call.orphanTimer = null;
    call.episodeAttempts = 0;
    if (call.streamRestarts > 0) this.#deps.counters.streamRestartsLanded++;
    call.log.info({ restarts: call.streamRestarts }, 'media stream restarted');
  }

  /**
   * Ask the provider, through the platform, for a new stream to the same call
   * with a fresh one-time token (FAQ-07). A loss starts an episode whose
   * deadline bounds the wait; a refused request ends the call at once.
   */
  async restart(call: RestartableCall, why: RestartWhy): Promise<void> {
    if (this.#over(call) || call.socket) return;
    const episode = EPISODE_REASONS[why];
    if (episode !== undefined) this.#beginEpisode(call, episode, this.#deps.mediaClosedCause);
    call.episodeAttempts++;
    call.streamRestarts++;
    call.record.stream_restarts = call.streamRestarts;
    this.#deps.counters.streamRestarts++;
    this.#deps.asked[why] = (this.#deps.asked[why] ?? 0) + 1;
    const { tokens, signalling, publicHost, codec } = this.#deps;
    // Beside any unused one: an earlier request's stream may still be connecting with it (a stream
    // that lands revokes the rest, MediaTokenStore).
    const token = tokens.issueAnother(call.callId, this.#deps.now?.() ?? performance.now());
    const streamUrl = `wss://${publicHost}/v1/media/${encodeURIComponent(call.callId)}`;
    call.log.warn({ restart: call.streamRestarts, why }, ASK_MESSAGES[why]);
    try {
      await signalling.streamingStart(call.callId, { stream_url: streamUrl, stream_auth_token: token, codec });
    } catch (err) {
      tokens.revoke(call.callId, token);
      if (isTtmaError(err, ErrorCodes.RATE_LIMITED) && this.#askAgainWhenPaced(call)) return;
      this.#deps.counters.streamRestartsFailed++;
      call.log.error({ err: (err as Error).message }, 'new media stream refused');
      await this.#deps.endCall(call.callId, 'media stream lost and not restarted', this.#deps.mediaClosedCause);
    }
  }

  /**
   * The provider could not connect the call's stream (the tunnel may be
   * reconnecting): ask again after 0.5 s, 1 s, then every 2 s, while the
   * episode's deadline allows. A stream that never connected (the answer's)
   * starts an episode here. False when the deadline or the losses are spent.
   */
  retryLater(call: RestartableCall, reason: string): boolean {
    if (this.#over(call) || call.socket) return false;
    // One request asked again at a time: it answers every failure reported meanwhile.
    if (call.retryPending) return true;
    if (!call.orphanTimer) {
      // The answer's own stream failed: an episode of its own.
      if (!this.mayRestart(call)) return false;
      this.#beginEpisode(call, reason, this.#deps.streamingFailedCause);
    }
    const { retryBaseMs, retryMaxMs } = this.#timing;
    const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.max(0, call.episodeAttempts - 1));
    // A request that could not land before the deadline only costs the provider a request.
    if (this.#clock.now() + delayMs >= call.episodeDeadline) return false;
    call.log.warn({ reason, retryInMs: delayMs }, 'the new media stream did not connect: trying again');
    call.retryPending = true;
    this.#clock.after(delayMs, () => {
      call.retryPending = false;
      void this.restart(call, 'not_connected');
    });
    return true;
  }

  /** A loss (or a failed answer stream): counted, and bounded by the deadline from now. */
  #beginEpisode(call: RestartableCall, reason: string, cause: Cause): void {
    call.streamLosses++;
    call.episodeAttempts = 0;
    call.episodeDeadline = this.#clock.now() + this.#timing.deadlineMs;
    this.armOrphanTimer(call, reason, cause, this.#timing.deadlineMs);
  }

  /**
   * A rate limit refused the restart: a tunnel that reconnects loses every
   * live call's socket at once, and their restarts come together. Not the
   * call's fault, so it costs no restart: ask again after a random 0.25 to
   * 1.25 s (spread, so the retries do not come together again), as long as
   * the episode's deadline runs. False when there is no deadline.
   */
  #askAgainWhenPaced(call: RestartableCall): boolean {
    if (this.#over(call) || !call.orphanTimer) return false;
    call.streamRestarts--;
    call.episodeAttempts--;
    call.record.stream_restarts = call.streamRestarts;
    const delayMs = Math.round(250 + Math.random() * 1_000);
    call.log.warn({ retryInMs: delayMs }, 'the platform paced the new media stream (rate limit): asking again');
    this.#clock.after(delayMs, () => void this.restart(call, 'paced'));
    return true;
  }

  #over(call: RestartableCall): boolean {
    return call.state === 'ending' || this.#deps.closing();
  }
}
