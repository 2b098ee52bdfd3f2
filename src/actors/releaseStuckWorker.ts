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
 */
import { Session } from 'node:inspector';

/** The global the worker defines (mediaWorker.ts); returns RELEASED. */
export const RELEASE_HOOK = '__ttmaReleaseMediaSockets';
export const RELEASED = 'released';

interface AttachedToWorker {
  params: { sessionId: string; workerInfo: { workerId: string; title: string } };
}
interface ReceivedFromWorker {
  params: { sessionId: string; message: string };
}

/**
 * The inspector numbers workers in its own order (`workerId`); the thread id
 * is in the title Node gives each worker: "[worker <threadId>] <name>".
 */
function isThread(title: string, threadId: number): boolean {
  return title.startsWith(`[worker ${threadId}]`);
}

/**
 * Evaluates `expression` on the worker thread with this id, through an
 * in-process inspector session, even while that thread is busy in a
 * JavaScript loop. Resolves with the value (returned by value), or
 * `undefined` when the thread did not answer within `timeoutMs`.
 */
export function evaluateInWorker(threadId: number, expression: string, timeoutMs: number): Promise<unknown> {
  if (!process.features.inspector) return Promise.resolve(undefined);
  const session = new Session();
  try {
    session.connect();
  } catch {
    return Promise.resolve(undefined);
  }
  return new Promise<unknown>((resolve) => {
    let workerSession: string | null = null;
    const finish = (value: unknown): void => {
      clearTimeout(timer);
      session.removeAllListeners();
      // Detaches from every worker this session attached to.
      session.disconnect();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    session.on('NodeWorker.attachedToWorker', (event: AttachedToWorker) => {
      if (workerSession !== null || !isThread(event.params.workerInfo.title, threadId)) return;
      workerSession = event.params.sessionId;
      const message = JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } });
      session.post('NodeWorker.sendMessageToWorker', { sessionId: workerSession, message }, (err) => {
        if (err) finish(undefined);
      });
    });
    session.on('NodeWorker.receivedMessageFromWorker', (event: ReceivedFromWorker) => {
      if (event.params.sessionId !== workerSession) return;
      let reply: { id?: number; result?: { result?: { value?: unknown } } };
      try {
        reply = JSON.parse(event.params.message) as typeof reply;
      } catch {
        return;
      }
      if (reply.id === 1) finish(reply.result?.result?.value);
    });
    session.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, (err) => {
      if (err) finish(undefined);
    });
  });
}

/** True once the worker with this thread id has released its sockets, false if it did not within `timeoutMs`. */
export async function releaseStuckWorkerSockets(threadId: number, timeoutMs: number): Promise<boolean> {
  const expression = `typeof globalThis.${RELEASE_HOOK} === 'function' ? globalThis.${RELEASE_HOOK}() : 'no hook'`;
  return (await evaluateInWorker(threadId, expression, timeoutMs)) === RELEASED;
}
