/**
 * A process's live heap, measured the way a heap snapshot would see it: over
 * the V8 inspector (the process started with `--inspect=127.0.0.1:PORT`), a
 * full collection (`HeapProfiler.collectGarbage`) and then
 * `process.memoryUsage().heapUsed`, on the main thread and on every worker
 * thread (reached through the `NodeWorker` domain). No code in the measured
 * process takes part: the soak bench reads the gateway this way.
 * Protocol: https://chromedevtools.github.io/devtools-protocol/v8/HeapProfiler/
 * and https://chromedevtools.github.io/devtools-protocol/tot/NodeWorker/
 */
import WebSocket from 'ws';

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
}

const CALL_TIMEOUT_MS = 30_000;

/** Answers by id on one channel: the main session, or one worker's session carried inside NodeWorker messages. */
class Channel {
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(private readonly send: (text: string) => void) {}

  call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector ${method}: no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.send(JSON.stringify({ id, method, params }));
    });
  }

  /** A message from the other side; true when it answered one of ours. */
  receive(message: { id?: number; result?: Record<string, unknown>; error?: { message?: string } }): boolean {
    if (message.id === undefined) return false;
    const pending = this.#pending.get(message.id);
    if (!pending) return false;
    this.#pending.delete(message.id);
    if (message.error) pending.reject(new Error(`inspector: ${message.error.message ?? 'error'}`));
    else pending.resolve(message.result ?? {});
    return true;
  }

  failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}

export interface LiveHeap {
  /** The main thread's heap after a full collection, bytes. */
  main: number;
  /** Each worker thread's, by the inspector's worker id. */
  workers: Record<string, number>;
}

export class InspectorHeap {
  readonly #socket: WebSocket;
  readonly #main: Channel;
  readonly #workers = new Map<string, Channel>();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.#main = new Channel((text) => socket.send(text));
    socket.on('message', (data: Buffer) => this.#onMessage(JSON.parse(data.toString('utf8')) as Record<string, any>));
    socket.on('close', () => {
      const err = new Error('inspector connection closed');
      this.#main.failAll(err);
      for (const w of this.#workers.values()) w.failAll(err);
    });
  }

  /** Connects to the inspector on 127.0.0.1:port and attaches to the process's worker threads. */
  static async connect(port: number): Promise<InspectorHeap> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5_000) })).json()) as Array<{ webSocketDebuggerUrl?: string }>;
    const url = list[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target on 127.0.0.1:${port}`);
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const heap = new InspectorHeap(socket);
    await heap.#main.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
    return heap;
  }

  #onMessage(message: Record<string, any>): void {
    if (this.#main.receive(message)) return;
    if (message['method'] === 'NodeWorker.attachedToWorker') {
      const sessionId = String(message['params']?.sessionId);
      this.#workers.set(sessionId, new Channel((text) => void this.#main.call('NodeWorker.sendMessageToWorker', { sessionId, message: text }).catch(() => undefined)));
    } else if (message['method'] === 'NodeWorker.detachedFromWorker') {
      const sessionId = String(message['params']?.sessionId);
      this.#workers.get(sessionId)?.failAll(new Error('worker detached'));
      this.#workers.delete(sessionId);
    } else if (message['method'] === 'NodeWorker.receivedMessageFromWorker') {
      const channel = this.#workers.get(String(message['params']?.sessionId));
      channel?.receive(JSON.parse(String(message['params']?.message)) as Record<string, any>);
    }
  }

  /** A full collection, then the heap in use, on one thread. */
  static async #liveHeapOf(channel: Channel): Promise<number> {
    await channel.call('HeapProfiler.collectGarbage');
    const answer = await channel.call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    const value = (answer['result'] as { value?: unknown } | undefined)?.value;
    if (typeof value !== 'number') throw new Error('inspector: heapUsed did not come back as a number');
    return value;
  }

  /** Every thread's live heap, main thread first. */
  async measure(): Promise<LiveHeap> {
    const main = await InspectorHeap.#liveHeapOf(this.#main);
    const workers: Record<string, number> = {};
    for (const [sessionId, channel] of this.#workers) workers[sessionId] = await InspectorHeap.#liveHeapOf(channel);
    return { main, workers };
  }

  get workerCount(): number {
    return this.#workers.size;
  }

  close(): void {
    this.#socket.close();
  }
}
