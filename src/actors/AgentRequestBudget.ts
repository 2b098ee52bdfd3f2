/**
 * Bounds on the platform requests agents make (transfer, dial, DTMF), so one
 * agent that sends them too fast cannot spend the deployment's signalling
 * budget at the platform (20 requests a second, burst 40, shared by every
 * call: src/platform/RateLimiter.ts). Before, every `dtmf` a ws agent sent
 * went to the platform at once, and an innocent caller's `answer` was then
 * refused 429 and the call ended (docs/agent-protocols.md, "Limits").
 *
 * - Per call and kind: one request in flight, up to MAX_WAITING behind it,
 *   sent in order (two `dtmf` messages are played in the order sent).
 * - Per call: a token bucket, burst 5, 2 a second, across kinds.
 * - Per gateway: a token bucket, burst 20, 10 a second, across calls: half the
 *   platform's default budget, so the other half stays for what keeps calls
 *   up (answers, hang-ups, new streams, usage reports).
 * A request past any bound is refused at once with TTMA_ERR_RATE_LIMITED
 * (the agent's `result`), never sent. An agent's hang-up is not bounded: it
 * ends the call.
 */
import { ErrorCodes, TtmaError } from '../errors.js';

export type AgentRequestKind = 'transfer' | 'dial' | 'dtmf';

export interface BucketLimits {
  ratePerSec: number;
  burst: number;
}

export interface AgentRequestLimits {
  perCall: BucketLimits;
  gateway: BucketLimits;
  /** Requests of one kind waiting behind the one in flight, per call. */
  waiting: number;
}

export const DEFAULT_AGENT_REQUEST_LIMITS: AgentRequestLimits = {
  perCall: { ratePerSec: 2, burst: 5 },
  gateway: { ratePerSec: 10, burst: 20 },
  waiting: 4,
};

/** Which bound refused a request (the metric's label). */
export type RefusedBy = 'call' | 'gateway';

/** A request an agent made that was refused here, before the platform was asked. */
export class AgentRequestRefused extends TtmaError {
  readonly by: RefusedBy;
  /** The call's refusals so far, this one included (the caller logs only some). */
  readonly onCall: number;

  constructor(message: string, by: RefusedBy, onCall: number) {
    super(ErrorCodes.RATE_LIMITED, message, 429);
    this.name = 'AgentRequestRefused';
    this.by = by;
    this.onCall = onCall;
  }
}

class Bucket {
  #tokens: number;
  #at: number;

  constructor(readonly limits: BucketLimits, now: number) {
    this.#tokens = limits.burst;
    this.#at = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.limits.burst, this.#tokens + ((now - this.#at) / 1000) * this.limits.ratePerSec);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface CallBudget {
  bucket: Bucket;
  /** Per kind: the tail of its queue, and how many are queued (in flight included). */
  queues: Map<AgentRequestKind, { tail: Promise<void>; queued: number }>;
  refused: number;
}

export class AgentRequestBudget {
  readonly #limits: AgentRequestLimits;
  readonly #now: () => number;
  readonly #gateway: Bucket;
  /** Keyed by the live call object: a call that ends takes its budget with it. */
  readonly #calls = new WeakMap<object, CallBudget>();
  /** Refused requests, by the bound that refused them (metrics). */
  readonly refused: Record<RefusedBy, number> = { call: 0, gateway: 0 };

  constructor(limits: AgentRequestLimits = DEFAULT_AGENT_REQUEST_LIMITS, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
    this.#gateway = new Bucket(limits.gateway, now());
  }

  /**
   * Runs `send` for the call when its turn comes (after the requests of the
   * same kind before it), or rejects at once with AgentRequestRefused when a
   * bound is reached.
   */
  run<T>(call: object, kind: AgentRequestKind, send: () => Promise<T>): Promise<T> {
    const now = this.#now();
    let budget = this.#calls.get(call);
    if (!budget) {
      budget = { bucket: new Bucket(this.#limits.perCall, now), queues: new Map(), refused: 0 };
      this.#calls.set(call, budget);
    }
    const queue = budget.queues.get(kind) ?? { tail: Promise.resolve(), queued: 0 };
    budget.queues.set(kind, queue);
    const { perCall, gateway, waiting } = this.#limits;
    let refusal: { by: RefusedBy; why: string } | null = null;
    if (queue.queued > waiting) refusal = { by: 'call', why: `one ${kind} request of this call in flight and ${waiting} waiting` };
    else if (!budget.bucket.take(now)) refusal = { by: 'call', why: `at most ${perCall.burst} at once and ${perCall.ratePerSec} a second per call` };
    else if (!this.#gateway.take(now)) refusal = { by: 'gateway', why: `the gateway's agents together may send at most ${gateway.burst} at once and ${gateway.ratePerSec} a second` };
    if (refusal) {
      budget.refused++;
      this.refused[refusal.by]++;
      const message = `${ErrorCodes.RATE_LIMITED}: agent ${kind} request not sent: too many (${refusal.why}); slow down`;
      return Promise.reject(new AgentRequestRefused(message, refusal.by, budget.refused));
    }
    queue.queued++;
    const turn = queue.tail.then(send);
    // The next one waits for this one to settle, whatever its outcome.
    queue.tail = turn.then(
      () => {},
      () => {},
    ).finally(() => {
      queue.queued--;
    });
    return turn;
  }
}
