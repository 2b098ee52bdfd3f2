/**
 * How long the demo's broken calls talk (`--drop-streams`, `--kill-gateway`): until every
 * call's stream is seen back, then the rest of their length, not a fixed time. A busy box may
 * take seconds to start a gateway process or to ask again through a tunnel outage; a fixed
 * talk ended first, and the demo failed a gateway that did its job (docs/decisions.md,
 * `fix-flakes2` and `fix-flakes3`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimApi } from './demoStack.js';

const POLL_MS = 100;

interface CallStreams {
  callId: string;
  endedBy: string | null;
  streamsOpened?: number;
}

export interface TalkUntilBack {
  /** The calls (placed to talk at least `waitMs` beyond their length). */
  ids: string[];
  /** At most this long for every live call to have a new stream. */
  waitMs: number;
  /** Then this long more: the rest of the calls' length. */
  restMs: number;
  /** Told whether every stream came back in time, and how long the calls talk on. */
  progress(back: boolean, restMs: number): void;
  /** A call whose talk could not be ended (its caller then talks to its placed length). */
  failed(callId: string, err: Error): void;
}

/** Polls the simulator until every call of `ids` has ended or opened more than `streams` streams: true, or false after `waitMs`. */
export async function waitForStreams(sim: SimApi, ids: string[], streams: number, waitMs: number): Promise<boolean> {
  const wanted = new Set(ids);
  const waitUntil = Date.now() + waitMs;
  for (;;) {
    const calls = (await sim.request<{ data: CallStreams[] }>('GET', '/sim/calls')).data.filter((c) => wanted.has(c.callId));
    if (calls.every((c) => c.endedBy || (c.streamsOpened ?? 0) > streams)) return true;
    if (Date.now() > waitUntil) return false;
    await sleep(POLL_MS, undefined, { ref: false });
  }
}

/**
 * Waits until every live call of `ids` has had a stream opened after its first (at most `waitMs`),
 * then `restMs`, then ends each call's talk with `POST /sim/calls/{id}/end_talk` (its caller hangs
 * up as at its talk's end). Answers the calls' talk, summed, in ms.
 */
export async function talkUntilStreamsBack(sim: SimApi, o: TalkUntilBack): Promise<number> {
  o.progress(await waitForStreams(sim, o.ids, 1, o.waitMs), o.restMs);
  await sleep(o.restMs, undefined, { ref: false });
  let talkedMs = 0;
  await Promise.all(
    o.ids.map((id) =>
      sim.request<{ data: { talked_ms: number } }>('POST', `/sim/calls/${encodeURIComponent(id)}/end_talk`).then(
        (r) => void (talkedMs += r.data.talked_ms),
        (err: Error) => o.failed(id, err),
      ),
    ),
  );
  return talkedMs;
}
