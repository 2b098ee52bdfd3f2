/**
 * The platform's Prometheus metrics (prom-client), on `GET /metrics` with the
 * admin token (the operator API's credential: the platform's listener is the
 * one the provider and the gateways reach). Few on purpose: the platform is
 * watched through `/readyz` and its logs; a counter is here when an event
 * needs an alert and a log line is easy to miss. Names, labels and meanings:
 * docs/operations-metrics.md, "Platform metrics".
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { UNOWNED_DIAL_OUTCOMES, type UnownedDialOutcome } from './UnownedDials.js';

export class PlatformMetrics {
  readonly registry = new Registry();
  readonly #unownedDials: Counter<'outcome'>;
  readonly #storeDataLost: Gauge;

  constructor() {
    this.#unownedDials = new Counter({
      name: 'ttma_unowned_dials_total',
      help: 'Outgoing calls no deployment owned after the dial deadline, by what the hang-up through the provider did',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    // Every outcome from 0, so a rate() over it has a series before the first one.
    for (const outcome of UNOWNED_DIAL_OUTCOMES) this.#unownedDials.inc({ outcome }, 0);
    // A flag, not a counter: it stays 1 (new calls refused) until the process restarts, which is the alert's whole story.
    this.#storeDataLost = new Gauge({
      name: 'ttma_store_data_lost',
      help: '1 once this process saw its store (Redis) lose its data (flushed, restarted empty): new calls are refused until it restarts',
      registers: [this.registry],
    });
    this.#storeDataLost.set(0);
  }

  storeDataLost(): void {
    this.#storeDataLost.set(1);
  }

  unownedDial(outcome: UnownedDialOutcome): void {
    this.#unownedDials.inc({ outcome });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
