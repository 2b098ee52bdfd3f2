/**
 * Frees a stuck media worker's uWS sockets before the supervisor terminates
 * it (worker-owned media sockets, docs/threads.md).
 *
 * This uWS build aborts the whole process when a thread exits with a uWS
 * socket open, and a thread stuck in a loop cannot run its own clean-up. But
 * Node's inspector hands its messages to a worker through V8 interrupts,
 * which a running JavaScript loop still services (that is how a debugger
 * pauses one). So the main thread opens an in-process inspector session (no
 * port, nothing reachable from outside), attaches to that one worker, and
 * evaluates the release hook the worker registered at start: the same
 * `closeAll` a crashing worker runs. The caller then terminates the thread.
 *
 * A thread stuck inside native code never services the interrupt: the wait
 * then times out, this returns false, and the process aborts as before.
 *
 * One session serves the whole process, opened at the first use and kept:
 * node 20 crashes (SIGSEGV in `NodeWorker.enable`) when sessions that
 * enabled the NodeWorker domain are opened and closed repeatedly while
 * workers run (six stand-alone runs of 300 open-evaluate-close rounds on
 * four busy workers all crashed; three runs of 600 evaluations through one
 * kept session, with workers replaced meanwhile, did not). New workers
 * attach to it by themselves.
 */
import { Session } from 'node:inspector';

/** The global the worker defines (mediaWorker.ts); returns RELEASED. */
export const RELEASE_HOOK = '__ttmaReleaseMediaSockets';
export const RELEASED = 'released';

interface AttachedToWorker {
  params: { sessionId: string; workerInfo: { title: string } };
}
interface DetachedFromWorker {
  params: { sessionId: string };
}
interface ReceivedFromWorker {
  params: { sessionId: string; message: string };
}

/**
 * The inspector numbers workers in its own order; the thread id is in the
 * title node gives each worker: "[worker <threadId>] <name>".
 */
function threadIdOf(title: string): number | null {
  const match = /^\[worker (\d+)\]/.exec(title);
  return match ? Number(match[1]) : null;
}

/** The process's one inspector session to its workers (see above). */
class WorkerInspector {
  readonly #session = new Session();
  /** Thread id to the inspector's session id for that worker. */
  readonly #workers = new Map<number, string>();
  readonly #attachWaiters = new Set<() => void>();
  readonly #replies = new Map<number, (value: unknown) => void>();
  #nextId = 1;

  constructor() {
    this.#session.connect();
    this.#session.on('NodeWorker.attachedToWorker', (event: AttachedToWorker) => {
      const threadId = threadIdOf(event.params.workerInfo.title);
      if (threadId === null) return;
      this.#workers.set(threadId, event.params.sessionId);
      for (const wake of [...this.#attachWaiters]) wake();
    });
    this.#session.on('NodeWorker.detachedFromWorker', (event: DetachedFromWorker) => {
      for (const [threadId, sessionId] of this.#workers) if (sessionId === event.params.sessionId) this.#workers.delete(threadId);
    });
    this.#session.on('NodeWorker.receivedMessageFromWorker', (event: ReceivedFromWorker) => {
      let reply: { id?: number; result?: { result?: { value?: unknown } } };
      try {
        reply = JSON.parse(event.params.message) as typeof reply;
      } catch {
        return;
      }
      const resolve = reply.id === undefined ? undefined : this.#replies.get(reply.id);
      if (!resolve) return;
      this.#replies.delete(reply.id!);
      resolve(reply.result?.result?.value);
    });
    this.#session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  }

  evaluate(threadId: number, expression: string, timeoutMs: number): Promise<unknown> {
    return new Promise<unknown>((resolve) => {
      const id = this.#nextId++;
      let wake: (() => void) | null = null;
      const finish = (value: unknown): void => {
        clearTimeout(timer);
        if (wake) this.#attachWaiters.delete(wake);
        this.#replies.delete(id);
        resolve(value);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const send = (sessionId: string): void => {
        this.#replies.set(id, finish);
        const message = JSON.stringify({ id, method: 'Runtime.evaluate', params: { expression, returnByValue: true } });
        this.#session.post('NodeWorker.sendMessageToWorker', { sessionId, message }, (err) => {
          if (err) finish(undefined);
        });
      };
      const known = this.#workers.get(threadId);
      if (known !== undefined) return send(known);
      // Not attached yet (the session is new, or so is the worker): send once it is.
      wake = () => {
        const sessionId = this.#workers.get(threadId);
        if (sessionId === undefined) return;
        this.#attachWaiters.delete(wake!);
        wake = null;
        send(sessionId);
      };
      this.#attachWaiters.add(wake);
    });
  }
}

let inspector: WorkerInspector | null | undefined;
function workerInspector(): WorkerInspector | null {
  if (inspector === undefined) {
    try {
      inspector = process.features.inspector ? new WorkerInspector() : null;
    } catch {
      inspector = null;
    }
  }
  return inspector;
}

/**
 * Evaluates `expression` on the worker thread with this id, even while that
 * thread is busy in a JavaScript loop. Resolves with the value (returned by
 * value), or `undefined` when the thread did not answer within `timeoutMs`.
 */
export function evaluateInWorker(threadId: number, expression: string, timeoutMs: number): Promise<unknown> {
  const session = workerInspector();
  return session ? session.evaluate(threadId, expression, timeoutMs) : Promise.resolve(undefined);
}

/** True once the worker with this thread id has released its sockets, false if it did not within `timeoutMs`. */
export async function releaseStuckWorkerSockets(threadId: number, timeoutMs: number): Promise<boolean> {
  const expression = `typeof globalThis.${RELEASE_HOOK} === 'function' ? globalThis.${RELEASE_HOOK}() : 'no hook'`;
  return (await evaluateInWorker(threadId, expression, timeoutMs)) === RELEASED;
}
