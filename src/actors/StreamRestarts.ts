/**
 * New media streams for calls whose socket was lost mid-call (docs/control.md,
 * "A media socket lost mid-call"): the ControlActor's calls, the timers that
 * bound them, and the requests to the platform. The ControlActor owns the
 * calls; this owns when and how often a new stream is asked for.
 *
 * - A socket closed without the provider's `stop` is lost: the ControlActor
 *   asks `restart(call, 'lost')` once the call's worker confirms it.
 * - Each request mints a fresh one-time token (FAQ-07) and asks the platform
 *   for `streaming_start` to `/v1/media/<call id>`.
 * - The provider's `streaming.failed` (the tunnel not back yet): `retryLater`
 *   asks again after 0.5 s, then 1 s.
 * - The platform's 429 (a rate limit, every call restarting at once): asked
 *   again after a random 0.25 to 1.25 s, costing no restart.
 * - Bounds: MAX_STREAM_RESTARTS a call, and the 5 s orphan timer from the
 *   loss; a refused request ends the call at once.
 */
import type { SignallingClient } from '../control/SignallingClient.js';
import { ErrorCodes, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';

/** After the media socket closes, wait this long for call.hangup (or a restarted stream) before hanging up ourselves. */
export const ORPHAN_GRACE_MS = 5_000;
/** A call whose media socket is lost mid-call (no `stop`) gets a new stream this many times at most. */
export const MAX_STREAM_RESTARTS = 3;
/** A restarted stream that did not connect is asked for again after this, doubled each time. */
const RESTART_RETRY_BASE_MS = 500;

export type RestartWhy = 'lost' | 'not_connected' | 'paced';

/** What a restart reads and writes of a live call. */
export interface RestartableCall {
  readonly callId: string;
  readonly state: string;
  readonly socket: unknown;
  readonly log: Logger;
  readonly record: { stream_restarts: number };
  orphanTimer: NodeJS.Timeout | null;
  /** New streams asked for after the media socket was lost (at most MAX_STREAM_RESTARTS). */
  streamRestarts: number;
}

export interface StreamRestartsDeps<Cause extends string> {
  signalling: Pick<SignallingClient, 'streamingStart'>;
  tokens: { issue(callId: string, nowMs: number): string; revokeCall(callId: string): void };
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
}

export class StreamRestarts<Cause extends string> {
  readonly #deps: StreamRestartsDeps<Cause>;

  constructor(deps: StreamRestartsDeps<Cause>) {
    this.#deps = deps;
  }

  /** Whether a lost socket of this call may still get a new stream. */
  mayRestart(call: RestartableCall): boolean {
    return call.streamRestarts < MAX_STREAM_RESTARTS;
  }

  /** A call without a media socket ends after ORPHAN_GRACE_MS unless a stream lands (`landed`) or a hang-up comes. */
  armOrphanTimer(call: RestartableCall, reason: string, cause: Cause): void {
    call.orphanTimer = setTimeout(() => void this.#deps.endCall(call.callId, reason, cause), ORPHAN_GRACE_MS);
    call.orphanTimer.unref();
  }

  /** A media socket landed for the call: a wait for it is over. */
  landed(call: RestartableCall): void {
    if (!call.orphanTimer) return;
    clearTimeout(call.orphanTimer);
    call.orphanTimer = null;
    if (call.streamRestarts > 0) this.#deps.counters.streamRestartsLanded++;
    call.log.info({ restarts: call.streamRestarts }, 'media stream restarted');
  }

  /**
   * Ask the provider, through the platform, for a new stream to the same call
   * with a fresh one-time token (FAQ-07). The orphan timer set at the loss
   * still bounds the wait; a refused request ends the call at once.
   */
  async restart(call: RestartableCall, why: RestartWhy): Promise<void> {
    if (this.#over(call) || call.socket) return;
    call.streamRestarts++;
    call.record.stream_restarts = call.streamRestarts;
    this.#deps.counters.streamRestarts++;
    this.#deps.asked[why] = (this.#deps.asked[why] ?? 0) + 1;
    const { tokens, signalling, publicHost, codec } = this.#deps;
    const token = tokens.issue(call.callId, Date.now());
    const streamUrl = `wss://${publicHost}/v1/media/${encodeURIComponent(call.callId)}`;
    call.log.warn({ restart: call.streamRestarts, why }, why === 'lost' ? 'media socket lost mid-call: asking for a new stream' : 'asking for a new media stream again');
    try {
      await signalling.streamingStart(call.callId, { stream_url: streamUrl, stream_auth_token: token, codec });
    } catch (err) {
      tokens.revokeCall(call.callId);
      if (isTtmaError(err, ErrorCodes.RATE_LIMITED) && this.#askAgainWhenPaced(call)) return;
      this.#deps.counters.streamRestartsFailed++;
      call.log.error({ err: (err as Error).message }, 'new media stream refused');
      await this.#deps.endCall(call.callId, 'media stream lost and not restarted', this.#deps.mediaClosedCause);
    }
  }

  /**
   * The provider could not connect the call's stream (the tunnel may be
   * reconnecting): ask again after 0.5 s (1 s once two were asked), as long as
   * restarts are left. A 5 s deadline bounds the whole: the orphan timer of a
   * lost socket, or one set here for a stream that never connected. False
   * when no restart is left.
   */
  retryLater(call: RestartableCall, reason: string): boolean {
    if (this.#over(call) || call.socket || !this.mayRestart(call)) return false;
    if (!call.orphanTimer) this.armOrphanTimer(call, reason, this.#deps.streamingFailedCause);
    const delayMs = RESTART_RETRY_BASE_MS * 2 ** Math.max(0, call.streamRestarts - 1);
    call.log.warn({ reason, retryInMs: delayMs }, 'the new media stream did not connect: trying again');
    setTimeout(() => void this.restart(call, 'not_connected'), delayMs).unref();
    return true;
  }

  /**
   * A rate limit refused the restart: a tunnel that reconnects loses every
   * live call's socket at once, and their restarts come together. Not the
   * call's fault, so it costs no restart: ask again after a random 0.25 to
   * 1.25 s (spread, so the retries do not come together again), as long as
   * the call's 5 s deadline runs. False when there is no deadline.
   */
  #askAgainWhenPaced(call: RestartableCall): boolean {
    if (this.#over(call) || !call.orphanTimer) return false;
    call.streamRestarts--;
    call.record.stream_restarts = call.streamRestarts;
    const delayMs = Math.round(250 + Math.random() * 1_000);
    call.log.warn({ retryInMs: delayMs }, 'the platform paced the new media stream (rate limit): asking again');
    setTimeout(() => void this.restart(call, 'paced'), delayMs).unref();
    return true;
  }

  #over(call: RestartableCall): boolean {
    return call.state === 'ending' || this.#deps.closing();
  }
}
