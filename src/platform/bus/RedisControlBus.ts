/**
 * The control bus on Redis pub/sub (see ControlBus.ts). Channel `<prefix>:{control}:bus`, one for
 * every deployment (messages are few: events of live calls and cap notices; a process ignores
 * those for deployments it holds no connection of). Hash-tagged like the deployments' change
 * channel (RedisDeploymentStore), subscribed on a connection of its own, since a subscribed Redis
 * connection takes no other commands.
 *
 * Each message carries the publishing process's random id: Redis delivers it to this process's
 * subscriber too, and the hub has already delivered it here. What is read is bounded and checked
 * (busMessage.ts): a malformed or oversized message is dropped and counted, never thrown.
 * Redis unreachable: the publish fails at once (no offline queue), local delivery has already
 * happened, and the failure is logged once per outage and counted each time.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { createRedisClient, quitRedis, StoreConnection, type RedisClient } from '../store/redisClient.js';
import { emptyCounters, type BusListener, type ControlBus } from './ControlBus.js';
import { BUS_MAX_BYTES, decodeBusMessage, encodeBusMessage, type BusControlMessage } from './busMessage.js';

const READY_POLL_MS = 20;

export interface RedisControlBusOptions {
  url: string;
  log: Logger;
  prefix?: string;
  commandTimeoutMs?: number;
}

export class RedisControlBus implements ControlBus {
  readonly kind = 'redis' as const;
  readonly shared = true;
  readonly counters = emptyCounters();
  /** This process on the bus (messages from it are skipped when they come back). */
  readonly processId = randomUUID();
  readonly channel: string;
  readonly #log: Logger;
  readonly #publisher: StoreConnection;
  readonly #subscriber: RedisClient;
  readonly #listeners = new Set<BusListener>();
  readonly #subscribedListeners = new Set<() => void>();
  #subscribed = false;
  #publishFailing = false;
  #dropLogged = false;

  constructor(options: RedisControlBusOptions) {
    this.#log = options.log;
    this.channel = `${options.prefix ?? 'ttma'}:{control}:bus`;
    this.#publisher = new StoreConnection(options.url, options.commandTimeoutMs);
    this.#subscriber = createRedisClient(options.url, options.commandTimeoutMs);
    // Buffers: the size is checked before anything is decoded.
    this.#subscriber.on('messageBuffer', (_channel: Buffer, raw: Buffer) => this.#receive(raw));
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.channel).then(
        () => {
          this.#subscribed = true;
          for (const listener of this.#subscribedListeners) listener();
        },
        () => undefined,
      );
    });
    for (const event of ['close', 'reconnecting', 'end']) this.#subscriber.on(event, () => (this.#subscribed = false));
  }

  /** True while messages published by other processes reach this one. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  publish(deploymentId: string, message: BusControlMessage): void {
    const text = encodeBusMessage({ from: this.processId, deploymentId, message });
    if (Buffer.byteLength(text) > BUS_MAX_BYTES) {
      // Not reachable with the platform's own bounds (a relayed body is at most 64 KiB): say so if it ever is.
      this.counters.publishFailures++;
      this.#log.warn({ deployment: deploymentId, type: message.type, bytes: Buffer.byteLength(text) }, 'control bus: message too large to publish');
      return;
    }
    void this.#publisher.run(() => this.#publisher.redis.publish(this.channel, text)).then(
      () => {
        this.counters.published++;
        if (!this.#publishFailing) return;
        this.#publishFailing = false;
        this.#log.info({ failures: this.counters.publishFailures }, 'control bus: publishing again');
      },
      (err: unknown) => {
        this.counters.publishFailures++;
        if (this.#publishFailing) return;
        this.#publishFailing = true;
        this.#log.warn(
          { err: err instanceof Error ? err.message.slice(0, 160) : String(err) },
          'control bus: publish failed: gateways connected to other platform processes miss relayed events and cap notices until Redis is back (local delivery continues)',
        );
      },
    );
  }

  onMessage(listener: BusListener): void {
    this.#listeners.add(listener);
  }

  onSubscribed(listener: () => void): void {
    this.#subscribedListeners.add(listener);
  }

  /** Waits (bounded) until this process can publish and is subscribed. */
  async ready(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    if (!(await this.#publisher.ready(timeoutMs))) return false;
    while (!this.#subscribed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    return this.#subscribed;
  }

  async close(): Promise<void> {
    if (this.#publisher.closed) return;
    this.#subscribed = false;
    this.#subscriber.removeAllListeners('ready');
    await Promise.all([this.#publisher.close(), quitRedis(this.#subscriber)]);
  }

  #receive(raw: Buffer): void {
    const envelope = decodeBusMessage(raw);
    if (!envelope) {
      this.counters.dropped++;
      // Once: anyone who can publish on this Redis could repeat it.
      if (!this.#dropLogged) {
        this.#dropLogged = true;
        this.#log.warn({ bytes: raw.length, limitBytes: BUS_MAX_BYTES }, 'control bus: dropped a malformed or oversized message (counted from now on, not logged again)');
      }
      return;
    }
    if (envelope.from === this.processId) {
      this.counters.ownSkipped++;
      return;
    }
    this.counters.received++;
    for (const listener of this.#listeners) {
      try {
        listener(envelope.deploymentId, envelope.message);
      } catch (err) {
        this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'control bus: delivering a message failed');
      }
    }
  }
}
