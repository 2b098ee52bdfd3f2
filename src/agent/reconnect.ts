/**
 * Connecting an agent socket again after it was lost mid-call (a server that
 * restarts, a session that hit its length limit): after 0.25 s, 1 s, then
 * every 2 s, until 10 s after the loss. The adapter says what one attempt is;
 * this says when, and gives up at the deadline or once the call has ended.
 * Across losses, agentReconnects.ts says whether to start at all.
 */

export interface ReconnectSchedule {
  /** Waits before each attempt; the last repeats. */
  delaysMs: readonly number[];
  /** No attempt starts later than this after the loss. */
  deadlineMs: number;
  /** A socket lost within this long of going live counts as broken by the agent (agentReconnects.ts; default QUICK_LOSS_MS). */
  quickLossMs?: number;
  /** That many such losses in a row end the reconnecting for the call (default MAX_QUICK_LOSSES). */
  maxQuickLosses?: number;
}

export const DEFAULT_RECONNECT: ReconnectSchedule = { delaysMs: [250, 1_000, 2_000], deadlineMs: 10_000 };

export type ReconnectOutcome = { ok: true; attempts: number } | { ok: false; attempts: number; ended: boolean };

/**
 * Runs `attempt` on the schedule until one resolves; `ended()` true stops it (the call is over).
 * `fromStep`: the first wait is the schedule's wait at this step (the backoff grows with losses in a row).
 */
export async function reconnect(schedule: ReconnectSchedule, attempt: () => Promise<void>, ended: () => boolean, fromStep = 0): Promise<ReconnectOutcome> {
  const deadline = performance.now() + schedule.deadlineMs;
  for (let n = 0; ; n++) {
    const delay = schedule.delaysMs[Math.min(fromStep + n, schedule.delaysMs.length - 1)] ?? 1_000;
    if (performance.now() + delay >= deadline) return { ok: false, attempts: n, ended: false };
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
    if (ended()) return { ok: false, attempts: n, ended: true };
    try {
      await attempt();
    } catch {
      if (ended()) return { ok: false, attempts: n + 1, ended: true };
      continue;
    }
    return { ok: true, attempts: n + 1 };
  }
}
