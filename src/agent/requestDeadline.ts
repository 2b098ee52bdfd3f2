/**
 * A deadline for one HTTP request an agent makes: it aborts the request when
 * `ms` pass without progress (no answer yet, or, for a streamed answer, no
 * new chunk: `touch()` on each), or at once when `parent` aborts (a barge-in,
 * the call's end). Without one, a server that accepts the connection and
 * never answers kept the caller in silence until undici's own 300 s header
 * timeout (docs/agents.md, "An agent that stops answering").
 */
import { ErrorCodes, TtmaError } from '../errors.js';

export class RequestDeadline {
  readonly #controller = new AbortController();
  readonly #what: string;
  readonly #ms: number;
  readonly #parent: AbortSignal | undefined;
  readonly #onParentAbort = () => this.#controller.abort(this.#parent?.reason);
  #timer: NodeJS.Timeout | null = null;
  #expired = false;

  constructor(what: string, ms: number, parent?: AbortSignal) {
    this.#what = what;
    this.#ms = ms;
    this.#parent = parent;
    if (parent?.aborted) this.#controller.abort(parent.reason);
    else parent?.addEventListener('abort', this.#onParentAbort, { once: true });
    this.touch();
  }

  /** For the request: aborted by the deadline or the parent. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Progress: the wait starts again. */
  touch(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#controller.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#expired = true;
      this.#controller.abort(this.#timeoutError());
    }, this.#ms);
    // A deadline never holds a process open by itself.
    this.#timer.unref();
  }

  /** The request settled: no more timer, no more listener. */
  done(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#parent?.removeEventListener('abort', this.#onParentAbort);
  }

  /** What to throw for a failure of the request: the timeout when this deadline fired, else `err` itself. */
  failure(err: unknown): unknown {
    return this.#expired ? this.#timeoutError() : err;
  }

  #timeoutError(): TtmaError {
    return new TtmaError(ErrorCodes.AGENT_CONNECT, `${this.#what}: no answer within ${this.#ms} ms`, 504);
  }
}
