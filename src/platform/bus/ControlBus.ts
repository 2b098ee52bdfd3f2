/**
 * Cross-process delivery of what the platform pushes to a deployment's gateways (relayed provider
 * events, cap notices). A gateway's control connection lands on one platform process; the event or
 * the failed top-up may happen on another. Each process publishes what it pushes, and every other
 * process delivers it to the connections it holds for that deployment (ControlHub).
 *
 * At most once, like Redis pub/sub: a message published while a process's subscriber is down is
 * not seen there. The embedded layout is one process, so its bus reaches nobody.
 */
import type { BusControlMessage } from './busMessage.js';

export type BusListener = (deploymentId: string, message: BusControlMessage) => void;

export interface ControlBusCounters {
  /** Messages handed to Redis. */
  published: number;
  /** Publishes Redis did not take (logged once per outage). */
  publishFailures: number;
  /** Messages from other processes passed to the listeners. */
  received: number;
  /** This process's own messages coming back from Redis (already delivered here). */
  ownSkipped: number;
  /** Malformed or oversized messages read from the channel. */
  dropped: number;
}

export interface ControlBus {
  readonly kind: 'memory' | 'redis';
  /** False when publishing reaches no other process (the embedded layout). */
  readonly shared: boolean;
  readonly counters: ControlBusCounters;
  /** Fire and forget: never throws, never waits (local delivery does not depend on it). */
  publish(deploymentId: string, message: BusControlMessage): void;
  onMessage(listener: BusListener): void;
  /**
   * Called each time the subscription is made (again): what other processes published while it
   * was down is lost, so a listener re-sends what it can know itself (the cap state). Absent: never.
   */
  onSubscribed?(listener: () => void): void;
  /** Waits (bounded) until messages flow both ways; absent: always ready. */
  ready?(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function emptyCounters(): ControlBusCounters {
  return { published: 0, publishFailures: 0, received: 0, ownSkipped: 0, dropped: 0 };
}

/** One process (embedded stores): the hub's own delivery is everything, so publishing is a no-op. */
export class MemoryControlBus implements ControlBus {
  readonly kind = 'memory' as const;
  readonly shared = false;
  readonly counters = emptyCounters();

  publish(): void {
    // No other process to reach.
  }

  onMessage(): void {
    // Nothing ever arrives.
  }

  async close(): Promise<void> {
    // Nothing held.
  }
}
