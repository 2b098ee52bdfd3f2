/**
 * Provider webhooks waiting for a gateway that has no control connection
 * open (it is restarting, or its connection dropped a moment ago). The
 * provider was already answered 200, so without this a `call.initiated` that
 * lands between two connections would leave the caller ringing.
 *
 * Bounded three ways: entries older than `maxAgeMs` are dropped (a gateway
 * refuses events signed before it started, and the provider's answer timeout
 * has passed by then anyway), at most `maxBytesPerDeployment` per deployment
 * (oldest dropped first), and at most `maxDeployments` deployments held.
 * Dropped entries are counted.
 */
export interface RelayBacklogOptions {
  maxAgeMs?: number;
  maxBytesPerDeployment?: number;
  maxDeployments?: number;
}

interface Entry {
  text: string;
  atMs: number;
}

interface Queue {
  entries: Entry[];
  bytes: number;
}

export class RelayBacklog {
  readonly #maxAgeMs: number;
  readonly #maxBytes: number;
  readonly #maxDeployments: number;
  readonly #queues = new Map<string, Queue>();
  dropped = 0;

  constructor(options: RelayBacklogOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#maxBytes = options.maxBytesPerDeployment ?? 512 * 1024;
    this.#maxDeployments = options.maxDeployments ?? 10_000;
  }

  /** Keeps `text` for the deployment's next connection; false when it could not be kept. */
  hold(deploymentId: string, text: string, nowMs: number): boolean {
    const size = text.length;
    if (size > this.#maxBytes) {
      this.dropped++;
      return false;
    }
    let queue = this.#queues.get(deploymentId);
    if (!queue) {
      if (this.#queues.size >= this.#maxDeployments) this.#expireAll(nowMs);
      if (this.#queues.size >= this.#maxDeployments) {
        this.dropped++;
        return false;
      }
      queue = { entries: [], bytes: 0 };
      this.#queues.set(deploymentId, queue);
    }
    this.#expire(queue, nowMs);
    while (queue.bytes + size > this.#maxBytes && queue.entries.length > 0) {
      queue.bytes -= queue.entries.shift()!.text.length;
      this.dropped++;
    }
    queue.entries.push({ text, atMs: nowMs });
    queue.bytes += size;
    return true;
  }

  /** What waits for the deployment, oldest first, still young enough; the backlog forgets it. */
  take(deploymentId: string, nowMs: number): string[] {
    const queue = this.#queues.get(deploymentId);
    if (!queue) return [];
    this.#queues.delete(deploymentId);
    this.#expire(queue, nowMs);
    return queue.entries.map((entry) => entry.text);
  }

  /** Entries held, over every deployment. */
  get size(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.entries.length;
    return n;
  }

  #expire(queue: Queue, nowMs: number): void {
    let cut = 0;
    while (cut < queue.entries.length && nowMs - queue.entries[cut]!.atMs > this.#maxAgeMs) {
      queue.bytes -= queue.entries[cut]!.text.length;
      cut++;
    }
    if (cut > 0) {
      queue.entries.splice(0, cut);
      this.dropped += cut;
    }
  }

  #expireAll(nowMs: number): void {
    for (const [id, queue] of this.#queues) {
      this.#expire(queue, nowMs);
      if (queue.entries.length === 0) this.#queues.delete(id);
    }
  }
}
