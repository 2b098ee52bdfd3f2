/**
 * Calls an earlier gateway process left behind (docs/control.md, "A gateway
 * restart"): when and how often this process asks the platform for them.
 * The ControlActor owns the calls and decides what taking one over means;
 * this owns the asking.
 *
 * - **At start** (the platform's first `hello`): the deployment's answered
 *   calls this process does not carry are taken over, and its inbound calls
 *   still ringing are answered. A list the platform cannot give at once is
 *   asked for again every 2 s, 5 times at most: well inside the 30 s after
 *   which the platform ends a call no gateway carries.
 * - **Later, on a stream that could not reach this process**: a call the
 *   earlier process dialled (or answered) just before it stopped is answered
 *   after this one listed. The provider then connects the stream that process
 *   asked for, with its token, which this process cannot know (FAQ-07: the
 *   tokens live in the process that issued them), so the upgrade is refused
 *   and the provider reports `streaming.failed` for a call this process does
 *   not know. That proves the call is up with no stream; the platform's list
 *   says whether it is the deployment's and answered. Failures that come
 *   together (every call ringing at a restart) make one list.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LiveCallView } from '../wire/platformApi.js';

export interface TakeoverTiming {
  /** Lists asked for at most, at start and for each batch of late calls. */
  attempts: number;
  /** Wait between two asks. */
  retryMs: number;
  /** Late calls are gathered this long before their list is asked for. */
  lateBatchMs: number;
}

export const DEFAULT_TAKEOVER_TIMING: TakeoverTiming = { attempts: 5, retryMs: 2_000, lateBatchMs: 100 };
/** Unknown calls waiting for a late list, at most (a gateway's maxCalls default is 2,000): more are not looked for. */
export const MAX_LATE_WAITING = 10_000;

export interface CallTakeoverDeps {
  liveCalls(): Promise<LiveCallView[]>;
  /** This process carries the call, or has ended it. */
  knows(callId: string): boolean;
  /** The gateway is stopping: nothing is taken over any more. */
  closing(): boolean;
  /** An answered call: take it over (a new stream to this process) or hang it up for want of room. True if taken. */
  adopt(view: LiveCallView): boolean;
  /** An inbound call still ringing: answer it as a new call (admission and caps apply). True if answered. */
  answer(view: LiveCallView): boolean;
  log: Logger;
  timing?: TakeoverTiming;
}

export interface TakeoverOutcome {
  listed: number;
  adopted: number;
  ringingAnswered: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class CallTakeover {
  readonly #deps: CallTakeoverDeps;
  readonly #timing: TakeoverTiming;
  #atStart: Promise<number> | null = null;
  /** Unknown calls whose stream failed, waiting for the next late list. */
  readonly #late = new Set<string>();
  #lateRun: Promise<void> | null = null;
  /** Late calls taken over, in all; failures not looked into because too many were waiting. */
  lateAdopted = 0;
  lateDropped = 0;

  constructor(deps: CallTakeoverDeps) {
    this.#deps = deps;
    this.#timing = deps.timing ?? DEFAULT_TAKEOVER_TIMING;
  }

  /** Once a process: later calls return the first one's result (the calls taken over). */
  atStart(): Promise<number> {
    this.#atStart ??= this.#withRetries('live calls', (listed) => this.#takeAll(listed)).then((outcome) => outcome?.adopted ?? 0);
    return this.#atStart;
  }

  /** `streaming.failed` for a call this process does not know: maybe an earlier process's, answered after this one listed. */
  onUnknownStreamFailure(callId: string): void {
    if (this.#deps.closing() || this.#deps.knows(callId)) return;
    if (this.#late.size >= MAX_LATE_WAITING) {
      this.lateDropped++;
      return;
    }
    this.#late.add(callId);
    this.#lateRun ??= this.#runLate().finally(() => {
      this.#lateRun = null;
      const next = this.#late.values().next();
      if (!next.done) this.onUnknownStreamFailure(next.value);
    });
  }

  /** Resolves once no late list is pending (tests). */
  async settled(): Promise<void> {
    while (this.#lateRun) await this.#lateRun;
  }

  async #runLate(): Promise<void> {
    // The start's list may take these calls itself; a burst of failures makes one list.
    await this.#atStart;
    await sleep(this.#timing.lateBatchMs);
    const wanted = new Set(this.#late);
    this.#late.clear();
    const outcome = await this.#withRetries('calls whose stream failed', (listed) => this.#takeAll(listed.filter((v) => wanted.has(v.call_control_id) && v.state === 'answered')));
    if (!outcome) return;
    this.lateAdopted += outcome.adopted;
    const missing = [...wanted].filter((id) => !this.#deps.knows(id));
    // Not listed answered: another deployment's call, one already ended, or one the list has not caught up with (the platform's streamless grace ends those).
    if (missing.length > 0) this.#deps.log.info({ calls: missing.length }, 'streams failed for calls the platform does not list as this deployment\'s answered calls: left alone');
  }

  #takeAll(listed: LiveCallView[]): TakeoverOutcome {
    const outcome: TakeoverOutcome = { listed: listed.length, adopted: 0, ringingAnswered: 0 };
    for (const view of listed) {
      if (this.#deps.closing()) break;
      if (this.#deps.knows(view.call_control_id)) continue;
      if (view.state === 'answered') {
        if (this.#deps.adopt(view)) outcome.adopted++;
      } else if (this.#deps.answer(view)) {
        outcome.ringingAnswered++;
      }
    }
    if (listed.length > 0) this.#deps.log.info({ ...outcome }, 'live calls from an earlier gateway process taken over');
    return outcome;
  }

  /** The list, asked for again after a failure (a 429, the platform's store away); null once every attempt failed. */
  async #withRetries(what: string, take: (listed: LiveCallView[]) => TakeoverOutcome): Promise<TakeoverOutcome | null> {
    for (let attempt = 1; ; attempt++) {
      let listed: LiveCallView[];
      try {
        listed = await this.#deps.liveCalls();
      } catch (err) {
        const detail = isTtmaError(err) ? err.message : String(err);
        if (attempt >= this.#timing.attempts || this.#deps.closing()) {
          this.#deps.log.error({ err: detail, attempts: attempt }, `${what} not taken over: the platform did not list them`);
          return null;
        }
        this.#deps.log.warn({ err: detail, attempt }, `${what} not listed yet: asking the platform again`);
        await sleep(this.#timing.retryMs);
        continue;
      }
      return take(listed);
    }
  }
}
